/**
 * `npm run demo`: the network of `npm start`, plus headless Chromium volunteer tabs, plus a
 * requester that submits a job through the SDK (the CLI's path), waits for quorum and settlement,
 * checks every accepted result against onnxruntime-node run here on the same inputs, and prints a
 * summary. Exits 0 only if every task was accepted, settled, and matches the reference.
 *
 *   --volunteers N   browser tabs (default 3)
 *   --tasks N        tasks when inputs are generated (default 30)
 *   --replicas R     (default 3)        --quorum K   (default 2)
 *   --model NAME|FILE.onnx   catalogue model or any ONNX file (default ppocr-cls)
 *   --inputs FILE.json       inputs file (default: seeded example inputs)
 *   --policy exact|argmax|topk:K|round:D   (default: the model's)
 *   --embed          volunteers are tabs on a page of another origin that embeds /embed.js
 *                    (the visitor presses Allow in its frame), plus one `meshwork volunteer`
 *                    Node process; the host page sets data-payout, and the JSON adds
 *                    embeddedWorkers, nodeWorkers and payoutsRecorded (paid tabs whose pay goes
 *                    to the host site on chain)
 *   --onchain        instead of one job from the SDK: an example consumer contract asks for one
 *                    inference per task on chain (MeshworkRequests), a bridge here brings them
 *                    into the mesh, and the consumer's callback receives each answer; the JSON
 *                    adds onchainRequests and callbacks (default model mlp-16x4, 5 tasks)
 *   --json           last line of stdout is the result object
 *
 * Runs inside a private network namespace (scripts/in-netns.sh) so that Chromium has WebRTC.
 */
import '../lib/env/polyfills-node'
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as ort from 'onnxruntime-node'
import type { Locator } from 'playwright-core'
import { parseEther } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { loadModel, loadTasks } from '../cli/submit'
import { DEV_COORDINATOR_KEY, DEV_PRIVATE_KEYS, payoutOf } from '../lib/chain'
import { setLogLevel } from '../lib/env/log'
import { errorMessage } from '../lib/errors'
import { formatPolicy, parsePolicy, resultHash } from '../lib/proofs'
import { createOrtEngine } from '../lib/runtime'
import { sha256Hex } from '../lib/runtime/model-source'
import { startNodeRequester } from '../lib/sdk/node'
import { launchChromium, openVolunteer, watchPage } from '../tests/helpers/browser'
import { embedFrame, startEmbedHost, tagPage } from './lib/embed-host'
import { onchainDemo } from './lib/onchain-demo'
import { startStack, startVolunteerProcess } from './lib/stack'

/** The embedding site's treasury in `--embed` (a fresh address each run). */
const TREASURY = privateKeyToAccount(generatePrivateKey()).address

const { values } = parseArgs({
  options: {
    volunteers: { type: 'string', default: '3' },
    tasks: { type: 'string' },
    replicas: { type: 'string', default: '3' },
    quorum: { type: 'string', default: '2' },
    model: { type: 'string' },
    inputs: { type: 'string' },
    policy: { type: 'string' },
    json: { type: 'boolean', default: false },
    embed: { type: 'boolean', default: false },
    onchain: { type: 'boolean', default: false },
    timeout: { type: 'string', default: '600' },
  },
})

const say = (s: string) => process.stderr.write(`${s}\n`)
if (!process.env.MESHWORK_LOG) setLogLevel('error')
const started = Date.now()
const stack = await startStack({ ports: 'free', log: say })
const cleanup: Array<() => Promise<unknown>> = [() => stack.stop()]
let exitCode = 1
try {
  // On chain, inputs travel in calldata: a small model by default.
  const modelName = values.model ?? (values.onchain ? 'mlp-16x4' : 'ppocr-cls')
  const { model, entry } = loadModel(modelName)
  const tasks = await loadTasks(
    model,
    entry,
    values.inputs,
    Number(values.tasks ?? (values.onchain ? 5 : 30)),
  )
  const policy = parsePolicy(values.policy ?? entry?.defaultPolicy ?? 'round:3')
  const replicas = Number(values.replicas)
  const quorum = Number(values.quorum)
  const count = Number(values.volunteers)
  if (count < replicas)
    say(
      `Note: ${count} volunteers for ${replicas} replicas: each task can get at most ${count} results.`,
    )

  const browser = await launchChromium()
  cleanup.unshift(() => browser.close())
  /** Each tab's Meshwork element: the /volunteer page's stats, or the embed frame's status. */
  const stats: Locator[] = []
  let nodeVolunteer: string | undefined
  if (values.embed) {
    // The host site sends its visitors' pay to its own address (data-payout).
    const host = await startEmbedHost({
      '/': tagPage(stack.appUrl!, `data-duty="1" data-hidden-duty="1" data-payout="${TREASURY}"`),
    })
    cleanup.unshift(() => host.stop())
    say(`Opening ${count} tabs on ${host.url}, a site that embeds ${stack.appUrl}/embed.js…`)
    for (let i = 0; i < count; i++) {
      const page = watchPage(await (await browser.newContext()).newPage(), `embed-${i}`)
      await page.goto(host.url)
      await embedFrame(page).getByTestId('embed-allow').click({ timeout: 60_000 })
      const status = embedFrame(page).getByTestId('embed-status')
      await status.waitFor({ timeout: 60_000 })
      stats.push(status)
    }
    say('Starting one `meshwork volunteer` Node process…')
    const keyDir = mkdtempSync(join(tmpdir(), 'meshwork-demo-'))
    const cli = await startVolunteerProcess(stack, {
      name: 'meshwork-volunteer',
      keyFile: join(keyDir, 'volunteer.key'),
    })
    nodeVolunteer = cli.address
    cleanup.unshift(() => cli.service.stop())
  } else {
    say(`Opening ${count} volunteer tabs in headless Chromium…`)
    for (let i = 0; i < count; i++) {
      const page = await openVolunteer(browser, stack.appUrl!, `tab-${i}`)
      stats.push(page.getByTestId('volunteer-stats'))
    }
  }
  const expected = count + (nodeVolunteer ? 1 : 0)

  const requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, {
    ...stack.chain,
    relays: [stack.relay.multiaddr],
    // The on-chain demo's bridge answers requests that accept the deployment's default
    // coordinator: the labelled dev coordinator key.
    ...(values.onchain ? { coordinatorKey: DEV_COORDINATOR_KEY } : {}),
  })
  cleanup.unshift(() => requester.stop())
  // Submit once every tab has been heard on the mesh, so that all of them take part.
  say(`Waiting for ${expected} volunteers to be seen on the mesh…`)
  const seen = () => requester.presence.peers().filter((p) => p.role === 'volunteer').length
  const waitUntil = Date.now() + 60_000
  while (seen() < expected && Date.now() < waitUntil) await new Promise((r) => setTimeout(r, 250))
  if (seen() < expected)
    say(`Only ${seen()} of ${expected} volunteers seen after 60 s; submitting anyway.`)
  if (values.onchain) {
    const r = await onchainDemo({
      stack,
      requester,
      model,
      modelFile: entry?.file,
      modelName: entry?.name ?? modelName,
      policy,
      tasks,
      timeoutMs: Number(values.timeout) * 1000,
      say,
    })
    const summary = {
      ok:
        r.callbacks === tasks.length &&
        r.resultsMatching === tasks.length &&
        r.skipped.length === 0,
      ...r,
      model: entry?.name ?? modelName,
      policy: formatPolicy(policy),
      resultsMatchReference: r.resultsMatching === tasks.length,
      wallMs: Date.now() - started,
    }
    process.stdout.write(`
Meshwork on-chain demo: ${summary.ok ? 'OK' : 'FAILED'}
  requests       ${r.onchainRequests} made on chain by a consumer contract (${r.gasPerRequest} gas each)
  callbacks      ${r.callbacks} answers delivered to the consumer, ${r.resultsMatching} equal to onnxruntime-node's
  skipped        ${r.skipped.length === 0 ? 'none' : r.skipped.map((x) => `${x.requestId}: ${x.reason}`).join('; ')}
  wall time      ${(summary.wallMs / 1000).toFixed(1)} s
`)
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
    exitCode = summary.ok ? 0 : 1
  } else {
    say(
      `Submitting ${tasks.length} tasks of ${entry?.name ?? modelName} (${formatPolicy(policy)}, ${replicas} replicas, quorum ${quorum})…`,
    )
    const job = await requester.submit({
      model,
      modelFile: entry?.file,
      modelName: entry?.name ?? modelName,
      tasks,
      replicas,
      quorum,
      policy,
      rewardPerResult: parseEther('0.0001'),
      durationSeconds: 3600,
    })
    let last = ''
    job.handle.events.addEventListener('progress', () => {
      const p = job.handle.progress()
      const line = `  settled ${p.counts.settled}/${p.total}, accepted ${p.counts.accepted}, failed ${p.counts.failed}, ${p.resultsReceived} results`
      if (line === last) return
      last = line
      say(line)
    })
    const timeout = new Promise<never>((_, reject) =>
      setTimeout(
        () => reject(new Error(`the job did not finish within ${values.timeout} s`)),
        Number(values.timeout) * 1000,
      ).unref(),
    )
    const final = await Promise.race([job.handle.done, timeout])
    const results = job.handle.results()

    // Reference: onnxruntime-node on the same model and inputs, hashed under the job's policy.
    const reference = createOrtEngine(ort, { backend: 'cpu', executionProviders: ['cpu'] })
    const hash = await sha256Hex(model)
    await reference.load(hash, model)
    let matching = 0
    for (const r of results) {
      if (
        r.resultHash &&
        r.resultHash === resultHash(await reference.run(hash, tasks[r.taskIndex]!), policy)
      )
        matching++
    }
    await reference.dispose()

    // Browser-to-browser WebRTC links: pairs of tabs directly connected to each other.
    const ids = await Promise.all(stats.map((t) => t.getAttribute('data-peer-id')))
    const links = new Set<string>()
    for (const [i, t] of stats.entries()) {
      const self = ids[i]
      const direct = ((await t.getAttribute('data-direct-peers')) ?? '').split(',').filter(Boolean)
      for (const d of direct) if (ids.includes(d) && self) links.add([self, d].sort().join('|'))
    }
    // Who did the work: the embedded tabs (by their addresses) and the Node volunteer.
    const tabAddresses = new Set(
      (await Promise.all(stats.map((t) => t.getAttribute('data-address')))).map((a) =>
        a?.toLowerCase(),
      ),
    )
    const worked = final.workers.filter((w) => w.results > 0)
    const embeddedWorkers = values.embed
      ? worked.filter((w) => tabAddresses.has(w.address.toLowerCase())).length
      : undefined
    const nodeWorkers = values.embed
      ? worked.filter((w) => w.address.toLowerCase() === nodeVolunteer).length
      : undefined
    // Each embedded tab that was paid has its pay directed to the host site's treasury on chain
    // (the requester records it within a settlement round or two).
    let payoutsRecorded: number | undefined
    if (values.embed) {
      const paidTabs = worked.filter((w) => tabAddresses.has(w.address.toLowerCase()))
      const recorded = async () => {
        let n = 0
        for (const w of paidTabs) {
          const p = await payoutOf(requester.client, requester.contract, w.address)
          if (p.payout?.toLowerCase() === TREASURY.toLowerCase()) n++
        }
        return n
      }
      const until = Date.now() + 15_000
      payoutsRecorded = await recorded()
      while (payoutsRecorded < paidTabs.length && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 1000))
        payoutsRecorded = await recorded()
      }
    }
    const backends: Record<string, number> = {}
    for (const w of final.workers) backends[w.backend] = (backends[w.backend] ?? 0) + 1
    // All the gas the job cost on chain: createJob, then what the coordinator sent when the job
    // ended (recording the results, redeeming the workers' final claims for them).
    const createGas = (await requester.client.getTransactionReceipt({ hash: job.txHash })).gasUsed
    const allGas = createGas + final.settleGasUsed
    const accepted = final.counts.settled + final.counts.accepted
    const summary = {
      ok:
        accepted === tasks.length &&
        final.counts.settled === tasks.length &&
        matching === tasks.length &&
        (!values.embed ||
          (embeddedWorkers! > 0 && nodeWorkers === 1 && payoutsRecorded === embeddedWorkers)),
      tasks: tasks.length,
      accepted,
      settled: final.counts.settled,
      failed: final.counts.failed,
      replicas,
      quorum,
      policy: formatPolicy(policy),
      model: entry?.name ?? modelName,
      workers: final.workers.length,
      ...(values.embed ? { embeddedWorkers, nodeWorkers, payoutsRecorded } : {}),
      webrtcConnections: links.size,
      backends,
      resultsMatchReference: matching === tasks.length,
      resultsMatching: matching,
      resultsReceived: final.resultsReceived,
      /** Transactions the requester's wallet sent for the job: createJob, then record + redeem. */
      walletRequests: 1 + final.settleTxs,
      settleTransactions: final.settleTxs,
      settleGasPerTask:
        final.counts.settled > 0 ? Number(final.settleGasUsed / BigInt(final.counts.settled)) : 0,
      gasPerTaskAllIn: Number(allGas / BigInt(tasks.length)),
      jobId: job.jobId,
      wallMs: Date.now() - started,
    }
    process.stdout.write(`
Meshwork demo: ${summary.ok ? 'OK' : 'FAILED'}
  job            ${summary.jobId}
  model          ${summary.model}, policy ${summary.policy}, ${replicas} replicas, quorum ${quorum}
  tasks          ${summary.tasks}: ${summary.accepted} accepted, ${summary.settled} settled, ${summary.failed} failed
  workers        ${summary.workers} (${Object.entries(backends)
    .map(([b, n]) => `${n} on ${b}`)
    .join(', ')}), ${summary.resultsReceived} results
  WebRTC         ${summary.webrtcConnections} browser-to-browser connections${
    values.embed
      ? `\n  embedded       ${embeddedWorkers} of ${count} tabs on another origin did work; ${nodeWorkers} Node volunteer\n  payout         ${payoutsRecorded} tabs pay out to the host site's ${TREASURY}`
      : ''
  }
  reference      ${matching}/${tasks.length} accepted results equal onnxruntime-node's under ${summary.policy}
  settlement     paid by claims the coordinator signed; ${summary.walletRequests} wallet transactions for the job (createJob, then recording the results and redeeming the workers' claims for them)
  gas            ${summary.gasPerTaskAllIn} per task, all in (create, record, redeem)
  wall time      ${(summary.wallMs / 1000).toFixed(1)} s
`)
    if (values.json) process.stdout.write(`${JSON.stringify(summary)}\n`)
    exitCode = summary.ok ? 0 : 1
  }
} catch (err) {
  say(`Demo failed: ${errorMessage(err)}`)
  if (values.json)
    process.stdout.write(
      `${JSON.stringify({ ok: false, error: errorMessage(err), wallMs: Date.now() - started })}\n`,
    )
} finally {
  for (const c of cleanup) await c().catch(() => {})
}
process.exit(exitCode)

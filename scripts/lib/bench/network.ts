/**
 * Sections 5 and 9 of the benchmark: the network, measured in one mesh of Node volunteers (each
 * its own `meshwork volunteer` process, as on servers) and volunteer tabs (headless Chromium) on
 * the relay of `npm start`.
 *
 * - WebRTC dial time: a fresh peer dials every volunteer's WebRTC address (announced on presence)
 *   one after another: relayed signalling, ICE, DTLS, SCTP, Noise.
 * - Gossip delivery: that peer publishes `job-closed` messages for made-up jobs (valid, and
 *   ignored by volunteers, who know no such job); every tab and the requester log when each
 *   arrives. All run on one machine, so one clock.
 * - Job throughput: one job on all of them (the small MLP, computed for real).
 *
 * Thirty volunteers in the benchmark's own process starved the relay there (its dials timed out
 * and a volunteer found no reservation in 60 s); in separate processes they do not.
 */
import { mkdtempSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import type { Browser, Page } from 'playwright-core'
import { bytesToHex, hexToBytes } from 'viem'
import type { MeshworkDevHooks } from '../../../app/_components/volunteer-app'
import { DEV_PRIVATE_KEYS } from '../../../lib/chain'
import {
  createMeshNode,
  decodeMessage,
  generateIdentity,
  installGossipValidators,
  jobsTopicSchema,
  LIMITS,
  type MeshNode,
  publishGossip,
  TOPICS,
  waitForReservation,
} from '../../../lib/mesh'
import { startNodeRequester } from '../../../lib/sdk/node'
import { openVolunteer } from '../../../tests/helpers/browser'
import { doneCount, submitMlpJob, when, withTimeout } from '../chaos'
import { type Stack, startVolunteerProcess } from '../stack'
import { summarize } from './stats'

export interface NetworkBench {
  nodeVolunteers: number
  tabs: number
  dial: { p50: number; p95: number; ms: number[]; failed: number; toTabs: number[] }
  gossip: {
    messages: number
    /** At the requester, a Node peer (the volunteers' processes are not instrumented). */
    node: { p50: number; p95: number; received: number; expected: number }
    tabs: { p50: number; p95: number; received: number; expected: number }
  }
  job: {
    tasks: number
    tasksPerS: number
    byNode: number
    byTabs: number
    totalMs: number
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

export async function networkBench(
  browser: Browser,
  stack: Stack,
  size: { nodeVolunteers: number; tabs: number; messages: number; tasks: number },
  say: (s: string) => void,
): Promise<NetworkBench> {
  const net = { ...stack.chain, relays: [stack.relay.multiaddr], joinTimeoutMs: 60_000 }
  const stops: Array<() => Promise<unknown>> = []
  try {
    const t0 = Date.now()
    const since = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`
    // Tabs first, while the machine is quiet: 30 Node volunteers in this process load both cores.
    say(`  opening ${size.tabs} tabs`)
    const tabs: Page[] = []
    for (let i = 0; i < size.tabs; i++) {
      const page = await openVolunteer(browser, stack.appUrl!, `net-tab-${i}`)
      stops.push(() => page.context().close())
      tabs.push(page)
    }
    say(`  starting ${size.nodeVolunteers} \`meshwork volunteer\` processes (${since()})`)
    const keyDir = mkdtempSync(join(tmpdir(), 'meshwork-bench-'))
    for (let i = 0; i < size.nodeVolunteers; i += 3) {
      const batch = await Promise.all(
        Array.from({ length: Math.min(3, size.nodeVolunteers - i) }, (_, j) =>
          startVolunteerProcess(stack, {
            name: `volunteer-${i + j}`,
            keyFile: join(keyDir, `${i + j}.key`),
            env: { MESHWORK_LOG: 'warn' },
            timeoutMs: 120_000,
          }),
        ),
      )
      for (const v of batch) stops.push(() => v.service.stop())
    }
    say(`  all started (${since()})`)
    const requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, net)
    stops.push(() => requester.stop())
    const all = size.nodeVolunteers + size.tabs
    const heard = () => requester.presence.peers().filter((p) => p.role === 'volunteer')
    await withTimeout(
      (async () => {
        while (heard().length < all) await sleep(250)
      })(),
      120_000,
      `all ${all} volunteers heard on presence`,
    )
    const tabIds = new Set(
      await Promise.all(
        tabs.map(
          async (t) => (await t.getByTestId('volunteer-stats').getAttribute('data-peer-id'))!,
        ),
      ),
    )

    // A fresh peer: dials, then gossip.
    const prober: MeshNode = await createMeshNode({
      identity: await generateIdentity(),
      relays: net.relays,
      allowPrivateAddresses: true,
    })
    stops.push(async () => {
      await prober.stop()
    })
    installGossipValidators(prober)
    prober.services.pubsub.subscribe(TOPICS.jobs)
    await waitForReservation(prober, 30_000)

    say(`  every volunteer heard (${since()}); WebRTC dials`)
    const dialMs: number[] = []
    const toTabs: number[] = []
    let failed = 0
    for (const p of heard()) {
      const addr = p.addrs.find((a) => a.includes('/webrtc/'))
      if (!addr) {
        failed++
        continue
      }
      const started = performance.now()
      try {
        await prober.dial(multiaddr(addr), { signal: AbortSignal.timeout(30_000) })
        const ms = performance.now() - started
        dialMs.push(ms)
        if (tabIds.has(p.peerId)) toTabs.push(ms)
      } catch {
        failed++
      }
    }

    say(`  gossip: ${size.messages} messages (${since()})`)
    const nodeLog: Array<{ at: number; data: Uint8Array }> = []
    requester.node.services.pubsub.addEventListener('message', (e) => {
      if (e.detail.topic === TOPICS.jobs) nodeLog.push({ at: Date.now(), data: e.detail.data })
    })
    for (const t of tabs)
      await t.evaluate(
        (topic) =>
          (window as Window & { meshworkDev?: MeshworkDevHooks }).meshworkDev!.recordGossip(topic),
        TOPICS.jobs,
      )
    // Let the prober join every volunteer's gossip mesh (heartbeats are 1 s) before timing.
    await sleep(3000)
    const sentAt = new Map<string, number>()
    for (let i = 0; i < size.messages; i++) {
      const jobId = bytesToHex(crypto.getRandomValues(new Uint8Array(32)))
      sentAt.set(jobId, Date.now())
      await publishGossip(prober, TOPICS.jobs, {
        type: 'job-closed',
        jobId,
        coordinator: prober.peerId.toString(),
      })
      await sleep(200)
    }
    await sleep(3000)
    const latencies = (log: Array<{ at: number; data: Uint8Array }>) => {
      const ms: number[] = []
      for (const { at, data } of log) {
        try {
          const m = decodeMessage(data, jobsTopicSchema, LIMITS.gossipMessageBytes)
          const sent = sentAt.get(m.jobId)
          if (sent !== undefined) ms.push(at - sent)
        } catch {}
      }
      return ms
    }
    const nodeMs = latencies(nodeLog)
    const tabLogs = await Promise.all(
      tabs.map((t) =>
        t.evaluate(
          () => (window as Window & { meshworkDev?: MeshworkDevHooks }).meshworkDev!.gossipLog,
        ),
      ),
    )
    const tabMs = latencies(
      tabLogs.flat().map((e) => ({ at: e.at, data: hexToBytes(e.data as `0x${string}`) })),
    )

    say(`  one job of ${size.tasks} tasks on all of them (${since()})`)
    const submitted = Date.now()
    const job = await submitMlpJob(requester, { tasks: size.tasks, replicas: 1, quorum: 1 })
    const at10 = await withTimeout(
      when(job.handle, (p) => doneCount(p) >= Math.ceil(size.tasks * 0.1)).then(() => Date.now()),
      180_000,
      '10 % of the tasks',
    )
    const at90 = await withTimeout(
      when(job.handle, (p) => doneCount(p) >= Math.floor(size.tasks * 0.9)).then(() => Date.now()),
      300_000,
      '90 % of the tasks',
    )
    const final = await withTimeout(job.handle.done, 300_000, 'the job')
    const tabAddresses = new Set(
      await Promise.all(
        tabs.map(async (t) =>
          (await t.getByTestId('volunteer-stats').getAttribute('data-address'))!.toLowerCase(),
        ),
      ),
    )
    let byTabs = 0
    let byNode = 0
    for (const w of final.workers)
      if (tabAddresses.has(w.address.toLowerCase())) byTabs += w.results
      else byNode += w.results
    const dial = summarize(dialMs)
    return {
      nodeVolunteers: size.nodeVolunteers,
      tabs: size.tabs,
      dial: {
        ...dial,
        ms: dialMs.map((m) => Math.round(m)),
        failed,
        toTabs: toTabs.map(Math.round),
      },
      gossip: {
        messages: size.messages,
        node: { ...summarize(nodeMs), received: nodeMs.length, expected: size.messages },
        tabs: { ...summarize(tabMs), received: tabMs.length, expected: size.messages * size.tabs },
      },
      job: {
        tasks: size.tasks,
        tasksPerS:
          (Math.floor(size.tasks * 0.9) - Math.ceil(size.tasks * 0.1)) / ((at90 - at10) / 1000),
        byNode,
        byTabs,
        totalMs: Date.now() - submitted,
      },
    }
  } finally {
    for (const stop of stops.reverse()) await stop().catch(() => {})
  }
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d })
const rerunNote = (at: string | undefined) =>
  at ? `Measured on its own on ${at} (\`npm run bench -- --only network\`).\n\n` : ''

/** Section 5 of REPORT.md. */
export function networkSection(n: NetworkBench | undefined, rerunAt?: string): string {
  if (!n) return ''
  return `## 5. Network

${rerunNote(rerunAt)}In one mesh of ${n.nodeVolunteers} Node volunteers and ${n.tabs} volunteer tabs on the relay (section 9). A fresh
Node peer dialled every volunteer's WebRTC address, one after another (relayed signalling, ICE,
DTLS, SCTP, Noise): p50 ${fmt(n.dial.p50)} ms, p95 ${fmt(n.dial.p95)} ms over ${n.dial.ms.length} dials${n.dial.failed ? `, ${n.dial.failed} failed` : ''}; to the tabs alone
${n.dial.toTabs.map((m) => `${fmt(m)}`).join(', ')} ms.

Gossip delivery: the same peer published ${n.gossip.messages} \`job-closed\` messages on the jobs topic, 200 ms apart; each
tab and the requester logged their arrival (one machine, one clock; the volunteers' processes are not
instrumented):

| to | p50 ms | p95 ms | received / expected |
|---|---|---|---|
| the requester (Node) | ${fmt(n.gossip.node.p50, 1)} | ${fmt(n.gossip.node.p95, 1)} | ${n.gossip.node.received} / ${n.gossip.node.expected} |
| tabs | ${fmt(n.gossip.tabs.p50, 1)} | ${fmt(n.gossip.tabs.p95, 1)} | ${n.gossip.tabs.received} / ${n.gossip.tabs.expected} |

`
}

/** Section 9 of REPORT.md. */
export function meshSizeSection(n: NetworkBench | undefined, rerunAt?: string): string {
  if (!n) return ''
  return `## 9. Real mesh size

${rerunNote(rerunAt)}${n.nodeVolunteers} Node volunteers (\`meshwork volunteer\` processes, onnxruntime-node) and ${n.tabs} volunteer tabs
(headless Chromium, WASM) in one mesh on two cores, one job of the small MLP (well under 1 ms of compute a task: this measures the mesh), of
${fmt(n.job.tasks)} tasks, r = 1: ${fmt(n.job.tasksPerS, 1)} tasks/s between 10 % and 90 % accepted, ${fmt(n.job.totalMs / 1000, 1)} s from
submission to the last task. Results from Node volunteers: ${n.job.byNode}; from tabs: ${n.job.byTabs} (straggler
duplicates and known-answer checks add results beyond the tasks). Everything shares two cores here:
the relay, the requester, 30 volunteer processes, 6 tabs and the benchmark.
Gossip latency in this mesh: section 5.

`
}

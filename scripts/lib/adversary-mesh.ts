/**
 * Authority scenarios of the adversary harness on the mesh: a stranger with a fresh key and a
 * real libp2p node attacks the project's own volunteer. A job counts only when its announcer is
 * the coordinator named on chain, its terms never change once checked, only that coordinator can
 * close it, and an honest volunteer never signs two results for one task, so no one can get it
 * slashed (lib/jobs/worker.ts, docs/trust.md).
 */
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  type Address,
  encodeAbiParameters,
  type Hex,
  keccak256,
  parseAbiParameters,
  parseEther,
} from 'viem'
import { createJob, DEV_PRIVATE_KEYS, jobEscrowAbi, stake, workerOnChain } from '../../lib/chain'
import { createLogger } from '../../lib/env/log'
import { type Compute, MAX_UNPAID } from '../../lib/jobs'
import {
  createMeshNode,
  dialableAddrs,
  generateIdentity,
  installGossipValidators,
  type JobAnnouncement,
  PROTOCOLS,
  publishGossip,
  resultRequestSchema,
  serve,
  serveModels,
  TOPICS,
  toWireTensors,
  waitForReservation,
  workRequestSchema,
} from '../../lib/mesh'
import {
  commitInputs,
  formatPolicy,
  parseInputsJson,
  parsePolicy,
  signClaim,
  type TensorMap,
} from '../../lib/proofs'
import { seededInputs } from '../../lib/runtime/examples'
import { sha256Hex } from '../../lib/runtime/model-source'
import { startNodeRequester, startNodeVolunteer, walletFor } from '../../lib/sdk/node'
import type { AdversaryResult, AdversaryScenario } from './adversary'
import {
  type ChaosNet,
  MODEL,
  networkOf,
  onNet,
  paddedCompute,
  startVolunteers,
  withTimeout,
} from './chaos'

const log = createLogger('stranger')
const policy = parsePolicy('round:3')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function stranger(net: ChaosNet) {
  const identity = await generateIdentity()
  const node = await createMeshNode({
    identity,
    relays: [net.relayAddr],
    allowPrivateAddresses: true,
  })
  installGossipValidators(node)
  await waitForReservation(node, 60_000)
  return { node, identity }
}

function meshResult(
  name: string,
  started: number,
  tasks: number,
  details: Record<string, unknown>,
  checks: Array<[boolean, string]>,
): AdversaryResult {
  const reasons = checks.filter(([ok]) => !ok).map(([, why]) => why)
  return {
    name,
    tasks,
    wrongAccepted: 0,
    honestPunished: 0,
    colludersExcludedWithin: null,
    effectiveRedundancy: 0,
    pass: reasons.length === 0,
    reasons,
    details,
    wallMs: Date.now() - started,
  }
}

/** The id the requester's next job will get: ids are derived, so anyone can predict them. */
async function nextJobId(net: ChaosNet, requester: Address): Promise<Hex> {
  const nonce = await net.client.readContract({
    address: net.chain.contract,
    abi: jobEscrowAbi,
    functionName: 'jobNonce',
    args: [requester],
  })
  return keccak256(
    encodeAbiParameters(parseAbiParameters('uint256, address, address, uint256'), [
      BigInt(net.chain.chainId),
      net.chain.contract,
      requester,
      nonce,
    ]),
  )
}

const forgedAnnouncement: AdversaryScenario = {
  name: 'forged-announcement',
  description:
    "A stranger predicts a requester's next job id and, from before the job exists until it ends, announces it as its own (same terms, its own peer as coordinator) and sends job-closed for it every 300 ms. Volunteers check the announcer against the coordinator on chain: they never send the stranger a work request, never drop the job, and every task is settled.",
  async run() {
    const started = Date.now()
    const tasks = 8
    return onNet({}, async (net, cleanup) => {
      for (let i = 0; i < 2; i++) {
        const v = await startNodeVolunteer(networkOf(net))
        cleanup.push(() => v.stop())
      }
      const requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, networkOf(net))
      cleanup.push(() => requester.stop())
      const s = await stranger(net)
      cleanup.push(async () => {
        await s.node.stop()
      })
      let workRequests = 0
      await serve(
        s.node,
        PROTOCOLS.work,
        workRequestSchema,
        async () => {
          workRequests++
          return { type: 'no-work', reason: 'all-leased', retryAfterMs: 100 }
        },
        { log },
      )
      const model = MODEL()
      const jobId = await nextJobId(net, requester.wallet.account.address)
      const block = await net.client.getBlock()
      const forged: JobAnnouncement = {
        type: 'job',
        jobId,
        chainId: net.chain.chainId,
        contract: net.chain.contract,
        coordinator: s.node.peerId.toString(),
        addrs: dialableAddrs(s.node),
        modelHash: await sha256Hex(model),
        policy: formatPolicy(policy),
        taskCount: tasks,
        replicas: 2,
        quorum: 2,
        rewardPerResult: parseEther('0.001').toString(),
        deadline: Number(block.timestamp) + 3600,
        open: tasks,
      }
      let flooding = true
      let sent = 0
      const flood = (async () => {
        while (flooding && sent < 2000) {
          await publishGossip(s.node, TOPICS.jobs, forged).catch(() => {})
          await publishGossip(s.node, TOPICS.jobs, {
            type: 'job-closed',
            jobId,
            coordinator: s.node.peerId.toString(),
          }).catch(() => {})
          sent += 2
          await sleep(300)
        }
      })()
      await sleep(1500)
      const job = await requester.submit({
        model,
        tasks: parseInputsJson(seededInputs(3, tasks, { x: [1, 16] })),
        replicas: 2,
        quorum: 2,
        policy,
        rewardPerResult: parseEther('0.001'),
        durationSeconds: 3600,
      })
      const final = await withTimeout(job.handle.done, 120_000, 'the job').catch(() => undefined)
      flooding = false
      await flood
      const settled = final?.counts.settled ?? 0
      return meshResult(
        'forged-announcement',
        started,
        tasks,
        { predicted: job.jobId === jobId, forgedMessages: sent, workRequests, settled },
        [
          [job.jobId === jobId, 'the job id was not the predicted one (the attack did not happen)'],
          [workRequests === 0, `${workRequests} work requests went to the stranger`],
          [settled === tasks, `${tasks - settled} tasks not settled`],
        ],
      )
    })
  },
}

const slashTrap: AdversaryScenario = {
  name: 'slash-trap',
  description:
    "A stranger opens its own cheap job (it is the coordinator), leases task 0 to a volunteer staked 1 ETH, then re-announces the job with another model and leases task 0 again and again (under the job's id, the same id in upper case, and a second job's id with another input), while the volunteer's backend starts giving other outputs (a GPU demoted to WASM). Two signatures over different results for one task would take the stake: the volunteer signs one, refuses the rest (result-conflict), and keeps its stake.",
  async run() {
    const started = Date.now()
    return onNet({}, async (net, cleanup) => {
      const s = await stranger(net)
      cleanup.push(async () => {
        await s.node.stop()
      })
      const model = MODEL()
      const owner = walletFor(DEV_PRIVATE_KEYS[3]!, net.chain)
      const inputs: TensorMap[] = parseInputsJson(seededInputs(11, 2, { x: [1, 16] }))
      const commitment = commitInputs(inputs)
      const modelHash = await sha256Hex(model)
      const block = await net.client.getBlock()
      const terms = {
        modelHash,
        inputsRoot: commitment.root,
        taskCount: 2,
        replicas: 2,
        quorum: 2,
        policy,
        rewardPerResult: 1n,
        deadline: Number(block.timestamp) + 3600,
        coordinator: s.identity.address,
      }
      const { jobId } = await createJob(owner, net.client, net.chain.contract, terms)
      // A second job of its own, whose task 0 is the other input: leased under the first job's
      // name, it would be a second, different result for "task 0".
      const other = commitInputs([inputs[1]!, inputs[0]!])
      const second = await createJob(owner, net.client, net.chain.contract, {
        ...terms,
        inputsRoot: other.root,
      })
      // A staked volunteer whose outputs change after its warm-up pair of runs.
      let calls = 0
      const victim = await startNodeVolunteer({
        ...networkOf(net),
        wrapCompute: (c: Compute): Compute => ({
          backend: c.backend,
          runtime: c.runtime,
          prepare: (h, from) => c.prepare(h, from),
          run: async (h, x) => {
            const out = await c.run(h, x)
            if (++calls <= 2) return out
            const y = out.y!
            return {
              ...out,
              y: { ...y, data: Float32Array.from(y.data as Float32Array, (v) => v + 0.5) },
            }
          },
        }),
      })
      cleanup.push(() => victim.stop())
      const stakeWei = parseEther('1')
      await stake(
        walletFor(DEV_PRIVATE_KEYS[2]!, net.chain),
        net.client,
        net.chain.contract,
        stakeWei,
        victim.identity.address,
      )
      const signed = new Map<string, string>()
      const errors: string[] = []
      let leases = 0
      await serveModels(
        s.node,
        (h) => (h.toLowerCase() === modelHash.toLowerCase() ? model : undefined),
        log,
      )
      await serve(
        s.node,
        PROTOCOLS.work,
        workRequestSchema,
        async () => {
          leases++
          // Task 0 again and again: under the job's id, under the same id in upper case (one
          // bytes32, another string), and under the second job's id with its own input.
          const variant = leases % 3
          const lease = {
            type: 'lease',
            jobId: variant === 1 ? `0x${jobId.slice(2).toUpperCase()}` : jobId,
            taskIndex: 0,
            leaseId: `trap-${leases}`,
            expiresInMs: 30_000,
            inputHash: commitment.hashes[0]!,
            proof: commitment.proof(0),
            inputs: toWireTensors(inputs[0]!),
          }
          return variant === 2
            ? {
                ...lease,
                jobId: second.jobId,
                inputHash: other.hashes[0]!,
                proof: other.proof(0),
                inputs: toWireTensors(inputs[1]!),
              }
            : lease
        },
        { log },
      )
      await serve(
        s.node,
        PROTOCOLS.result,
        resultRequestSchema,
        async (req) => {
          if (req.type === 'result')
            signed.set(`${req.jobId}:${req.taskIndex}:${req.resultHash}`, req.signature)
          else errors.push(req.code)
          return { type: 'result-ack', status: 'recorded', verdict: 'pending' }
        },
        // A result's header alone: answered at once, its outputs are never asked for.
        { log },
      )
      const announcement: JobAnnouncement = {
        type: 'job',
        jobId,
        chainId: net.chain.chainId,
        contract: net.chain.contract,
        coordinator: s.node.peerId.toString(),
        addrs: dialableAddrs(s.node),
        modelHash,
        policy: formatPolicy(policy),
        taskCount: 2,
        replicas: 2,
        quorum: 2,
        rewardPerResult: '1',
        deadline: Number(block.timestamp) + 3600,
        open: 2,
      }
      const until = Date.now() + 60_000
      let swapped = false
      while (Date.now() < until && (signed.size === 0 || errors.length === 0 || leases < 9)) {
        // After the first signature: the same job id, another model.
        swapped ||= signed.size > 0
        const msg = swapped ? { ...announcement, modelHash: `0x${'ee'.repeat(32)}` } : announcement
        await publishGossip(s.node, TOPICS.jobs, msg).catch(() => {})
        await sleep(500)
      }
      const stakeLeft = (
        await workerOnChain(net.client, net.chain.contract, victim.identity.address)
      ).stake
      return meshResult(
        'slash-trap',
        started,
        2,
        { leases, signatures: signed.size, refusals: errors, stakeLeft: stakeLeft.toString() },
        [
          [leases >= 2, `task 0 was leased ${leases} times`],
          [signed.size === 1, `${signed.size} different results signed for task 0`],
          [errors.includes('result-conflict'), `refusals: ${errors.join(', ')}`],
          // Had the swapped model been taken, the worker would have failed to fetch it
          // (model-unavailable): every later lease ran under the checked terms.
          [
            errors.every((e) => e === 'result-conflict'),
            `the swapped model was used: ${errors.join(', ')}`,
          ],
          [stakeLeft === stakeWei, `stake left ${stakeLeft}`],
        ],
      )
    })
  },
}

const unpaidWork: AdversaryScenario = {
  name: 'unpaid-work',
  description:
    'A stranger coordinates its own 40-task job and never pays: every answer carries a claim it signed for 0 results, and says every result was decided. The volunteer counts only signed pay: it delivers at most MAX_UNPAID (32) results to that coordinator, then only asks for its claim.',
  async run() {
    const started = Date.now()
    const tasks = 40
    return onNet({}, async (net, cleanup) => {
      const s = await stranger(net)
      cleanup.push(async () => {
        await s.node.stop()
      })
      const model = MODEL()
      const inputs = parseInputsJson(seededInputs(5, tasks, { x: [1, 16] }))
      const commitment = commitInputs(inputs)
      const modelHash = await sha256Hex(model)
      const block = await net.client.getBlock()
      const deadline = Number(block.timestamp) + 3600
      const { jobId } = await createJob(
        walletFor(DEV_PRIVATE_KEYS[3]!, net.chain),
        net.client,
        net.chain.contract,
        {
          modelHash,
          inputsRoot: commitment.root,
          taskCount: tasks,
          replicas: 1,
          quorum: 1,
          policy,
          rewardPerResult: 1n,
          deadline,
          coordinator: s.identity.address,
        },
      )
      const victim = await startNodeVolunteer(networkOf(net))
      cleanup.push(() => victim.stop())
      const domain = { chainId: net.chain.chainId, contract: net.chain.contract }
      let delivered = 0
      let leases = 0
      let claimAsks = 0
      // Signed, valid, and worth nothing; `decided` says every result is settled.
      const claim = async () => ({
        jobId,
        worker: victim.identity.address,
        results: 0,
        signature: await signClaim(s.identity.account, domain, {
          jobId,
          worker: victim.identity.address,
          results: 0,
        }),
        received: delivered,
        decided: delivered,
      })
      await serveModels(s.node, (h) => (h.toLowerCase() === modelHash ? model : undefined), log)
      await serve(
        s.node,
        PROTOCOLS.work,
        workRequestSchema,
        async (req) => {
          if (req.want === 'claim') {
            claimAsks++
            return {
              type: 'no-work',
              reason: 'claim-only',
              retryAfterMs: 500,
              claim: await claim(),
            }
          }
          const i = leases++ % tasks
          return {
            type: 'lease',
            jobId,
            taskIndex: i,
            leaseId: `free-${leases}`,
            expiresInMs: 30_000,
            inputHash: commitment.hashes[i]!,
            proof: commitment.proof(i),
            inputs: toWireTensors(inputs[i]!),
            claim: await claim(),
          }
        },
        { log },
      )
      await serve(
        s.node,
        PROTOCOLS.result,
        resultRequestSchema,
        async (req) => {
          if (req.type === 'result') delivered++
          return {
            type: 'result-ack',
            status: 'recorded',
            verdict: 'accepted',
            claim: await claim(),
          }
        },
        // A result's header alone: answered at once, its outputs are never asked for.
        { log },
      )
      const announcement: JobAnnouncement = {
        type: 'job',
        jobId,
        chainId: net.chain.chainId,
        contract: net.chain.contract,
        coordinator: s.node.peerId.toString(),
        addrs: dialableAddrs(s.node),
        modelHash,
        policy: formatPolicy(policy),
        taskCount: tasks,
        replicas: 1,
        quorum: 1,
        rewardPerResult: '1',
        deadline,
        open: tasks,
      }
      const until = Date.now() + 30_000
      while (Date.now() < until && claimAsks < 3) {
        await publishGossip(s.node, TOPICS.jobs, announcement).catch(() => {})
        await sleep(500)
      }
      return meshResult('unpaid-work', started, tasks, { delivered, leases, claimAsks }, [
        [delivered > 0, 'the volunteer never worked for the job'],
        [delivered <= MAX_UNPAID, `${delivered} unpaid results delivered (limit ${MAX_UNPAID})`],
        [claimAsks >= 3, `the volunteer did not fall back to asking for its claim (${claimAsks})`],
      ])
    })
  },
}

/** A loopback HTTP proxy in front of the chain's RPC that counts JSON-RPC calls by method. */
async function countingRpc(target: string) {
  const counts = new Map<string, number>()
  const server = createServer(async (req, res) => {
    const chunks: Buffer[] = []
    for await (const c of req) chunks.push(c as Buffer)
    const body = Buffer.concat(chunks)
    try {
      const parsed = JSON.parse(body.toString()) as { method?: string } | Array<{ method?: string }>
      for (const m of Array.isArray(parsed) ? parsed : [parsed])
        counts.set(m.method ?? '?', (counts.get(m.method ?? '?') ?? 0) + 1)
    } catch {}
    try {
      const r = await fetch(target, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      })
      res.writeHead(r.status, { 'content-type': 'application/json' })
      res.end(Buffer.from(await r.arrayBuffer()))
    } catch {
      res.writeHead(502).end()
    }
  })
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as AddressInfo
  return {
    url: `http://127.0.0.1:${port}`,
    total: () => [...counts.values()].reduce((a, b) => a + b, 0),
    byMethod: () => Object.fromEntries(counts),
    stop: () => new Promise<void>((r) => server.close(() => r())),
  }
}

const FLOOD_MESSAGES = 2000

const announcementFlood: AdversaryScenario = {
  name: 'announcement-flood',
  description: `During a job, a stranger announces ${FLOOD_MESSAGES} jobs with made-up ids (each well formed, for this chain and escrow, signed by the stranger as their coordinator). A volunteer checks which ids exist in batches (one eth_call of the escrow's created view per 256 ids, at most 4 per 2 s) and remembers only real jobs: its job map stays at the real ones, its RPC calls stay bounded, and the honest job runs at ≥ 0.8 of an unflooded run's rate.`,
  async run(size) {
    const started = Date.now()
    const tasks = size === 'full' ? 60 : 24
    return onNet({}, async (net, cleanup) => {
      const rpc = await countingRpc(net.chain.rpcUrl)
      cleanup.push(() => rpc.stop())
      // The watched volunteer talks to the chain through the counting proxy.
      const watched = await startNodeVolunteer({
        ...networkOf(net),
        rpcUrl: rpc.url,
        wrapCompute: (c) => paddedCompute(40, c),
      })
      cleanup.push(() => watched.stop())
      for (const v of await startVolunteers(net, 2, 40)) cleanup.push(() => v.stop())
      const requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, networkOf(net))
      cleanup.push(() => requester.stop())
      const model = MODEL()
      const runOne = async (seed: number) => {
        const t0 = Date.now()
        const calls0 = rpc.total()
        const job = await requester.submit({
          model,
          tasks: parseInputsJson(seededInputs(seed, tasks, { x: [1, 16] })),
          replicas: 2,
          quorum: 2,
          policy,
          rewardPerResult: parseEther('0.0001'),
          durationSeconds: 3600,
        })
        const final = await withTimeout(job.handle.done, 180_000, 'the job').catch(() => undefined)
        const ms = Date.now() - t0
        return {
          settled: final?.counts.settled ?? 0,
          ms,
          perSecond: ((final?.counts.settled ?? 0) * 1000) / ms,
          rpcPerMinute: ((rpc.total() - calls0) * 60_000) / ms,
        }
      }
      const heap0 = process.memoryUsage().heapUsed
      const calm = await runOne(5)

      const s = await stranger(net)
      cleanup.push(async () => {
        await s.node.stop()
      })
      const block = await net.client.getBlock()
      const modelHash = await sha256Hex(model)
      let sent = 0
      let maxKnown = 0
      let flooding = true
      const floodStarted = Date.now()
      const flood = (async () => {
        while (flooding && sent < FLOOD_MESSAGES) {
          const ann: JobAnnouncement = {
            type: 'job',
            jobId: keccak256(encodeAbiParameters(parseAbiParameters('uint256'), [BigInt(sent)])),
            chainId: net.chain.chainId,
            contract: net.chain.contract,
            coordinator: s.node.peerId.toString(),
            addrs: dialableAddrs(s.node),
            modelHash,
            policy: formatPolicy(policy),
            taskCount: 10,
            replicas: 2,
            quorum: 2,
            rewardPerResult: '1',
            deadline: Number(block.timestamp) + 3600,
            open: 10,
          }
          await publishGossip(s.node, TOPICS.jobs, ann).catch(() => {})
          sent++
          maxKnown = Math.max(maxKnown, watched.worker.stats().jobsKnown)
          // About 200 a second: the gossip layer's own limits are not what this measures.
          if (sent % 10 === 0) await sleep(50)
        }
      })()
      // The flood first fills the volunteer's queues, then the job runs through it.
      await sleep(2000)
      const flooded = await runOne(6)
      const heap1 = process.memoryUsage().heapUsed
      // The whole flood reaches the volunteer before its counts are read (the job may end first).
      await flood
      flooding = false
      const stats = watched.worker.stats()
      const ratio = flooded.perSecond / calm.perSecond
      // Bound on the calls announcements cost the volunteer: at most 4 existence batches per 2 s
      // while the flood lasted, and one getJob per real job (two).
      const floodMs = Date.now() - floodStarted
      const rpcBound = 4 * (Math.ceil(floodMs / 2000) + 1) + 2
      return meshResult(
        'announcement-flood',
        started,
        tasks,
        {
          sent,
          calm,
          flooded,
          throughputRatio: Number(ratio.toFixed(2)),
          maxJobsKnown: maxKnown,
          ignored: stats.announcementsIgnored,
          announcementRpcCalls: stats.announcementRpcCalls,
          rpcBound,
          rpcByMethod: rpc.byMethod(),
          heapMiB: { before: mib(heap0), during: mib(heap1) },
        },
        [
          [sent === FLOOD_MESSAGES, `only ${sent} flood messages sent`],
          [calm.settled === tasks, `${tasks - calm.settled} tasks of the calm job not settled`],
          [flooded.settled === tasks, `${tasks - flooded.settled} tasks not settled in the flood`],
          [maxKnown <= 2, `the volunteer knew ${maxKnown} jobs at once`],
          [
            stats.announcementRpcCalls <= rpcBound,
            `announcements cost ${stats.announcementRpcCalls} RPC calls (bound ${rpcBound})`,
          ],
          // A rate on a shared machine: a goal for the full run, reported by the short one.
          ...(size === 'full'
            ? [
                [ratio >= 0.8, `throughput ratio ${ratio.toFixed(2)} (goal ≥ 0.8)`] as [
                  boolean,
                  string,
                ],
              ]
            : []),
        ],
      )
    })
  },
}

const mib = (b: number) => Number((b / 2 ** 20).toFixed(1))

/** The mesh-level authority scenarios. */
export const MESH_AUTHORITY_SCENARIOS: AdversaryScenario[] = [
  forgedAnnouncement,
  slashTrap,
  unpaidWork,
  announcementFlood,
]

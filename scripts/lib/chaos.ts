/**
 * The chaos harness (`npm run chaos`): each scenario starts a live network of its own (anvil with
 * JobEscrow, the relay, an SDK requester, Node volunteers on onnxruntime-node speaking the real
 * protocol over WebRTC), injects one fault mid-job, and measures what happened on the mesh and on
 * chain: tasks completed, tasks lost, tasks or workers paid twice, and how long recovery took.
 *
 * Volunteers compute the mlp-16x4 catalogue model; `taskMs` pads each compute to a fixed time so
 * that faults land mid-job. The tab scenarios (requester reload) live in `chaos-tabs.ts`.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { createWalletClient, type Hex, http, type PublicClient, parseEther } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { z } from 'zod'
import {
  type ChainConfig,
  chainFor,
  DEV_PRIVATE_KEYS,
  deployEscrow,
  publicClientFor,
  recordedTasksOf,
  redemptionsOf,
} from '../../lib/chain'
import { errorMessage } from '../../lib/errors'
import type { Compute, JobProgress, TaskResult } from '../../lib/jobs'
import type { JobHandle } from '../../lib/jobs/coordinator'
import { BENCH_MS, MAX_CONSECUTIVE_TIMEOUTS, MAX_LEASES_PER_WORKER } from '../../lib/jobs/job-run'
import {
  createMeshNode,
  decodeMessage,
  dialableAddrs,
  encodeMessage,
  generateIdentity,
  type JobAnnouncement,
  type MeshNode,
  onGossip,
  PROTOCOLS,
  request,
  TOPICS,
  waitForReservation,
  workResponseSchema,
} from '../../lib/mesh'
import { parseInputsJson, parsePolicy, type TensorMap } from '../../lib/proofs'
import { seededInputs } from '../../lib/runtime/examples'
import {
  type NodeRequester,
  type NodeVolunteer,
  type NodeVolunteerOptions,
  startNodeRequester,
  startNodeVolunteer,
} from '../../lib/sdk/node'
import type { JobRequest } from '../../lib/sdk/requester'
import { openMemoryStore } from '../../lib/store/memory-node'
import { type Relay, startRelay } from '../../relay/relay'
import { type Anvil, startAnvil } from './anvil'
import { freePort } from './procs'

export interface ScenarioResult {
  name: string
  tasks: number
  completed: number
  lost: number
  doublePaid: number
  /** Time from the fault (or its end) to recovery, as the scenario defines it; null if none. */
  recoverMs: number | null
  pass: boolean
  /** Why it failed, when it did. */
  reasons: string[]
  details: Record<string, unknown>
  wallMs: number
}

export type ScenarioSize = 'short' | 'full'

export interface Scenario {
  name: string
  /** What the fault is and what must hold, for the report. */
  description: string
  run(size: ScenarioSize, log: (line: string) => void): Promise<ScenarioResult>
}

const ROOT = join(import.meta.dirname, '../..')
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A chain with JobEscrow deployed, and a relay that can be stopped and started on one address. */
export interface ChaosNet {
  anvil: Anvil
  chain: ChainConfig
  client: PublicClient
  relayPort: number
  relayKey: PrivateKey
  relay: Relay | undefined
  relayAddr: string
  startRelay(): Promise<Relay>
  stopRelay(): Promise<void>
  stop(): Promise<void>
}

export async function startChaosNet(opts: { relay?: boolean } = {}): Promise<ChaosNet> {
  const anvil = await startAnvil({ port: await freePort() })
  try {
    const cfg = { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }
    const client = publicClientFor(cfg)
    const deployer = createWalletClient({
      account: privateKeyToAccount(DEV_PRIVATE_KEYS[0]!),
      chain: chainFor(cfg),
      transport: http(cfg.rpcUrl),
    })
    const contract = await deployEscrow(deployer, client)
    const relayKey = await generateKeyPair('Ed25519')
    const relayPort = await freePort()
    const { peerIdFromPrivateKey } = await import('@libp2p/peer-id')
    const net: ChaosNet = {
      anvil,
      chain: { ...cfg, contract },
      client,
      relayPort,
      relayKey,
      relay: undefined,
      relayAddr: `/ip4/127.0.0.1/tcp/${relayPort}/ws/p2p/${peerIdFromPrivateKey(relayKey)}`,
      async startRelay() {
        net.relay = await startRelay({
          host: '127.0.0.1',
          port: relayPort,
          healthPort: 0,
          privateKey: relayKey,
        })
        return net.relay
      },
      async stopRelay() {
        await net.relay?.stop()
        net.relay = undefined
      },
      async stop() {
        await net.stopRelay().catch(() => {})
        await anvil.stop()
      },
    }
    if (opts.relay !== false) await net.startRelay()
    return net
  } catch (err) {
    await anvil.stop()
    throw err
  }
}

export const MODEL = () => new Uint8Array(readFileSync(join(ROOT, 'public/models/mlp-16x4.onnx')))

/** Pads every compute to at least `ms`, like a model of that size. */
/**
 * `inner`, each run taking at least `ms` per inference. `inferences(inputs)`: how many a run
 * makes (a task of several inputs, lib/proofs/units.ts, runs one per input); default 1.
 */
export function paddedCompute(
  ms: number,
  inner: Compute,
  inferences: (inputs: TensorMap) => number = () => 1,
): Compute {
  return {
    backend: inner.backend,
    runtime: inner.runtime,
    prepare: (h, f) => inner.prepare(h, f),
    async run(h, inputs) {
      const started = performance.now()
      const out = await inner.run(h, inputs)
      const left = ms * inferences(inputs) - (performance.now() - started)
      if (left > 0) await sleep(left)
      return out
    },
  }
}

export function networkOf(net: ChaosNet) {
  return { ...net.chain, relays: [net.relayAddr], joinTimeoutMs: 60_000 }
}

export async function startVolunteers(
  net: ChaosNet,
  count: number,
  taskMs: number,
  extra: Partial<NodeVolunteerOptions> = {},
): Promise<NodeVolunteer[]> {
  return Promise.all(
    Array.from({ length: count }, () =>
      startNodeVolunteer({
        ...networkOf(net),
        wrapCompute: (c) => paddedCompute(taskMs, c),
        ...extra,
      }),
    ),
  )
}

export async function submitMlpJob(
  requester: NodeRequester,
  o: { tasks: number; replicas: number; quorum: number; seed?: number },
  extra: Partial<JobRequest> = {},
) {
  return requester.submit({
    model: MODEL(),
    modelFile: 'mlp-16x4.onnx',
    modelName: 'mlp-16x4',
    tasks: parseInputsJson(seededInputs(o.seed ?? 7, o.tasks, { x: [1, 16] })),
    replicas: o.replicas,
    quorum: o.quorum,
    policy: parsePolicy('round:3'),
    rewardPerResult: parseEther('0.0001'),
    durationSeconds: 3600,
    ...extra,
  })
}

/** Resolves once `pred(progress)` holds (checked on every progress event). */
export function when(handle: JobHandle, pred: (p: JobProgress) => boolean): Promise<JobProgress> {
  return new Promise((resolve) => {
    const check = () => {
      const p = handle.progress()
      if (!pred(p)) return
      handle.events.removeEventListener('progress', check)
      resolve(p)
    }
    handle.events.addEventListener('progress', check)
    check()
  })
}

/**
 * `p`, or an error after `ms` naming `what`, and what was going on (`state()`, as JSON) when
 * given: a hang then fails with the state that explains it.
 */
export async function withTimeout<T>(
  p: Promise<T>,
  ms: number,
  what: string,
  state?: () => unknown,
): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  const seen = () => {
    if (!state) return ''
    try {
      return `. State: ${JSON.stringify(state(), (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}`
    } catch (err) {
      return `. State unreadable: ${String(err)}`
    }
  }
  try {
    return await Promise.race([
      p,
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`${what} did not happen within ${ms} ms${seen()}`)),
          ms,
        )
      }),
    ])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * What the chain says about a job: tasks recorded, and pay beyond what the coordinator accepted.
 * Workers are paid by cumulative claims (ClaimRedeemed): a worker redeemed more results than it
 * agreed on in settled tasks (`results`, the coordinator's record) counts as double pay.
 */
export async function chainAudit(
  client: PublicClient,
  contract: Hex,
  jobId: Hex,
  results?: readonly TaskResult[],
) {
  const recorded = await recordedTasksOf(client, contract, jobId)
  const redeemed = new Map<string, number>()
  for (const r of await redemptionsOf(client, contract, jobId)) {
    const key = r.worker.toLowerCase()
    redeemed.set(key, Math.max(redeemed.get(key) ?? 0, r.results))
  }
  const signersByTask = new Map<number, string[]>()
  const agreed = new Map<string, number>()
  for (const t of results ?? []) {
    if (t.status !== 'settled') continue
    const signers = t.agreeing.map((a) => a.toLowerCase())
    signersByTask.set(t.taskIndex, signers)
    for (const a of signers) agreed.set(a, (agreed.get(a) ?? 0) + 1)
  }
  let doublePaid = 0
  if (results)
    for (const [worker, n] of redeemed) doublePaid += Math.max(0, n - (agreed.get(worker) ?? 0))
  return { settled: recorded.size, doublePaid, signersByTask, redeemed }
}

export function result(
  name: string,
  started: number,
  r: Omit<ScenarioResult, 'name' | 'wallMs' | 'pass' | 'reasons'>,
  checks: Array<[boolean, string]>,
): ScenarioResult {
  const reasons = checks.filter(([ok]) => !ok).map(([, why]) => why)
  return { name, ...r, pass: reasons.length === 0, reasons, wallMs: Date.now() - started }
}

/** Runs `body` on a fresh network and always tears it down. */
export async function onNet<T>(
  opts: { relay?: boolean },
  body: (net: ChaosNet, cleanup: Array<() => Promise<unknown>>) => Promise<T>,
): Promise<T> {
  const net = await startChaosNet(opts)
  const cleanup: Array<() => Promise<unknown>> = []
  try {
    return await body(net, cleanup)
  } finally {
    for (const c of cleanup.reverse()) await c().catch(() => {})
    await net.stop()
  }
}

export async function finishJob(
  net: ChaosNet,
  job: { jobId: Hex; handle: JobHandle },
  timeoutMs: number,
): Promise<{ final: JobProgress | undefined; settled: number; doublePaid: number }> {
  const final = await withTimeout(job.handle.done, timeoutMs, 'job completion').catch(
    () => undefined,
  )
  // The coordinator records results on chain in the background, after its job is done: a CI
  // run audited before the record landed and read 0 of 20 tasks settled. Wait for it (20 s).
  const settledHere = job.handle.results().filter((r) => r.status === 'settled').length
  let audit = await chainAudit(net.client, net.chain.contract, job.jobId, job.handle.results())
  for (let i = 0; i < 80 && final && audit.settled < settledHere; i++) {
    await new Promise((r) => setTimeout(r, 250))
    audit = await chainAudit(net.client, net.chain.contract, job.jobId, job.handle.results())
  }
  return { final, settled: audit.settled, doublePaid: audit.doublePaid }
}

/** `count` padded volunteers and an SDK requester on `net`, both stopped by `cleanup`. */
export async function startPeers(
  net: ChaosNet,
  cleanup: Array<() => Promise<unknown>>,
  count: number,
  taskMs: number,
  extra: Partial<NodeVolunteerOptions> = {},
) {
  const volunteers = await startVolunteers(net, count, taskMs, extra)
  cleanup.push(() => Promise.all(volunteers.map((v) => v.stop())))
  const requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, networkOf(net))
  cleanup.push(() => requester.stop())
  return { volunteers, requester }
}

/** Waits until the requester has heard every volunteer on presence, so that all take part. */
export function allHeard(requester: NodeRequester, volunteers: NodeVolunteer[]): Promise<void> {
  const ids = new Set(volunteers.map((v) => v.node.peerId.toString()))
  return withTimeout(
    (async () => {
      while (requester.presence.peers().filter((p) => ids.has(p.peerId)).length < ids.size)
        await new Promise((r) => setTimeout(r, 250))
    })(),
    60_000,
    'every volunteer heard on presence',
  )
}

/** Tasks accepted so far (settled ones included). */
export const doneCount = (p: JobProgress) => p.counts.accepted + p.counts.settled

/** Resolves once a quarter of the job's tasks are accepted: where scenarios inject their fault. */
export const quarterDone = (job: { handle: JobHandle }, tasks: number, timeoutMs: number) =>
  withTimeout(
    when(job.handle, (p) => doneCount(p) >= Math.ceil(tasks / 4)),
    timeoutMs,
    'a quarter of the tasks',
  )

const killHalfWorkers: Scenario = {
  name: 'kill-half-workers',
  description:
    'Half the volunteers vanish mid-job (their nodes stop without a word). Their leases expire or are duplicated; every task completes, none is lost or paid twice.',
  async run(size, log) {
    const started = Date.now()
    const n = size === 'full' ? 8 : 4
    const tasks = size === 'full' ? 60 : 16
    return onNet({}, async (net, cleanup) => {
      const { volunteers, requester } = await startPeers(net, cleanup, n, 150)
      const job = await submitMlpJob(requester, { tasks, replicas: 2, quorum: 2 })
      await quarterDone(job, tasks, 60_000).catch((err) => {
        log(`  STALL ${JSON.stringify(diagnose(requester, volunteers, job.handle))}`)
        throw err
      })
      const killed = volunteers.splice(0, n / 2)
      const before = doneCount(job.handle.progress())
      const killedAt = Date.now()
      log(`  killing ${killed.length} of ${n} volunteers at ${before}/${tasks} tasks`)
      await Promise.all(killed.map((v) => v.node.stop()))
      await withTimeout(
        when(job.handle, (p) => doneCount(p) > before),
        120_000,
        'progress after the kill',
      ).catch(() => undefined)
      const recoverMs = Date.now() - killedAt
      await Promise.all(killed.map((v) => v.stop().catch(() => {})))
      const { final, settled, doublePaid } = await finishJob(net, job, 90_000)
      if (!final) log(`  STALL ${JSON.stringify(diagnose(requester, volunteers, job.handle))}`)
      return result(
        'kill-half-workers',
        started,
        {
          tasks,
          completed: settled,
          lost: tasks - settled,
          doublePaid,
          recoverMs,
          details: {
            volunteers: n,
            killed: killed.length,
            tasksDoneAtKill: before,
            final: final?.counts,
          },
        },
        [
          [settled === tasks, `${tasks - settled} tasks not settled`],
          [doublePaid === 0, `${doublePaid} double payments`],
        ],
      )
    })
  },
}

/** What every peer sees, for a scenario that stalls. */
export function diagnose(requester: NodeRequester, volunteers: NodeVolunteer[], handle: JobHandle) {
  const p = handle.progress()
  return {
    progress: {
      counts: p.counts,
      leased: p.leased,
      results: p.resultsReceived,
      workers: p.workers,
    },
    requester: {
      connections: requester.node.getConnections().map((c) => c.remoteAddr.toString().slice(-60)),
      presence: requester.presence.peers().length,
    },
    volunteers: volunteers.map((v) => ({
      ...v.worker.stats(),
      connections: v.node.getConnections().length,
    })),
  }
}

/** A peer that takes leases and never answers. Returns how it fared. */
export async function startFreeRider(net: ChaosNet) {
  const identity = await generateIdentity()
  const node = await createMeshNode({
    identity,
    relays: [net.relayAddr],
    allowPrivateAddresses: true,
  })
  await waitForReservation(node, 60_000)
  const stats = {
    leases: 0,
    excludedAt: undefined as number | undefined,
    requests: 0,
    lastError: undefined as string | undefined,
  }
  const jobs = new Map<string, JobAnnouncement>()
  const unsubscribe = onGossip<JobAnnouncement>(node, TOPICS.jobs, (m) => {
    if (m.type === 'job') jobs.set(m.jobId, m)
  })
  let stopped = false
  const loop = (async () => {
    while (!stopped) {
      for (const ann of jobs.values()) {
        stats.requests++
        try {
          const res = await request(
            node,
            ann.addrs.map((a) => multiaddr(a)),
            PROTOCOLS.work,
            { type: 'work-request', jobId: ann.jobId, backend: 'wasm', runtime: 'free-rider' },
            workResponseSchema,
          )
          if (res.type === 'lease') stats.leases++
          else if (res.type === 'no-work' && res.reason === 'not-eligible')
            stats.excludedAt ??= Date.now()
        } catch (err) {
          stats.lastError = errorMessage(err)
        }
      }
      await sleep(300)
    }
  })()
  return {
    address: identity.address.toLowerCase(),
    stats,
    async stop() {
      stopped = true
      unsubscribe()
      await loop
      await node.stop()
    },
  }
}

const freeRiders: Scenario = {
  name: 'free-riders',
  description:
    'Peers join mid-job, take leases and never answer. Their leases expire (or their tasks are duplicated when nothing else is left) and go to others; after 3 expired leases in a row a free rider is benched: no work for a minute, then one lease at a time (full size: every rider benched); no task is lost.',
  async run(size) {
    const started = Date.now()
    const honest = size === 'full' ? 6 : 3
    const riders = size === 'full' ? 3 : 2
    // Full size: a job long enough (about a minute) for every free rider to be excluded.
    const tasks = size === 'full' ? 400 : 12
    const taskMs = size === 'full' ? 500 : 100
    return onNet({}, async (net, cleanup) => {
      const { requester } = await startPeers(net, cleanup, honest, taskMs)
      const job = await submitMlpJob(requester, { tasks, replicas: 2, quorum: 2 })
      const jobStart = Date.now()
      // Free riders arrive once honest workers are timed (so their leases are sized from that).
      await withTimeout(
        when(job.handle, (p) => p.resultsReceived >= honest),
        60_000,
        'first results',
      )
      const fr = await Promise.all(Array.from({ length: riders }, () => startFreeRider(net)))
      const ridersAt = Date.now()
      cleanup.push(() => Promise.all(fr.map((f) => f.stop())))
      const { final, settled, doublePaid } = await finishJob(net, job, 300_000)
      const jobMs = Date.now() - jobStart
      const excluded = fr.filter((f) => f.stats.excludedAt !== undefined).length
      const excludedWithinMs =
        excluded === riders ? Math.max(...fr.map((f) => f.stats.excludedAt! - ridersAt)) : null
      const summary = (f: (typeof fr)[number]) =>
        final?.workers.find((w) => w.address.toLowerCase() === f.address)
      // Benched after at most 3 timeouts: at most 3 expired leases plus the ones it still held,
      // then one probation lease per BENCH_MS.
      const maxLeases = Math.max(...fr.map((f) => f.stats.leases))
      const allowedLeases =
        MAX_CONSECUTIVE_TIMEOUTS +
        MAX_LEASES_PER_WORKER -
        1 +
        Math.floor((Date.now() - ridersAt) / BENCH_MS)
      const checks: Array<[boolean, string]> = [
        [settled === tasks, `${tasks - settled} tasks not settled`],
        [doublePaid === 0, `${doublePaid} double payments`],
        [
          maxLeases <= allowedLeases,
          `a free rider got ${maxLeases} leases (at most ${allowedLeases})`,
        ],
      ]
      if (size === 'full')
        checks.push([excluded === riders, `${riders - excluded} free riders never excluded`])
      return result(
        'free-riders',
        started,
        {
          tasks,
          completed: settled,
          lost: tasks - settled,
          doublePaid,
          recoverMs: excludedWithinMs,
          details: {
            honest,
            freeRiders: riders,
            leasesPerFreeRider: fr.map((f) => f.stats.leases),
            timeoutsPerFreeRider: fr.map((f) => summary(f)?.timeouts ?? 0),
            freeRiderRequests: fr.reduce((n, f) => n + f.stats.requests, 0),
            freeRiderLastError: fr.find((f) => f.stats.lastError)?.stats.lastError,
            freeRidersExcluded: excluded,
            excludedWithinMs,
            jobMs,
          },
        },
        checks,
      )
    })
  },
}

const workerOffline: Scenario = {
  name: 'worker-offline',
  description:
    'A volunteer loses the network while computing (its libp2p node stops); the signed result waits in its outbox; the volunteer comes back with the same key and store and delivers it; it is accepted and paid.',
  async run(size, log) {
    const started = Date.now()
    const tasks = size === 'full' ? 12 : 6
    return onNet({}, async (net, cleanup) => {
      const requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, networkOf(net))
      cleanup.push(() => requester.stop())
      const [steady] = await startVolunteers(net, 1, 100)
      cleanup.push(() => steady!.stop())
      const store = await openMemoryStore()
      const key = generatePrivateKey()
      let computed = 0
      let cut: (() => void) | undefined
      const cutDone = new Promise<void>((r) => {
        cut = r
      })
      const flaky: NodeVolunteer = await startNodeVolunteer({
        ...networkOf(net),
        key,
        store,
        wrapCompute: (c) => ({
          ...paddedCompute(100, c),
          async run(h, inputs) {
            const out = await paddedCompute(100, c).run(h, inputs)
            if (++computed === 3) {
              // Network gone before the result leaves: stop the node, then return the output.
              log('  cutting the volunteer off the network during its third task')
              await flaky.node.stop()
              cut!()
            }
            return out
          },
        }),
      })
      const job = await submitMlpJob(requester, { tasks, replicas: 2, quorum: 2 })
      await withTimeout(cutDone, 120_000, 'the third task')
      await sleep(300)
      const pending = (await store.listOutbox()).filter((o) => o.jobId === job.jobId)
      const offlineTask = pending[0]?.taskIndex
      await flaky.worker.stop()
      log(`  ${pending.length} result(s) in the outbox while offline; back in 3 s`)
      await sleep(3000)
      const back = Date.now()
      let deliveredAt: number | undefined
      const again = await startNodeVolunteer({
        ...networkOf(net),
        key,
        store,
        wrapCompute: (c) => paddedCompute(100, c),
      })
      cleanup.push(() => again.stop())
      again.worker.events.addEventListener('task', (e) => {
        const d = (e as CustomEvent<{ jobId: Hex; taskIndex: number }>).detail
        if (d.jobId === job.jobId && d.taskIndex === offlineTask) deliveredAt ??= Date.now()
      })
      const { final, settled, doublePaid } = await finishJob(net, job, 120_000)
      const audit = await chainAudit(
        net.client,
        net.chain.contract,
        job.jobId,
        job.handle.results(),
      )
      const address = privateKeyToAccount(key).address.toLowerCase()
      // Paid: it agreed on the task, and the claims redeemed for it cover every task it agreed on.
      const agreedOn = [...audit.signersByTask.values()].filter((s) => s.includes(address)).length
      const paid =
        offlineTask !== undefined &&
        audit.signersByTask.get(offlineTask)?.includes(address) &&
        (audit.redeemed.get(address) ?? 0) >= agreedOn
      return result(
        'worker-offline',
        started,
        {
          tasks,
          completed: settled,
          lost: tasks - settled,
          doublePaid,
          recoverMs: deliveredAt ? deliveredAt - back : null,
          details: {
            heldWhileOffline: pending.length,
            offlineTask,
            deliveredAfterReconnect: deliveredAt !== undefined,
            offlineResultPaid: Boolean(paid),
            final: final?.counts,
          },
        },
        [
          [pending.length >= 1, 'no result was held in the outbox while offline'],
          [deliveredAt !== undefined, 'the held result was not delivered after reconnecting'],
          [Boolean(paid), 'the held result was not paid'],
          [settled === tasks, `${tasks - settled} tasks not settled`],
          [doublePaid === 0, `${doublePaid} double payments`],
        ],
      )
    })
  },
}

const relayRestart: Scenario = {
  name: 'relay-restart',
  description:
    'The relay stops mid-job and comes back 2 s later on the same address. Every peer re-dials and re-reserves within 30 s; direct WebRTC links carry on meanwhile; the job completes.',
  async run(size, log) {
    const started = Date.now()
    const n = size === 'full' ? 6 : 3
    const tasks = size === 'full' ? 40 : 12
    return onNet({}, async (net, cleanup) => {
      const { requester } = await startPeers(net, cleanup, n, 150)
      const job = await submitMlpJob(requester, { tasks, replicas: 2, quorum: 2 })
      await quarterDone(job, tasks, 120_000)
      log('  stopping the relay')
      await net.stopRelay()
      const duringOutage = doneCount(job.handle.progress())
      await sleep(2000)
      const progressedWhileDown = doneCount(job.handle.progress()) - duringOutage
      const relay = await net.startRelay()
      const restartedAt = Date.now()
      const peers = n + 1
      let recoverMs: number | null = null
      await withTimeout(
        (async () => {
          while (relay.health().reservations < peers) await sleep(100)
        })(),
        30_000,
        'every peer re-reserving',
      )
        .then(() => {
          recoverMs = Date.now() - restartedAt
        })
        .catch(() => undefined)
      log(`  relay back; ${relay.health().reservations}/${peers} reservations`)
      const { final, settled, doublePaid } = await finishJob(net, job, 180_000)
      return result(
        'relay-restart',
        started,
        {
          tasks,
          completed: settled,
          lost: tasks - settled,
          doublePaid,
          recoverMs,
          details: {
            peers,
            reservationsAfter: relay.health().reservations,
            tasksDoneWhileRelayDown: progressedWhileDown,
            final: final?.counts,
          },
        },
        [
          [recoverMs !== null && recoverMs <= 30_000, 'peers did not re-reserve within 30 s'],
          [settled === tasks, `${tasks - settled} tasks not settled`],
          [doublePaid === 0, `${doublePaid} double payments`],
        ],
      )
    })
  },
}

const relayLate: Scenario = {
  name: 'relay-late',
  description:
    'Volunteers and the requester start while the relay is down; the relay comes up later. Every peer joins within 10 s of the relay starting and a job runs.',
  async run(size, log) {
    const started = Date.now()
    const n = size === 'full' ? 6 : 3
    const downMs = size === 'full' ? 15_000 : 5000
    const tasks = size === 'full' ? 20 : 8
    return onNet({ relay: false }, async (net, cleanup) => {
      const joinedAt: number[] = []
      const joining = [
        ...Array.from({ length: n }, () =>
          startNodeVolunteer({ ...networkOf(net), wrapCompute: (c) => paddedCompute(50, c) }),
        ),
        startNodeRequester(DEV_PRIVATE_KEYS[1]!, networkOf(net)),
      ].map((p) =>
        p.then((peer) => {
          joinedAt.push(Date.now())
          cleanup.push(() => peer.stop())
          return peer
        }),
      )
      log(`  ${n + 1} peers started; relay down for ${downMs / 1000} s`)
      await sleep(downMs)
      await net.startRelay()
      const relayAt = Date.now()
      const peers = await Promise.allSettled(joining)
      const joined = peers.filter((p) => p.status === 'fulfilled').length
      const recoverMs = joinedAt.length > 0 ? Math.max(...joinedAt) - relayAt : null
      const requester = peers.at(-1)
      let settled = 0
      let doublePaid = 0
      if (requester?.status === 'fulfilled') {
        const job = await submitMlpJob(requester.value as NodeRequester, {
          tasks,
          replicas: 2,
          quorum: 2,
        })
        ;({ settled, doublePaid } = await finishJob(net, job, 120_000))
      }
      return result(
        'relay-late',
        started,
        {
          tasks,
          completed: settled,
          lost: tasks - settled,
          doublePaid,
          recoverMs,
          details: { peers: n + 1, joined, relayDownMs: downMs },
        },
        [
          [joined === n + 1, `${n + 1 - joined} peers never joined`],
          [
            recoverMs !== null && recoverMs <= 10_000,
            `joined ${recoverMs} ms after the relay started (limit 10 s)`,
          ],
          [settled === tasks, `${tasks - settled} tasks not settled`],
          [doublePaid === 0, `${doublePaid} double payments`],
        ],
      )
    })
  },
}

const relayFailover: Scenario = {
  name: 'relay-failover',
  description:
    'Two relays are configured; the first one dies for good mid-job. Every peer keeps its reservation on the second, the job completes, and a volunteer started afterwards (first relay listed first, and down) joins through the second.',
  async run(size, log) {
    const started = Date.now()
    const n = size === 'full' ? 6 : 3
    const tasks = size === 'full' ? 40 : 12
    return onNet({}, async (net, cleanup) => {
      const second = await startRelay({ host: '127.0.0.1', port: await freePort(), healthPort: 0 })
      cleanup.push(() => second.stop())
      const relays = [net.relayAddr, second.multiaddr]
      const volunteers = await startVolunteers(net, n, 150, { relays })
      cleanup.push(() => Promise.all(volunteers.map((v) => v.stop())))
      const requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, {
        ...networkOf(net),
        relays,
      })
      cleanup.push(() => requester.stop())
      const peers = n + 1
      // Every peer holds a reservation on both relays before the fault.
      await withTimeout(
        (async () => {
          while (net.relay!.health().reservations < peers || second.health().reservations < peers)
            await sleep(100)
        })(),
        30_000,
        'reservations on both relays',
      )
      const job = await submitMlpJob(requester, { tasks, replicas: 2, quorum: 2 })
      await quarterDone(job, tasks, 120_000)
      log('  stopping the first relay for good')
      await net.stopRelay()
      const stoppedAt = Date.now()
      const doneAtStop = doneCount(job.handle.progress())
      // A newcomer lists the dead relay first: it must join through the second one.
      const late = await withTimeout(
        startVolunteers(net, 1, 150, { relays }).then(([v]) => v!),
        30_000,
        'a volunteer joining while the first relay is down',
      ).catch(() => undefined)
      const lateJoinMs = late ? Date.now() - stoppedAt : null
      if (late) cleanup.push(() => late.stop())
      const { final, settled, doublePaid } = await finishJob(net, job, 180_000)
      const reservationsOnSecond = second.health().reservations
      const lateDidWork = late ? late.worker.stats().tasksDone : 0
      log(
        `  ${reservationsOnSecond} reservations on the second relay; the newcomer joined in ${lateJoinMs} ms and did ${lateDidWork} tasks`,
      )
      return result(
        'relay-failover',
        started,
        {
          tasks,
          completed: settled,
          lost: tasks - settled,
          doublePaid,
          recoverMs: lateJoinMs,
          details: {
            peers,
            reservationsOnSecond,
            tasksDoneAfterFirstRelayDied: doneCount(job.handle.progress()) - doneAtStop,
            newcomerJoined: late !== undefined,
            newcomerTasks: lateDidWork,
            final: final?.counts,
          },
        },
        [
          [
            reservationsOnSecond >= peers,
            `${reservationsOnSecond}/${peers} peers kept a reservation on the second relay`,
          ],
          [late !== undefined, 'a volunteer could not join while the first relay was down'],
          [settled === tasks, `${tasks - settled} tasks not settled`],
          [doublePaid === 0, `${doublePaid} double payments`],
        ],
      )
    })
  },
}

/** Hostile frames for a request/response protocol: each one must be refused without harm. */
function malformedFrames(i: number): Uint8Array {
  const kind = i % 5
  if (kind === 0) return crypto.getRandomValues(new Uint8Array(1 + (i % 200))) // random bytes
  if (kind === 1) return encodeMessage({ type: 'work-request', jobId: 42 }) // wrong types
  if (kind === 2) return encodeMessage({ type: 'result', jobId: `0x${'00'.repeat(32)}` }) // missing fields
  if (kind === 3) return new Uint8Array(70 * 1024).fill(0xa0 + (i % 16)) // oversized control frame
  return encodeMessage({ type: 'nope', deep: [[[[[[[[[[[1]]]]]]]]]]] }) // too deep / unknown
}

/** Sends `count` malformed messages: streams to the coordinator, raw gossip on both topics. */
async function flood(net: ChaosNet, coordinatorAddrs: string[], count: number) {
  const node: MeshNode = await createMeshNode({
    identity: await generateIdentity(),
    relays: [net.relayAddr],
    allowPrivateAddresses: true,
  })
  await waitForReservation(node, 30_000)
  node.services.pubsub.subscribe(TOPICS.jobs)
  node.services.pubsub.subscribe(TOPICS.presence)
  await sleep(1500)
  const protocols = [PROTOCOLS.work, PROTOCOLS.result, PROTOCOLS.model]
  const outcome = { sent: 0, errorReplies: 0, dropped: 0, accepted: 0, gossipSent: 0 }
  const targets = coordinatorAddrs.map((a) => multiaddr(a))
  for (let i = 0; i < count; i++) {
    if (i % 4 === 3) {
      // Gossip: garbage or oversized on a Meshwork topic (validators must reject it).
      const data =
        i % 8 === 3
          ? crypto.getRandomValues(new Uint8Array(64))
          : new Uint8Array(20 * 1024).fill(0x61)
      await node.services.pubsub
        .publish(i % 2 ? TOPICS.jobs : TOPICS.presence, data)
        .catch(() => {})
      outcome.gossipSent++
      outcome.sent++
      continue
    }
    try {
      const stream = await node.dialProtocol(targets, protocols[i % 3]!, {
        signal: AbortSignal.timeout(10_000),
      })
      const lp = lpStream(stream, { maxDataLength: 1 << 20 })
      await lp.write(malformedFrames(i), { signal: AbortSignal.timeout(10_000) })
      const reply = await lp.read({ signal: AbortSignal.timeout(10_000) })
      const { type } = decodeMessage(reply.subarray(), z.object({ type: z.string() }), 1 << 20)
      if (type === 'error') outcome.errorReplies++
      else outcome.accepted++
      await stream.close().catch(() => {})
    } catch {
      outcome.dropped++
    }
    outcome.sent++
  }
  const peerId = node.peerId.toString()
  await node.stop()
  return { ...outcome, peerId }
}

const malformedFlood: Scenario = {
  name: 'malformed-flood',
  description:
    'One peer sends 1,000 malformed or oversized messages (stream requests to the coordinator, raw gossip on both topics) while honest jobs run. Every node stays up, every message is refused, honest job latency p95 at most doubles.',
  async run(size, log) {
    const started = Date.now()
    const count = size === 'full' ? 1000 : 200
    const jobs = size === 'full' ? 5 : 3
    const tasksPerJob = 8
    return onNet({}, async (net, cleanup) => {
      const { volunteers, requester } = await startPeers(net, cleanup, 3, 50)
      const jobIds: Hex[] = []
      const runJobs = async (seed: number) => {
        const times: number[] = []
        for (let j = 0; j < jobs; j++) {
          const t0 = Date.now()
          const job = await submitMlpJob(requester, {
            tasks: tasksPerJob,
            replicas: 2,
            quorum: 2,
            seed: seed + j,
          })
          jobIds.push(job.jobId)
          await withTimeout(
            when(job.handle, (p) => p.counts.accepted + p.counts.settled === tasksPerJob),
            120_000,
            'an honest job',
          )
          times.push(Date.now() - t0)
          await withTimeout(job.handle.done, 60_000, 'settlement').catch(() => undefined)
        }
        return times
      }
      const p95 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.ceil(xs.length * 0.95) - 1]!
      log('  baseline jobs')
      const baseline = await runJobs(100)
      const rejectedBefore = net.relay!.health().gossip.rejected
      log(`  flooding ${count} malformed messages during the next jobs`)
      const addrs = dialableAddrs(requester.node)
      // getScore is on the implementation, not the published interface.
      const pubsub = net.relay!.node.services.pubsub as unknown as { getScore(p: string): number }
      // The lowest gossip score the relay gives any peer while the flood runs: read only after
      // it, the sender may be gone already (a CI run read 0), and only the sender sends invalid.
      let lowest = 0
      const sampler = setInterval(() => {
        for (const p of net.relay!.node.getPeers())
          lowest = Math.min(lowest, pubsub.getScore(p.toString()))
      }, 100)
      const flooding = flood(net, addrs, count)
      const underFlood = await runJobs(200)
      const { peerId: attacker, ...outcome } = await flooding.finally(() => clearInterval(sampler))
      const gossipRejected = net.relay!.health().gossip.rejected - rejectedBefore
      const attackerScore = Math.min(lowest, pubsub.getScore(attacker))
      const alive =
        net.relay!.health().status === 'ok' &&
        requester.node.status === 'started' &&
        volunteers.every((v) => v.node.status === 'started' && v.worker.stats().state !== 'stopped')
      const ratio = p95(underFlood) / p95(baseline)
      const tasks = jobIds.length * tasksPerJob
      let settled = 0
      let doublePaid = 0
      for (const id of jobIds) {
        const a = await chainAudit(net.client, net.chain.contract, id)
        settled += a.settled
        doublePaid += a.doublePaid
      }
      return result(
        'malformed-flood',
        started,
        {
          tasks,
          completed: settled,
          lost: tasks - settled,
          doublePaid,
          recoverMs: null,
          details: {
            ...outcome,
            gossipRejectedByRelay: gossipRejected,
            attackerGossipScoreAtRelay: Number(attackerScore.toFixed(1)),
            baselineP95Ms: p95(baseline),
            floodP95Ms: p95(underFlood),
            latencyRatio: Number(ratio.toFixed(2)),
            everyNodeUp: alive,
          },
        },
        [
          [alive, 'a node went down'],
          [outcome.accepted === 0, `${outcome.accepted} malformed messages were answered as valid`],
          [
            outcome.errorReplies + outcome.dropped === outcome.sent - outcome.gossipSent,
            'some stream messages were neither refused nor dropped',
          ],
          // The relay validates and rejects each, until the sender's score falls so low that
          // gossipsub ignores it altogether: both are refusals.
          [
            gossipRejected > 0 && attackerScore < 0,
            `relay rejected ${gossipRejected} gossip messages; sender score ${attackerScore}`,
          ],
          [settled === tasks, `${tasks - settled} honest tasks not settled`],
          [doublePaid === 0, `${doublePaid} double payments`],
          [ratio <= 2, `honest p95 latency grew ${ratio.toFixed(2)}×`],
        ],
      )
    })
  },
}

export const NODE_SCENARIOS: Scenario[] = [
  killHalfWorkers,
  freeRiders,
  workerOffline,
  relayRestart,
  relayLate,
  relayFailover,
  malformedFlood,
]

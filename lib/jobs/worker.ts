/**
 * The volunteer's side: hear job announcements, check each job on chain (escrow exists and
 * matches the announcement), pull one task at a time from its coordinator, verify the input
 * against the job's Merkle root, compute, hash under the job's policy, sign, and deliver the
 * result. Signed results wait in the store's outbox until the coordinator acknowledges them:
 * a result that cannot be delivered (the worker or the coordinator is offline, a tab reloaded)
 * is retried with backoff, from the store, until it is acknowledged or its job's deadline passes.
 *
 * Pulling means a faster volunteer simply asks more often. Nothing here can be crashed by a
 * coordinator: every response is schema-checked, and every failure backs off that job only.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Address, Hex, PublicClient } from 'viem'
import { readJob } from '../chain'
import { createLogger, type Logger } from '../env/log'
import type { Capability } from '../env/probe'
import { BaseError, errorMessage, InvalidMessageError } from '../errors'
import {
  fetchModelFromPeer,
  fromWireTensors,
  type Identity,
  type JobAnnouncement,
  type JobClosed,
  type MeshNode,
  onGossip,
  PROTOCOLS,
  request,
  resultResponseSchema,
  type TaskErrorMessage,
  TOPICS,
  toWireTensors,
  workResponseSchema,
} from '../mesh'
import type { Lease, WorkRequest, WorkResponse } from '../mesh/messages'
import {
  type AgreementPolicy,
  formatPolicy,
  inputHash,
  parsePolicy,
  resultHash,
  signPayout,
  signResult,
  type TensorMap,
  verifyInputProof,
} from '../proofs'
import type { OutboxRecord, Store } from '../store'
import { WEBGPU_REFUSED } from '../trust'
import { effectiveDuty, restAfter, type ThrottleSettings } from './throttle'
import type { Compute } from './types'

export interface WorkerChain {
  client: PublicClient
  chainId: number
  contract: Address
}

export interface WorkerInit {
  node: MeshNode
  identity: Identity
  store: Store
  compute: Compute
  chain: WorkerChain
  log?: Logger
  /** Largest model this volunteer downloads (bytes). Default 64 MiB. */
  maxModelBytes?: number
  /** How often undelivered results are retried (ms). Default 3000. */
  outboxIntervalMs?: number
  /** Share of the machine to give, read before each task (see throttle.ts). Default: all of it. */
  throttle?: () => { settings: ThrottleSettings; hidden: boolean }
  /**
   * Where this volunteer's pay should go (an embedding site's treasury, the volunteer's wallet).
   * The worker signs a payout authorisation once and sends it with its work requests; coordinators
   * that pay it record it on chain. Default: pay stays with the worker's own key.
   */
  payout?: Address | undefined
  /** The capability probe measured at start (lib/env/probe.ts), sent with work requests. */
  capability?: Capability | undefined
}

export type WorkerState = 'idle' | 'working' | 'paused' | 'stopped'

export interface WorkerStats {
  state: WorkerState
  backend: string
  tasksDone: number
  lastComputeMs: number | undefined
  avgComputeMs: number | undefined
  jobsKnown: number
  currentJob: Hex | undefined
  /** Signed results waiting in the outbox for their coordinator's acknowledgement. */
  pendingResults: number
  /** Share of time this worker currently computes (throttle: duty cycle, hidden tab, slowdown). */
  duty: number
  /** Recent problems, newest last (at most 10), for the volunteer's page. */
  problems: Array<{ at: number; message: string }>
}

export interface TaskDoneDetail {
  jobId: Hex
  taskIndex: number
  computeMs: number
  verdict: string | undefined
}

export interface Worker {
  start(): void
  stop(): Promise<void>
  pause(): void
  resume(): void
  stats(): WorkerStats
  /** `stats` on any change; `task` (CustomEvent<TaskDoneDetail>) per delivered result. */
  events: EventTarget
}

interface KnownJob {
  ann: JobAnnouncement
  policy: AgreementPolicy
  inputsRoot: Hex
  check: 'pending' | 'ok' | 'rejected'
  retryAt: number
  failures: number
}

const MODEL_ERROR_CODES: Record<string, TaskErrorMessage['code']> = {
  'hash-mismatch': 'model-hash-mismatch',
  'too-large': 'model-too-large',
  unsupported: 'model-unsupported',
  'not-found': 'model-unavailable',
  'fetch-failed': 'model-unavailable',
}

/** Store meta key of the last payout authorisation's address and nonce. */
const PAYOUT_KEY = 'payout'

/**
 * The payout authorisation for work requests. A payout address seen before keeps its nonce (the
 * same authorisation); a new one takes a nonce above the last, at least the time in seconds, so
 * that it replaces the old one on chain even if this store was cleared and the key kept.
 */
export async function payoutAuthorisation(
  store: Store,
  identity: Identity,
  chain: WorkerChain,
  payout: Address,
): Promise<NonNullable<WorkRequest['payout']>> {
  const saved = await store.getMeta<{ payout: string; nonce: string }>(PAYOUT_KEY)
  let nonce: bigint
  if (saved && saved.payout.toLowerCase() === payout.toLowerCase()) nonce = BigInt(saved.nonce)
  else {
    const now = BigInt(Math.floor(Date.now() / 1000))
    const next = BigInt(saved?.nonce ?? 0) + 1n
    nonce = next > now ? next : now
    await store.setMeta(PAYOUT_KEY, { payout, nonce: nonce.toString() })
  }
  const signature = await signPayout(
    identity.account,
    { chainId: chain.chainId, contract: chain.contract },
    payout,
    nonce,
  )
  return { payout, nonce: nonce.toString(), signature }
}

export function createWorker(init: WorkerInit): Worker {
  const log = init.log ?? createLogger('worker')
  const { node, compute } = init
  /** Signed once; a failure (storage) only means the pay stays with this key. */
  const payout = init.payout
    ? payoutAuthorisation(init.store, init.identity, init.chain, init.payout).catch((err) => {
        log.warn('payout authorisation failed; pay stays with this key', {
          error: errorMessage(err),
        })
        return undefined
      })
    : Promise.resolve(undefined)
  const events = new EventTarget()
  const jobs = new Map<Hex, KnownJob>()
  let state: WorkerState = 'idle'
  let tasksDone = 0
  let totalMs = 0
  let lastMs: number | undefined
  let currentJob: Hex | undefined
  const problems: WorkerStats['problems'] = []
  let wake: (() => void) | undefined
  let loop: Promise<void> | undefined
  let unsubscribe: (() => void) | undefined
  let outboxTimer: ReturnType<typeof setInterval> | undefined
  let pendingResults = 0
  let duty = 1
  const recentMs: number[] = []
  const delivering = new Set<string>()
  /** Deliveries in flight, awaited on stop. */
  const deliveries = new Set<Promise<void>>()
  const retries = new Map<string, { at: number; delayMs: number }>()
  const abort = new AbortController()

  const changed = () => events.dispatchEvent(new Event('stats'))
  const problem = (message: string) => {
    problems.push({ at: Date.now(), message })
    if (problems.length > 10) problems.shift()
    log.warn(message)
    changed()
  }
  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(resolve, ms)
      wake = () => {
        clearTimeout(t)
        resolve()
      }
    })

  const onAnnouncement = (msg: JobAnnouncement | JobClosed) => {
    const jobId = msg.jobId as Hex
    if (msg.type === 'job-closed' || msg.open === 0) {
      if (jobs.delete(jobId)) changed()
      return
    }
    if (
      msg.chainId !== init.chain.chainId ||
      msg.contract.toLowerCase() !== init.chain.contract.toLowerCase()
    )
      return
    const known = jobs.get(jobId)
    if (known) {
      known.ann = msg
      return
    }
    let policy: AgreementPolicy
    try {
      policy = parsePolicy(msg.policy)
    } catch {
      return
    }
    const job: KnownJob = {
      ann: msg,
      policy,
      inputsRoot: '0x',
      check: 'pending',
      retryAt: 0,
      failures: 0,
    }
    jobs.set(jobId, job)
    void checkOnChain(job)
    // Results held for this job can go to its coordinator's announced addresses now.
    for (const key of retries.keys()) if (key.startsWith(`${jobId}:`)) retries.delete(key)
    if (pendingResults > 0) void flushOutbox()
    changed()
  }

  /** Works only for jobs whose escrow exists on chain and matches what was announced. */
  const checkOnChain = async (job: KnownJob) => {
    try {
      const onchain = await readJob(init.chain.client, init.chain.contract, job.ann.jobId as Hex)
      const a = job.ann
      const mismatch = !onchain
        ? 'no such job on chain'
        : onchain.refunded
          ? 'job refunded'
          : onchain.modelHash.toLowerCase() !== a.modelHash.toLowerCase()
            ? 'model hash differs from chain'
            : formatPolicy(onchain.policy) !== formatPolicy(job.policy)
              ? 'policy differs from chain'
              : onchain.taskCount !== a.taskCount ||
                  onchain.replicas !== a.replicas ||
                  onchain.quorum !== a.quorum
                ? 'task counts differ from chain'
                : onchain.rewardPerResult.toString() !== a.rewardPerResult
                  ? 'reward differs from chain'
                  : onchain.deadline !== a.deadline
                    ? 'deadline differs from chain'
                    : undefined
      if (mismatch) {
        job.check = 'rejected'
        problem(`Ignoring job ${short(a.jobId)}: ${mismatch}.`)
      } else {
        job.check = 'ok'
        job.inputsRoot = onchain!.inputsRoot
        wake?.()
      }
    } catch (err) {
      job.check = 'pending'
      job.retryAt = Date.now() + 2000
      log.debug('job check failed', { error: errorMessage(err) })
      setTimeout(() => void checkOnChain(job), 2000)
    }
    changed()
  }

  const nextJob = (): KnownJob | undefined => {
    const now = Date.now()
    const ready = [...jobs.values()].filter(
      (j) => j.check === 'ok' && j.retryAt <= now && j.ann.deadline > now / 1000,
    )
    // Round robin: the job served longest ago first.
    ready.sort((a, b) => a.retryAt - b.retryAt)
    return ready[0]
  }

  const backoff = (job: KnownJob, ms?: number) => {
    job.failures++
    job.retryAt = Date.now() + (ms ?? Math.min(30_000, 500 * 2 ** Math.min(job.failures, 6)))
  }

  const coordinatorAddrs = (job: KnownJob) => job.ann.addrs.map((a) => multiaddr(a))

  const reportError = async (
    job: KnownJob,
    lease: Lease,
    code: TaskErrorMessage['code'],
    message: string,
  ) => {
    const msg: TaskErrorMessage = {
      type: 'task-error',
      jobId: lease.jobId,
      taskIndex: lease.taskIndex,
      leaseId: lease.leaseId,
      code,
      message: message.slice(0, 512),
    }
    await request(node, coordinatorAddrs(job), PROTOCOLS.result, msg, resultResponseSchema, {
      signal: abort.signal,
    }).catch(() => {})
  }

  /**
   * Loads the job's model (cache, then the app's sources, then the coordinator); shared while it
   * runs. `after`: the coordinator is asked only once that settles (its work request's dial), so
   * that two dials to one peer do not race.
   */
  const prepareModel = (job: KnownJob, after?: Promise<unknown>) =>
    compute.prepare(job.ann.modelHash as Hex, async (maxBytes) => {
      await after
      return fetchModelFromPeer(
        node,
        coordinatorAddrs(job),
        job.ann.modelHash as Hex,
        Math.min(maxBytes, init.maxModelBytes ?? 64 * 1024 * 1024),
        abort.signal,
      )
    })

  const runLease = async (job: KnownJob, lease: Lease) => {
    const jobId = lease.jobId as Hex
    if (lease.taskIndex >= job.ann.taskCount) throw new Error('lease for a task outside the job')
    let inputs: TensorMap
    try {
      inputs = fromWireTensors(lease.inputs)
    } catch (err) {
      await reportError(job, lease, 'bad-input-proof', errorMessage(err))
      throw err
    }
    const hash = inputHash(inputs)
    if (
      hash !== lease.inputHash ||
      !verifyInputProof(job.inputsRoot, lease.taskIndex, hash, lease.proof as Hex[])
    ) {
      // The coordinator sent inputs the job never committed to: stop working for it.
      job.check = 'rejected'
      await reportError(job, lease, 'bad-input-proof', 'inputs do not match the job commitment')
      problem(
        `Job ${short(jobId)} sent inputs that do not match its on-chain commitment; leaving it.`,
      )
      return
    }
    let outputs: TensorMap
    const started = performance.now()
    try {
      await prepareModel(job)
      const t0 = performance.now()
      outputs = await compute.run(job.ann.modelHash as Hex, inputs)
      lastMs = performance.now() - t0
      recentMs.push(lastMs)
      if (recentMs.length > 20) recentMs.shift()
    } catch (err) {
      const name = (err as { name?: string }).name
      const reason = (err as { reason?: string }).reason
      const code: TaskErrorMessage['code'] =
        name === 'ModelError'
          ? (MODEL_ERROR_CODES[reason ?? ''] ?? 'model-unsupported')
          : name === 'InputMismatchError'
            ? 'input-mismatch'
            : 'inference-failed'
      const details = (err as { details?: string }).details
      const message =
        `${err instanceof BaseError ? err.shortMessage : errorMessage(err)}${details ? ` ${details}` : ''}`.slice(
          0,
          500,
        )
      // Local state first, then tell the coordinator (which may close the job at once).
      if (code !== 'inference-failed' && code !== 'model-unavailable') {
        job.check = 'rejected'
        problem(`Cannot run job ${short(jobId)}: ${message}`)
      } else {
        problem(`Task ${lease.taskIndex} of job ${short(jobId)} failed: ${message}`)
        backoff(job)
      }
      await reportError(job, lease, code, message)
      return
    }
    const computeMs = lastMs ?? performance.now() - started
    const hashOut = resultHash(outputs, job.policy)
    const signature = await signResult(
      init.identity.account,
      { chainId: init.chain.chainId, contract: init.chain.contract },
      { jobId, taskIndex: lease.taskIndex, resultHash: hashOut },
    )
    const record: OutboxRecord = {
      jobId,
      taskIndex: lease.taskIndex,
      coordinator: job.ann.coordinator,
      coordinatorAddrs: job.ann.addrs,
      deadline: job.ann.deadline,
      leaseId: lease.leaseId,
      resultHash: hashOut,
      signature,
      outputs,
      backend: compute.backend,
      computeMs,
      createdAt: Date.now(),
    }
    await init.store.putOutbox(record)
    pendingResults++
    job.failures = 0
    // Delivered in the background while the next task computes: the result is safe in the
    // outbox, and a failed delivery is retried from there. One at a time, so that this worker
    // stays within the leases a coordinator lets it hold (computing, fetched, delivering).
    await Promise.all(deliveries)
    const delivery = deliver(record).then((r) => {
      if (r !== 'retry') return
      problem(
        `Could not deliver the result of task ${lease.taskIndex} of job ${short(jobId)}; it is kept and sent when its coordinator is reachable.`,
      )
      backoff(job)
    })
    deliveries.add(delivery)
    void delivery.finally(() => deliveries.delete(delivery))
  }

  /**
   * Sends one outbox entry to the job's coordinator (its latest announced addresses, else those
   * stored with the result). The entry is deleted once the coordinator recorded it, already had
   * it, or refused it for good; on a network failure it stays for the next try.
   */
  const deliver = async (
    o: OutboxRecord,
  ): Promise<'delivered' | 'refused' | 'retry' | 'in-flight'> => {
    const key = `${o.jobId}:${o.taskIndex}`
    // The outbox flush may have picked it up already.
    if (delivering.has(key)) return 'in-flight'
    delivering.add(key)
    const drop = async () => {
      await init.store.deleteOutbox(o.jobId, o.taskIndex)
      retries.delete(key)
      pendingResults = Math.max(0, pendingResults - 1)
    }
    try {
      const addrs = jobs.get(o.jobId)?.ann.addrs ?? o.coordinatorAddrs ?? []
      if (addrs.length === 0) return 'retry'
      const ack = await request(
        node,
        addrs.map((a) => multiaddr(a)),
        PROTOCOLS.result,
        {
          type: 'result',
          jobId: o.jobId,
          taskIndex: o.taskIndex,
          leaseId: o.leaseId,
          resultHash: o.resultHash,
          signature: o.signature,
          backend: o.backend,
          computeMs: Math.round(o.computeMs ?? 0),
          outputs: toWireTensors(o.outputs),
        },
        resultResponseSchema,
        { signal: abort.signal },
      )
      // A coordinator that does not run the job (yet: a tab that is reloading) may later.
      if (ack.type === 'error' && ack.code === 'unknown-job') return 'retry'
      if (ack.type === 'error' || ack.status === 'rejected') {
        await drop()
        // WebGPU computed a known task wrongly: this model runs on WASM from now on.
        if (ack.type === 'result-ack' && ack.reason?.startsWith(WEBGPU_REFUSED)) {
          const model = jobs.get(o.jobId)?.ann.modelHash
          if (model) compute.demote?.(model as Hex, ack.reason)
        }
        problem(
          `Result for task ${o.taskIndex} was rejected: ${ack.type === 'error' ? ack.message : ack.reason}`,
        )
        return 'refused'
      }
      await drop()
      tasksDone++
      totalMs += o.computeMs ?? 0
      events.dispatchEvent(
        new CustomEvent<TaskDoneDetail>('task', {
          detail: {
            jobId: o.jobId,
            taskIndex: o.taskIndex,
            computeMs: o.computeMs ?? 0,
            verdict: ack.verdict,
          },
        }),
      )
      changed()
      return 'delivered'
    } catch (err) {
      log.debug('result delivery failed', { jobId: o.jobId, error: errorMessage(err) })
      return 'retry'
    } finally {
      delivering.delete(key)
    }
  }

  /** Retries undelivered results (backoff 1 s doubling to 10 s); drops those past their deadline. */
  let outboxRead = false
  const flushOutbox = async () => {
    // After the first read the count is kept in step with the store: skip the read when empty.
    if (outboxRead && pendingResults === 0) return
    let entries: OutboxRecord[]
    try {
      entries = await init.store.listOutbox()
      outboxRead = true
    } catch (err) {
      log.debug('outbox read failed', { error: errorMessage(err) })
      return
    }
    if (entries.length !== pendingResults) {
      pendingResults = entries.length
      changed()
    }
    const now = Date.now()
    for (const o of entries) {
      if (state === 'stopped') return
      const key = `${o.jobId}:${o.taskIndex}`
      if (o.deadline !== undefined && now / 1000 > o.deadline) {
        await init.store.deleteOutbox(o.jobId, o.taskIndex)
        retries.delete(key)
        pendingResults = Math.max(0, pendingResults - 1)
        problem(`Dropped the undelivered result of task ${o.taskIndex}: its job's deadline passed.`)
        continue
      }
      const r = retries.get(key)
      if (delivering.has(key) || (r && r.at > now)) continue
      if ((await deliver(o)) === 'retry') {
        const delayMs = Math.min(10_000, (r?.delayMs ?? 500) * 2)
        retries.set(key, { at: Date.now() + delayMs, delayMs })
      }
    }
  }

  /** Asks the job's coordinator for a task; never rejects (the loop handles both outcomes). */
  const askWork = (job: KnownJob): Promise<{ res: WorkResponse } | { err: unknown }> =>
    payout
      .then((auth) =>
        request(
          node,
          coordinatorAddrs(job),
          PROTOCOLS.work,
          {
            type: 'work-request',
            jobId: job.ann.jobId,
            backend: compute.backend,
            runtime: compute.runtime,
            ...(auth ? { payout: auth } : {}),
            ...(init.capability ? { capability: init.capability } : {}),
          },
          workResponseSchema,
          { signal: abort.signal },
        ),
      )
      .then(
        (res) => ({ res }),
        (err: unknown) => ({ err }),
      )

  const work = async () => {
    /**
     * The next task, asked for while the current one computes, so that the lease round trip
     * overlaps compute (the coordinator lets a worker hold two leases). Only at full duty: a
     * throttled worker rests between tasks anyway. A task already taken is run even if the
     * volunteer paused meanwhile, so that its lease does not expire as a timeout.
     */
    let next:
      | { job: KnownJob; answer: ReturnType<typeof askWork>; prefetched?: boolean }
      | undefined
    while (state !== 'stopped') {
      if (!next) {
        if (state === 'paused') {
          await sleep(60_000)
          continue
        }
        const t = init.throttle?.()
        const nowDuty = t ? effectiveDuty(t.settings, t.hidden, recentMs) : 1
        if (nowDuty !== duty) {
          duty = nowDuty
          changed()
        }
        if (duty <= 0) {
          // e.g. a hidden tab set to give nothing while hidden: check again in a second.
          await sleep(1000)
          continue
        }
        const job = nextJob()
        if (!job) {
          if (state !== 'idle') {
            state = 'idle'
            currentJob = undefined
            changed()
          }
          await sleep(500)
          continue
        }
        const answer = askWork(job)
        next = { job, answer }
        // Load the model while the lease is on its way (a failure is reported by the lease).
        void prepareModel(job, answer).catch(() => {})
      }
      const { job, answer, prefetched } = next
      next = undefined
      currentJob = job.ann.jobId as Hex
      const got = await answer
      if ('err' in got) {
        if (abort.signal.aborted) break
        // A coordinator that answers with something invalid is worth showing; a network hiccup is not.
        if (got.err instanceof InvalidMessageError)
          problem(
            `Coordinator of job ${short(job.ann.jobId)} sent an invalid answer: ${got.err.details ?? got.err.shortMessage}`,
          )
        else
          log.debug('work request failed', { jobId: job.ann.jobId, error: errorMessage(got.err) })
        backoff(job)
        continue
      }
      const res = got.res
      try {
        if (res.type === 'lease') {
          if (state === 'idle') {
            state = 'working'
            changed()
          }
          if (duty >= 1 && state === 'working')
            next = { job, answer: askWork(job), prefetched: true }
          await runLease(job, res)
          job.retryAt = Date.now()
          const rest = restAfter(lastMs ?? 0, duty)
          if (rest > 0 && Number.isFinite(rest)) await sleep(rest)
        } else if (res.type === 'no-work') {
          if (res.reason === 'job-complete' || res.reason === 'unknown-job')
            jobs.delete(job.ann.jobId as Hex)
          // Asked ahead while a result was still on its way: ask again now that it is not.
          else if (res.reason === 'busy' && prefetched) continue
          else backoff(job, res.retryAfterMs)
        } else {
          problem(`Coordinator of job ${short(job.ann.jobId)} said: ${res.message}`)
          backoff(job)
        }
      } catch (err) {
        if (abort.signal.aborted) break
        log.debug('task failed', { jobId: job.ann.jobId, error: errorMessage(err) })
        backoff(job)
      }
    }
  }

  return {
    start() {
      if (loop) return
      unsubscribe = onGossip<JobAnnouncement | JobClosed>(node, TOPICS.jobs, onAnnouncement)
      loop = work()
      void flushOutbox()
      outboxTimer = setInterval(() => void flushOutbox(), init.outboxIntervalMs ?? 3000)
    },
    async stop() {
      state = 'stopped'
      if (outboxTimer) clearInterval(outboxTimer)
      abort.abort()
      unsubscribe?.()
      wake?.()
      await loop
      await Promise.all(deliveries)
      changed()
    },
    pause() {
      if (state === 'stopped') return
      state = 'paused'
      changed()
    },
    resume() {
      if (state !== 'paused') return
      state = 'idle'
      wake?.()
      changed()
    },
    stats: () => ({
      state,
      backend: compute.backend,
      tasksDone,
      lastComputeMs: lastMs,
      avgComputeMs: tasksDone > 0 ? totalMs / tasksDone : undefined,
      jobsKnown: jobs.size,
      currentJob,
      pendingResults,
      duty,
      problems: [...problems],
    }),
    events,
  }
}

function short(h: string) {
  return `${h.slice(0, 10)}…`
}

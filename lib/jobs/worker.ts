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
 *
 * Authority (docs/trust.md): a job counts only when its announcer is the coordinator named on
 * chain for it, and once checked its terms are fixed: a later announcement that changes them,
 * or one by any other peer, is ignored, and so is a closure by anyone but that coordinator. The
 * worker never signs two different results for one task (the store keeps what it signed, and a
 * model whose outputs differ between two runs is refused before anything is signed), so no one
 * can get an honest worker slashed. Its pay comes as the coordinator's cumulative claims, kept
 * in the store and redeemable without the requester; the worker stops taking a job's leases
 * while more than MAX_UNPAID of its delivered results to one coordinator are not paid by its
 * signed claims.
 */
import { multiaddr } from '@multiformats/multiaddr'
import type { Address, Hex, PublicClient } from 'viem'
import { createdJobIds, type OnchainJob, readJob } from '../chain'
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
  sendResult,
  type TaskErrorMessage,
  TOPICS,
  toWireTensors,
  workResponseSchema,
} from '../mesh'
import { addressOfPeer } from '../mesh/identity'
import type { Lease, ResultHeader, WireClaim, WorkRequest, WorkResponse } from '../mesh/messages'
import {
  type AgreementPolicy,
  formatPolicy,
  inputHash,
  parsePolicy,
  recoverClaimSigner,
  resultHash,
  signPayout,
  signResult,
  type TensorMap,
  verifyInputProof,
} from '../proofs'
import type { ClaimRecord, OutboxRecord, Store } from '../store'
import { createJobIdCheck } from './job-ids'
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
  /** Announcements not acted on, by reason (a flood shows here, not in memory or RPC calls). */
  announcementsIgnored: Partial<Record<AnnouncementIgnored, number>>
  /** Calls to the chain RPC for announcements: existence batches and job checks. */
  announcementRpcCalls: number
  currentJob: Hex | undefined
  /** Claims held: jobs, results they pay, and wei not yet redeemed on chain (as last seen). */
  claims: { jobs: number; results: number; unredeemedWei: bigint }
  /** Signed results waiting in the outbox for their coordinator's acknowledgement. */
  pendingResults: number
  /** Share of time this worker currently computes (throttle: duty cycle, hidden tab, slowdown). */
  duty: number
  /** Recent problems, newest last (at most 10), for the volunteer's page. */
  problems: Array<{ at: number; message: string }>
  /**
   * What its last work request got, e.g. `lease`, `no-work:all-leased`, `failed` (no answer):
   * why an idle volunteer is idle.
   */
  lastAnswer?: string | undefined
}

export interface TaskDoneDetail {
  jobId: Hex
  taskIndex: number
  computeMs: number
}

export interface Worker {
  start(): void
  stop(): Promise<void>
  pause(): void
  resume(): void
  stats(): WorkerStats
  /** The claims this worker holds, newest per job (from the store). */
  claims(): Promise<ClaimRecord[]>
  /** Notes what the chain says was redeemed for a job (after a redemption). */
  noteRedeemed(jobId: Hex, results: number): Promise<void>
  /**
   * `stats` on any change; `task` (CustomEvent<TaskDoneDetail>) per delivered result; `claim`
   * (CustomEvent<ClaimRecord>) when a claim grew; `job-ended` (CustomEvent<{ jobId }>) when a
   * job this worker holds a claim in is over.
   */
  events: EventTarget
}

/**
 * Delivered results one coordinator's signed claims may leave unpaid before this worker stops
 * taking its leases and only asks for its claim: what it has at risk with one coordinator. Two
 * leases computing and one delivering, with the quorum's other replicas still to arrive, fit
 * inside it many times over; so do the tasks a coordinator holds back for a minute after a
 * trusted worker decided them alone (at most MAX_HELD_SINGLES, lib/jobs/job-run.ts), without
 * which adaptive replication could not save work on fast tasks. Results that did not agree with
 * the quorum stay in it.
 */
export const MAX_UNPAID = 32
/**
 * A model runs on WASM from now on once this many of the worker's WebGPU results in one job were
 * decided and not paid since its claim last grew: a coordinator does not say that a WebGPU
 * answer was wrong (a refusal would tell which task was a check), it stops counting that path's
 * results.
 */
export const WEBGPU_UNPAID_DEMOTE = 3

/**
 * Whether a job's claim says this worker's WebGPU path is not counted: WEBGPU_UNPAID_DEMOTE more
 * decided results unpaid than there were (`unpaidAtPay`) when its pay last grew.
 */
export function webgpuUnpaid(
  claim: { decided: number; results: number },
  unpaidAtPay: number,
): boolean {
  return claim.decided - claim.results - unpaidAtPay >= WEBGPU_UNPAID_DEMOTE
}

interface KnownJob {
  /** The latest announcement of the job's checked coordinator (its addresses may change). */
  ann: JobAnnouncement
  policy: AgreementPolicy
  inputsRoot: Hex
  check: 'pending' | 'ok' | 'rejected'
  retryAt: number
  failures: number
  /** The coordinator named on chain (set by the check). */
  coordinator?: Address | undefined
  /** Chain checks that failed to answer (RPC errors), for their backoff. */
  checkErrors: number
}

/**
 * Why an announcement was not acted on. `not-on-chain`: no JobCreated event names its id;
 * `check-dropped`: its existence check was dropped from a full queue or failed (it is asked again
 * at its next announcement); `check-failed`: its terms or announcer differ from the chain;
 * `recently-rejected`: the same id and announcer failed less than REJECTED_TTL_MS ago;
 * `too-many-unchecked`: MAX_UNCHECKED_JOBS jobs wait for their check; `bad-policy`: unparsable.
 */
export type AnnouncementIgnored =
  | 'not-on-chain'
  | 'check-dropped'
  | 'check-failed'
  | 'recently-rejected'
  | 'too-many-unchecked'
  | 'bad-policy'

/**
 * Jobs announced, known to exist on chain and not checked against their terms yet, at most.
 * Made-up ids never get this far (lib/jobs/job-ids.ts): only real jobs, which cost gas, count.
 */
const MAX_UNCHECKED_JOBS = 32
/** Asks for a job's final claim when it ends, while the claim held is behind (1 s, 2 s, 4 s apart). */
const FINAL_CLAIM_TRIES = 4
/** How long a job read from the chain answers further checks of the same id (ms). */
const ONCHAIN_JOB_TTL_MS = 30_000
/** Jobs read from the chain kept for ONCHAIN_JOB_TTL_MS, at most. */
const MAX_ONCHAIN_JOBS = 256
/** How long an announcement that failed its check is not checked again (ms). */
const REJECTED_TTL_MS = 60_000

/** The terms an announcement may never change once checked, by name. */
function changedTerm(a: JobAnnouncement, b: JobAnnouncement): string | undefined {
  if (a.modelHash.toLowerCase() !== b.modelHash.toLowerCase()) return 'model'
  if (a.policy !== b.policy) return 'policy'
  if (a.taskCount !== b.taskCount || a.replicas !== b.replicas || a.quorum !== b.quorum)
    return 'task counts'
  if (a.rewardPerResult !== b.rewardPerResult) return 'reward'
  if (a.deadline !== b.deadline) return 'deadline'
  if (a.chainId !== b.chainId || a.contract.toLowerCase() !== b.contract.toLowerCase())
    return 'chain'
  return undefined
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
  /** `jobId:announcer` pairs whose check failed, until when (ms); bounded. */
  const rejected = new Map<string, number>()
  /** Which announced ids exist on chain, asked in bounded batches (one RPC call per batch). */
  const idCheck = createJobIdCheck({
    created: (ids) => createdJobIds(init.chain.client, init.chain.contract, ids),
  })
  /**
   * `jobId:announcer` pairs whose existence is being asked. Bounded by idCheck's queue, which
   * answers every ask (8 per id at most, the rest at once as dropped).
   */
  const asking = new Set<string>()
  /** Recent `getJob` answers by id: a forged announcer of a real job costs no further call. */
  const onchainJobs = new Map<Hex, { at: number; job: OnchainJob }>()
  const ignored: Partial<Record<AnnouncementIgnored, number>> = {}
  let jobChecks = 0
  const ignore = (why: AnnouncementIgnored) => {
    ignored[why] = (ignored[why] ?? 0) + 1
  }
  /** Latest claim per job (a copy of the store's, loaded at start). */
  const claims = new Map<Hex, ClaimRecord>()
  /** Models (with backend and policy) whose outputs were the same in two runs. */
  const deterministic = new Set<string>()
  const me = init.identity.address.toLowerCase()
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
    const known = jobs.get(jobId)
    if (msg.type === 'job-closed' || msg.open === 0) {
      // Only the checked coordinator closes its job (the gossip signer is `msg.coordinator`).
      if (known?.check === 'ok' && msg.coordinator === known.ann.coordinator) void endJob(known)
      return
    }
    if (
      msg.chainId !== init.chain.chainId ||
      msg.contract.toLowerCase() !== init.chain.contract.toLowerCase()
    )
      return
    if (known) {
      // Another peer's announcement for a job someone else announced first: not its to change.
      if (msg.coordinator !== known.ann.coordinator) return
      const changed = changedTerm(known.ann, msg)
      if (changed) {
        if (known.check === 'ok')
          problem(`Ignoring an announcement of job ${short(jobId)} that changes its ${changed}.`)
        return
      }
      known.ann = msg
      return
    }
    const key = `${jobId}:${msg.coordinator}`
    const until = rejected.get(key)
    if (until !== undefined && until > Date.now()) return ignore('recently-rejected')
    let policy: AgreementPolicy
    try {
      policy = parsePolicy(msg.policy)
    } catch {
      return ignore('bad-policy')
    }
    // Does the job exist at all? Asked in batches, so a flood of made-up ids costs a bounded
    // number of calls and never enters the job map. Per announcer: a stranger's announcement of
    // a predicted id does not hold its coordinator's back. The same announcer's next
    // announcement waits meanwhile.
    if (asking.has(key)) return
    asking.add(key)
    void idCheck.exists(jobId, msg.coordinator).then((v) => {
      asking.delete(key)
      if (state === 'stopped') return
      if (v === 'created') admit(msg, policy)
      else ignore(v === 'missing' ? 'not-on-chain' : 'check-dropped')
    })
  }

  /** A job that exists on chain: remembered and checked against its terms. */
  const admit = (msg: JobAnnouncement, policy: AgreementPolicy) => {
    const jobId = msg.jobId as Hex
    if (jobs.has(jobId)) return
    let unchecked = 0
    for (const j of jobs.values()) if (j.check === 'pending') unchecked++
    if (unchecked >= MAX_UNCHECKED_JOBS) return ignore('too-many-unchecked')
    const job: KnownJob = {
      ann: msg,
      policy,
      inputsRoot: '0x',
      check: 'pending',
      retryAt: 0,
      failures: 0,
      checkErrors: 0,
    }
    jobs.set(jobId, job)
    void checkOnChain(job)
    changed()
  }

  /** Forgets an announcement that failed its check, and does not check it again for a while. */
  const reject = (job: KnownJob) => {
    const jobId = job.ann.jobId as Hex
    if (jobs.get(jobId) === job) jobs.delete(jobId)
    rejected.set(`${jobId}:${job.ann.coordinator}`, Date.now() + REJECTED_TTL_MS)
    if (rejected.size > 1000) rejected.delete(rejected.keys().next().value!)
    changed()
  }

  /** `getJob`, answered from a recent read of the same job when there is one. */
  const readOnchainJob = async (jobId: Hex): Promise<OnchainJob | undefined> => {
    const id = jobId.toLowerCase() as Hex
    const hit = onchainJobs.get(id)
    if (hit && Date.now() - hit.at < ONCHAIN_JOB_TTL_MS) return hit.job
    jobChecks++
    const job = await readJob(init.chain.client, init.chain.contract, jobId)
    // Only jobs found: one missing now may be found a block later.
    if (job) {
      onchainJobs.delete(id)
      onchainJobs.set(id, { at: Date.now(), job })
      if (onchainJobs.size > MAX_ONCHAIN_JOBS) onchainJobs.delete(onchainJobs.keys().next().value!)
    }
    return job
  }

  /**
   * Works only for jobs whose escrow exists on chain, names the announcer as coordinator, and
   * matches what was announced.
   */
  const checkOnChain = async (job: KnownJob) => {
    const a = job.ann
    try {
      const onchain = await readOnchainJob(a.jobId as Hex)
      const announcer = addressOfPeer(a.coordinator)?.toLowerCase()
      const checks: Array<[boolean, string]> = onchain
        ? [
            [onchain.refunded, 'job refunded'],
            [
              announcer !== onchain.coordinator.toLowerCase(),
              'its announcer is not the coordinator named on chain',
            ],
            [
              onchain.modelHash.toLowerCase() !== a.modelHash.toLowerCase(),
              'model hash differs from chain',
            ],
            [
              formatPolicy(onchain.policy) !== formatPolicy(job.policy),
              'policy differs from chain',
            ],
            [
              onchain.taskCount !== a.taskCount ||
                onchain.replicas !== a.replicas ||
                onchain.quorum !== a.quorum,
              'task counts differ from chain',
            ],
            [onchain.rewardPerResult.toString() !== a.rewardPerResult, 'reward differs from chain'],
            [onchain.deadline !== a.deadline, 'deadline differs from chain'],
          ]
        : [[true, 'no such job on chain']]
      const mismatch = checks.find(([bad]) => bad)?.[1]
      if (mismatch) {
        job.check = 'rejected'
        ignore('check-failed')
        // Anyone can announce anything: say so only for the job's own coordinator.
        if (onchain && announcer === onchain.coordinator.toLowerCase())
          problem(`Ignoring job ${short(a.jobId)}: ${mismatch}.`)
        else log.debug('ignored an announcement', { jobId: a.jobId, reason: mismatch })
        reject(job)
        return
      }
      job.check = 'ok'
      job.inputsRoot = onchain!.inputsRoot
      job.coordinator = onchain!.coordinator
      // Results held for this job can go to its coordinator's announced addresses now.
      for (const key of retries.keys()) if (key.startsWith(`${a.jobId}:`)) retries.delete(key)
      if (pendingResults > 0) void flushOutbox()
      wake?.()
    } catch (err) {
      job.check = 'pending'
      job.checkErrors++
      const delay = Math.min(30_000, 2000 * 2 ** Math.min(job.checkErrors - 1, 4))
      job.retryAt = Date.now() + delay
      log.debug('job check failed', { error: errorMessage(err) })
      setTimeout(() => {
        if (jobs.get(a.jobId as Hex) === job && state !== 'stopped') void checkOnChain(job)
      }, delay)
    }
    changed()
  }

  /** Results delivered to a job and not yet decided by its coordinator (paid or not). */
  const undecided = (jobId: Hex) => {
    const c = claims.get(jobId)
    return c ? Math.max(0, c.delivered - c.decided) : 0
  }

  /**
   * Results delivered to `coordinator`, over all its jobs, that its signed claims do not pay: what
   * this worker has at risk with it. Only signatures count here (the coordinator's `decided` is
   * its word, unsigned), so a result that was decided but not paid (a disagreement) stays at risk.
   */
  const unpaid = (coordinator: Address | undefined) => {
    if (!coordinator) return 0
    let n = 0
    for (const c of claims.values())
      if (c.coordinator.toLowerCase() === coordinator.toLowerCase())
        n += Math.max(0, c.delivered - c.results)
    return n
  }

  /** Jobs this worker delivered WebGPU results to, while that path is not yet demoted. */
  const onWebgpu = new Set<Hex>()
  let lastAnswer: string | undefined
  /** Per job: its decided results left unpaid when its claim last grew (`webgpuUnpaid`). */
  const unpaidAtPay = new Map<Hex, number>()
  /**
   * Keeps a claim from a coordinator's answer: only one signed by the job's coordinator on chain,
   * for this worker, covering more results than the one held. Never throws.
   */
  const onClaim = async (wire: WireClaim | undefined, asked: Hex) => {
    if (!wire || wire.jobId !== asked) return
    const jobId = wire.jobId as Hex
    try {
      const held = claims.get(jobId)
      const job = jobs.get(jobId)
      const coordinator = job?.coordinator ?? held?.coordinator
      if (!coordinator || wire.worker.toLowerCase() !== me) return
      const rec: ClaimRecord = held ?? {
        jobId,
        chainId: init.chain.chainId,
        contract: init.chain.contract,
        coordinator,
        worker: init.identity.address,
        results: 0,
        signature: '0x',
        rewardPerResult: job?.ann.rewardPerResult ?? '0',
        deadline: job?.ann.deadline ?? 0,
        delivered: 0,
        decided: 0,
        redeemed: 0,
        updatedAt: Date.now(),
      }
      rec.decided = Math.min(rec.delivered, wire.decided)
      const paid = Math.max(rec.results, wire.results)
      if (paid > rec.results || !unpaidAtPay.has(jobId))
        unpaidAtPay.set(jobId, Math.max(0, rec.decided - paid))
      if (
        onWebgpu.has(jobId) &&
        webgpuUnpaid({ decided: rec.decided, results: paid }, unpaidAtPay.get(jobId) ?? 0)
      ) {
        onWebgpu.delete(jobId)
        const model = job?.ann.modelHash
        if (model)
          compute.demote?.(
            model as Hex,
            `${rec.decided - paid} of its ${rec.decided} decided WebGPU results in job ${short(jobId)} were not paid`,
          )
      }
      let grew = false
      if (wire.results > rec.results) {
        const signer = await recoverClaimSigner(
          { chainId: rec.chainId, contract: rec.contract },
          { jobId, worker: init.identity.address, results: wire.results },
          wire.signature as Hex,
        )
        if (signer?.toLowerCase() !== coordinator.toLowerCase()) {
          problem(`The coordinator of job ${short(jobId)} sent a claim it did not sign.`)
          return
        }
        rec.results = wire.results
        rec.signature = wire.signature as Hex
        grew = true
      }
      rec.updatedAt = Date.now()
      claims.set(jobId, rec)
      saveClaim(rec)
      if (grew) events.dispatchEvent(new CustomEvent<ClaimRecord>('claim', { detail: { ...rec } }))
      changed()
    } catch (err) {
      log.warn('keeping a claim failed', { jobId, error: errorMessage(err) })
    }
  }

  /** One more of this worker's results signed for the job's coordinator (`delivered`). */
  const countDelivered = (jobId: Hex) => {
    const rec = claims.get(jobId)
    const job = jobs.get(jobId)
    const coordinator = job?.coordinator ?? rec?.coordinator
    if (!coordinator) return
    const next: ClaimRecord = rec ?? {
      jobId,
      chainId: init.chain.chainId,
      contract: init.chain.contract,
      coordinator,
      worker: init.identity.address,
      results: 0,
      signature: '0x',
      rewardPerResult: job?.ann.rewardPerResult ?? '0',
      deadline: job?.ann.deadline ?? 0,
      delivered: 0,
      decided: 0,
      redeemed: 0,
      updatedAt: Date.now(),
    }
    next.delivered++
    claims.set(jobId, next)
    saveClaim(next)
  }

  /**
   * Writes a claim record in the background, one write in flight per job (the newest wins): off
   * the task's critical path. A claim lost to a crash is not lost pay: claims are cumulative, and
   * the coordinator hands the newest one back with its next answer.
   */
  const claimWrites = new Map<Hex, Promise<void>>()
  const claimDirty = new Set<Hex>()
  const saveClaim = (rec: ClaimRecord) => {
    claimDirty.add(rec.jobId)
    if (claimWrites.has(rec.jobId)) return
    const write = (async () => {
      while (claimDirty.delete(rec.jobId)) {
        const latest = claims.get(rec.jobId)
        if (latest)
          await init.store
            .putClaim({ ...latest })
            .catch((err) =>
              log.warn('saving a claim failed', { jobId: rec.jobId, error: errorMessage(err) }),
            )
      }
    })().finally(() => claimWrites.delete(rec.jobId))
    claimWrites.set(rec.jobId, write)
  }

  /** Asks the job's coordinator for this worker's latest claim only. Never throws. */
  const askClaim = async (job: KnownJob) => {
    try {
      const res = await request(
        node,
        coordinatorAddrs(job),
        PROTOCOLS.work,
        {
          type: 'work-request',
          jobId: job.ann.jobId,
          backend: compute.backend,
          runtime: compute.runtime,
          want: 'claim',
        },
        workResponseSchema,
        { signal: abort.signal },
      )
      if (res.type !== 'error') await onClaim(res.claim, job.ann.jobId as Hex)
    } catch (err) {
      log.debug('claim request failed', { jobId: job.ann.jobId, error: errorMessage(err) })
    }
  }

  /** A job is over: fetch the final claim if results wait for one, then forget the job. */
  const endJob = async (job: KnownJob) => {
    const jobId = job.ann.jobId as Hex
    if (jobs.get(jobId) !== job) return
    jobs.delete(jobId)
    changed()
    // The newest claim (acks may carry one that lags a few results): ask while any result of
    // this job is not covered by the claim held.
    // A busy coordinator (its inbound budget) or a lost stream is asked again, a few times: the
    // job is forgotten after this, and with it the chance to ask.
    const behind = () => {
      const held = claims.get(jobId)
      return undecided(jobId) > 0 || (held !== undefined && held.delivered > held.results)
    }
    // The first ask as before; the retries in the background, so that the worker goes on to its
    // next job meanwhile.
    if (behind()) await askClaim(job)
    if (behind())
      void (async () => {
        for (let attempt = 1; attempt < FINAL_CLAIM_TRIES && behind(); attempt++) {
          await new Promise((r) => setTimeout(r, 500 * 2 ** attempt))
          if (state === 'stopped') return
          await askClaim(job)
        }
      })()
    if (claims.has(jobId))
      events.dispatchEvent(new CustomEvent<{ jobId: Hex }>('job-ended', { detail: { jobId } }))
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
    // Only the job asked for: a lease naming another job id would be signed for a job whose
    // terms this worker never checked (and outside its risk count).
    if (jobId !== job.ann.jobId) throw new Error(`lease for job ${jobId}, not the job asked for`)
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
      !verifyInputProof(
        job.inputsRoot,
        lease.taskIndex,
        job.ann.taskCount,
        hash,
        lease.proof as Hex[],
      )
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
    // The warm-up's second run needs inputs of its own: a run may transfer (detach) the buffers
    // of the inputs it is given (the browser's inference worker does).
    const runKey = `${job.ann.modelHash.toLowerCase()}:${compute.backend}:${job.ann.policy}`
    const spare = deterministic.has(runKey) ? undefined : structuredClone(inputs)
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
    // Warm-up: a model must give the same result twice on this backend before this worker signs
    // anything for it; one that does not could make it sign two results for one task.
    if (spare) {
      let again: string | undefined
      try {
        again = resultHash(await compute.run(job.ann.modelHash as Hex, spare), job.policy)
      } catch (err) {
        again = `failed: ${errorMessage(err)}`
      }
      if (again !== hashOut) {
        job.check = 'rejected'
        const message = `the model's outputs differ between two runs on ${compute.backend} under ${job.ann.policy}: refusing to sign results for it`
        problem(`Cannot run job ${short(jobId)}: ${message}.`)
        await reportError(job, lease, 'model-unsupported', message)
        return
      }
      deterministic.add(runKey)
    }
    // At most one result per task, ever: what was signed before is what is sent again.
    const earlier = await init.store.getSigned(jobId, lease.taskIndex)
    if (earlier && earlier.resultHash !== hashOut) {
      const message = `a different result for task ${lease.taskIndex} was signed before; this worker will not sign another`
      problem(`Job ${short(jobId)}: ${message}.`)
      await reportError(job, lease, 'result-conflict', message)
      return
    }
    const kept =
      earlier ??
      (await init.store.putSignedOnce({
        jobId,
        taskIndex: lease.taskIndex,
        resultHash: hashOut,
        signature: await signResult(
          init.identity.account,
          { chainId: init.chain.chainId, contract: init.chain.contract },
          { jobId, taskIndex: lease.taskIndex, resultHash: hashOut },
        ),
        signedAt: Date.now(),
        deadline: job.ann.deadline,
      }))
    if (kept.resultHash !== hashOut) {
      // Another lease of the same task signed first (a race): this signature is never sent.
      await reportError(job, lease, 'result-conflict', 'a different result was signed first')
      return
    }
    const signature = kept.signature
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
    // At risk from now on: counted when signed, not when acknowledged, so that results still on
    // their way count too.
    countDelivered(jobId)
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
      const ack = await sendResult(
        node,
        addrs.map((a) => multiaddr(a)),
        {
          type: 'result',
          jobId: o.jobId,
          taskIndex: o.taskIndex,
          leaseId: o.leaseId,
          resultHash: o.resultHash,
          signature: o.signature,
          // The store keeps it as text; it was this worker's compute.backend.
          backend: o.backend as ResultHeader['backend'],
          computeMs: Math.round(o.computeMs ?? 0),
        },
        toWireTensors(o.outputs),
        { signal: abort.signal },
      )
      // A coordinator that does not run the job (yet: a tab that is reloading) may later, and
      // one at its inbound limits (`busy`) takes it once it has room.
      if (ack.type === 'error' && (ack.code === 'unknown-job' || ack.code === 'busy'))
        return 'retry'
      if (ack.type === 'error' || ack.status === 'rejected') {
        await drop()
        problem(
          `Result for task ${o.taskIndex} was rejected: ${ack.type === 'error' ? ack.message : ack.reason}`,
        )
        return 'refused'
      }
      await drop()
      if (o.backend === 'webgpu') onWebgpu.add(o.jobId)
      await onClaim(ack.claim, o.jobId)
      tasksDone++
      totalMs += o.computeMs ?? 0
      events.dispatchEvent(
        new CustomEvent<TaskDoneDetail>('task', {
          detail: {
            jobId: o.jobId,
            taskIndex: o.taskIndex,
            computeMs: o.computeMs ?? 0,
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
        if (job && unpaid(job.coordinator) >= MAX_UNPAID) {
          // At the risk limit: no new lease until the coordinator's claims pay for results.
          await askClaim(job)
          if (unpaid(job.coordinator) >= MAX_UNPAID) backoff(job, 2000)
          continue
        }
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
      lastAnswer =
        'err' in got
          ? `failed: ${errorMessage(got.err).slice(0, 80)}`
          : got.res.type === 'no-work'
            ? `no-work:${got.res.reason}`
            : got.res.type === 'error'
              ? `error:${got.res.code}`
              : 'lease'
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
      if (res.type !== 'error') await onClaim(res.claim, job.ann.jobId as Hex)
      try {
        if (res.type === 'lease') {
          if (state === 'idle') {
            state = 'working'
            changed()
          }
          // The next lease is asked for only while this one would still be within the risk limit.
          if (duty >= 1 && state === 'working' && unpaid(job.coordinator) + 1 < MAX_UNPAID)
            next = { job, answer: askWork(job), prefetched: true }
          await runLease(job, res)
          job.retryAt = Date.now()
          const rest = restAfter(lastMs ?? 0, duty)
          if (rest > 0 && Number.isFinite(rest)) await sleep(rest)
        } else if (res.type === 'no-work') {
          if (res.reason === 'job-complete') await endJob(job)
          else if (res.reason === 'unknown-job') jobs.delete(job.ann.jobId as Hex)
          // Asked ahead while a result was still on its way: ask again now that it is not.
          else if (res.reason === 'busy' && prefetched) continue
          else backoff(job, res.retryAfterMs)
        } else {
          // `busy`: the coordinator is at its inbound limits (under load, or a flood): not news.
          if (res.code !== 'busy')
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
      void init.store
        .listClaims()
        .then((held) => {
          for (const c of held)
            if (c.worker.toLowerCase() === me && !claims.has(c.jobId)) claims.set(c.jobId, c)
          changed()
        })
        .catch((err) => log.warn('reading claims failed', { error: errorMessage(err) }))
      unsubscribe = onGossip<JobAnnouncement | JobClosed>(node, TOPICS.jobs, onAnnouncement)
      loop = work()
      void flushOutbox()
      outboxTimer = setInterval(() => void flushOutbox(), init.outboxIntervalMs ?? 3000)
    },
    async stop() {
      state = 'stopped'
      idCheck.stop()
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
      announcementsIgnored: { ...ignored },
      announcementRpcCalls: idCheck.stats().calls + jobChecks,
      currentJob,
      lastAnswer,
      claims: claimTotals(),
      pendingResults,
      duty,
      problems: [...problems],
    }),
    claims: async () => [...claims.values()].map((c) => ({ ...c })),
    async noteRedeemed(jobId, results) {
      const c = claims.get(jobId)
      if (!c || results <= c.redeemed) return
      c.redeemed = results
      await init.store.putClaim(c)
      changed()
    },
    events,
  }

  function claimTotals(): WorkerStats['claims'] {
    let results = 0
    let unredeemedWei = 0n
    for (const c of claims.values()) {
      results += c.results
      if (c.results > c.redeemed)
        unredeemedWei += BigInt(c.results - c.redeemed) * BigInt(c.rewardPerResult)
    }
    return { jobs: claims.size, results, unredeemedWei }
  }
}

function short(h: string) {
  return `${h.slice(0, 10)}…`
}

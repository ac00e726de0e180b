/**
 * One job as its coordinator runs it: which worker holds which lease, which results arrived,
 * which tasks reached quorum, which are settled. Tasks are persisted after every change, so a
 * reloaded coordinator resumes from the store.
 *
 * Task state machine (TaskRecord.status): open → accepted → settled, or open → failed.
 * "Settled" is the coordinator's decision to pay: nothing goes on chain for it. Each agreeing
 * worker's count of paid results rises by one, and the worker's claim (the coordinator's
 * signature over its cumulative count, redeemable by anyone for the worker) covers it from then
 * on. Counts are derived from the stored tasks, so a restarted coordinator signs the same
 * claims and never pays a task twice.
 *
 * Leases: a worker holds at most MAX_LEASES_PER_WORKER at once; a lease lasts about five times
 * the worker's measured compute time; an expired lease frees the replica for another worker, and
 * a worker whose leases expire MAX_CONSECUTIVE_TIMEOUTS times in a row is benched: no work for
 * BENCH_MS, then one lease at a time until it delivers a result (`benchRule`). Which
 * workers were ever leased a task is persisted (TaskRecord.leasedTo), so a reloaded coordinator
 * still accepts results that were computed while it was away, and so are its leases
 * (TaskRecord.leases, written when one is issued): a reloaded coordinator keeps those still
 * running rather than handing their replicas out again. When no task is left to hand out, a
 * task whose replicas run long is duplicated speculatively on an idle worker, again each time its
 * newest replica runs long (never beyond 2r results).
 *
 * Trust (docs/trust.md): tasks whose answer the requester computed itself (`known`) are handed
 * out only as canaries, indistinguishable from replicas; a far-off canary answer excludes the
 * worker, voids its results in unsettled tasks and reopens them. Tasks whose agreeing signers
 * have not passed a canary yet are held back from settlement while the job still runs. An
 * established worker may get a task to itself (`single`) with the adaptive rule's probability.
 * A worker that signs two different results for one task is excluded and reported for slashing.
 */
import type { PeerId } from '@libp2p/interface'
import { type Address, getAddress, type Hex } from 'viem'
import type { Equivocation } from '../chain'
import type { Logger } from '../env/log'
import { errorMessage } from '../errors'
import { addressOfPeer, fromWireTensors, toWireTensors } from '../mesh'
import type {
  ResultAck,
  ResultMessage,
  TaskErrorMessage,
  WireClaim,
  WorkResponse,
} from '../mesh/messages'
import {
  type AgreementPolicy,
  type Certificate,
  certificateFor,
  commitInputHashes,
  type InputsCommitment,
  inputHash,
  recoverStrict,
  resultDigest,
  resultHash,
  sortBySigner,
  type TaskVerdict,
  type TensorMap,
  tally,
} from '../proofs'
import type { JobRecord, Store, StoredLease, TaskRecord } from '../store'
import {
  applyEvent,
  closeness,
  emptyRecord,
  NEW_CANARY_WITHIN,
  needsHomogeneous,
  reputation,
  type TrustEvent,
  type TrustSettings,
  trustSettings,
  verifyProbability,
  vetted,
  WEBGPU_VOID,
  type WorkerRecord,
} from '../trust'
import type { ClaimSigner, JobProgress, TaskErrorSummary, TaskResult, WorkerSummary } from './types'

type Lease = StoredLease

/** Bit-exact hashing: what names a worker's class (see `fingerprintOf`). */
const EXACT: AgreementPolicy = { kind: 'exact' }

/**
 * A task's running leases (by id), which keeps `leased` (the run's set of tasks with any) true to
 * it: a work request looks at the leased tasks, not at every task of the job.
 */
class LeaseMap extends Map<string, Lease> {
  constructor(
    private readonly owner: TaskState,
    private readonly leased: Set<TaskState>,
  ) {
    super()
  }
  override set(id: string, lease: Lease): this {
    super.set(id, lease)
    this.leased?.add(this.owner)
    return this
  }
  override delete(id: string): boolean {
    const had = super.delete(id)
    if (this.size === 0) this.leased.delete(this.owner)
    return had
  }
  override clear(): void {
    super.clear()
    this.leased.delete(this.owner)
  }
}

interface TaskState {
  record: TaskRecord
  leases: Map<string, Lease>
  /** Addresses (lowercase) of workers ever leased this task: one replica per worker, never two. */
  workers: Set<string>
  /** Excluded workers given this task by `shadowLease` (no replica; not in `workers`). */
  shadowed: Set<string>
  /** The requester's own answer, when this task is a canary (`exact`: its bit-exact hash). */
  known?: { hash: Hex; exact: Hex; outputs: TensorMap } | undefined
  /** Workers whose result here was already weighed for reputation (in this process). */
  judged: Set<string>
}

export interface WorkerTiming {
  backend: string
  results: number
  agreed: number
  dissented: number
  computeMs: number
  /** Exponentially weighted mean compute time (ms), for lease lengths. */
  ewmaMs: number | undefined
  /** Leases that expired without a result, in all, and since its last result. */
  timeouts: number
  consecutiveTimeouts: number
  /** When its last lease expired (coordinator clock, ms). */
  lastTimeoutAt?: number | undefined
  /** Its capability probe's speed score, from its last work request (lib/env/probe.ts). */
  score?: number | undefined
}

export interface JobRunInit {
  job: JobRecord
  tasks: TaskRecord[]
  store: Store
  /** Signs a worker's cumulative claim with the coordinator's key (the job's coordinator on chain). */
  signClaim: ClaimSigner
  /**
   * Recovers a result's signer from its EIP-712 digest by the chain's rule (undefined: refused),
   * e.g. on worker threads (lib/proofs/recover-pool-node.ts). Default: `recoverStrict` on this
   * thread.
   */
  recoverSigner?: ((digest: Hex, signature: Hex) => Promise<Address | undefined>) | undefined
  log: Logger
  /** Per-worker stats shared by all jobs of a coordinator. */
  workerStats: Map<string, WorkerTiming>
  now?: () => number
  onChange?: () => void
  /** Called when a task reaches its quorum (or its known answer), before `onChange`. */
  onAccepted?: ((taskIndex: number) => void) | undefined
  /** Called with the certificates (agreeing signatures) of tasks once they are settled (paid). */
  onSettled?: ((certs: readonly Certificate[]) => void) | undefined
  /** Defences and adaptive replication; default trustSettings('standard'). */
  trust?: TrustSettings | undefined
  /** Answers the requester computed itself, by task index: this job's canaries. */
  known?: ReadonlyMap<number, TensorMap> | undefined
  /** Per-worker trust records shared by all jobs of a coordinator (lowercase address). */
  reputation?: Map<string, WorkerRecord> | undefined
  /** A worker's slashable stake as last read from chain (0n when unknown). */
  stakeOf?: ((worker: string) => bigint) | undefined
  /** Called when a trust record changed (the coordinator persists them). */
  onTrustChange?: (() => void) | undefined
  /** Called with the evidence when a worker signed two different results for one task. */
  onEquivocation?: ((e: Equivocation & { worker: string }) => void) | undefined
  random?: (() => number) | undefined
  /**
   * Draws how long a check's counts are held (`JobRun.hold`); apart from `random`, so that the
   * holds do not move the canary draws of a seeded run. @default Math.random
   */
  holdRandom?: (() => number) | undefined
}

/** Lease for a worker we have not timed yet when no worker is timed either: model download included. */
const FIRST_LEASE_MS = 60_000
const MIN_LEASE_MS = 10_000
const MAX_LEASE_MS = 120_000
/**
 * Leases one worker may hold at once in a job: the task it computes, the next one it fetched
 * meanwhile, and the previous one whose result is still on its way.
 */
export const MAX_LEASES_PER_WORKER = 3
/** Expired leases in a row after which a worker is benched (BENCH_MS). */
export const MAX_CONSECUTIVE_TIMEOUTS = 3
/**
 * A benched worker gets no work for this long after its last expired lease, then one lease at a
 * time until it delivers a result: a volunteer whose tab slept or lost its network while holding
 * leases comes back to work, and a free rider costs one lease per minute.
 */
export const BENCH_MS = 60_000

/**
 * The bench rule for a worker's timeouts: how long it must wait for work (0: it may have some)
 * and how many leases it may hold.
 */
export function benchRule(
  consecutiveTimeouts: number,
  lastTimeoutAt: number | undefined,
  now: number,
): { waitMs: number; maxLeases: number } {
  if (consecutiveTimeouts < MAX_CONSECUTIVE_TIMEOUTS)
    return { waitMs: 0, maxLeases: MAX_LEASES_PER_WORKER }
  return { waitMs: Math.max(0, (lastTimeoutAt ?? 0) + BENCH_MS - now), maxLeases: 1 }
}
/** Why an excluded worker's result (sent for a lease that counts toward nothing) is void. */
const SHADOW_VOID = 'excluded before it was sent'
/** A replica running this many times the typical compute time (and ≥ 2 s) may be duplicated. */
const STRAGGLER_FACTOR = 3
/** A worker counts toward its class's size for this long after its last work request (ms). */
const CLASS_ACTIVE_MS = 60_000
/** How long a task decided by one trusted worker alone waits before it settles (ms). */
export const SINGLE_HOLD_MS = 60_000
/**
 * Tasks one worker may hold decided alone and not yet settled (held for SINGLE_HOLD_MS). A worker
 * stops taking leases from a coordinator whose claims leave more than MAX_UNPAID (32) of its
 * results unpaid (lib/jobs/worker.ts): beyond half of that, a trusted worker's next fresh tasks
 * are replicated (they settle as soon as they agree) rather than held, so it keeps working.
 */
export const MAX_HELD_SINGLES = 16
/** On the busy path, a claim is signed again once it lags by this many results… */
export const CLAIM_STEP = 4
/** …or is this old (ms). */
export const CLAIM_MAX_AGE_MS = 1000
/** Model errors that mean no worker will run this job; enough distinct reports fail it. */
const FATAL_CODES = new Set([
  'model-unsupported',
  'model-hash-mismatch',
  'model-too-large',
  'input-mismatch',
])

/**
 * How long a lease lasts: five times the worker's mean compute time plus 5 s once it is timed;
 * before that, time for a model download plus ten times the typical worker's compute time, or
 * 60 s when nobody is timed yet.
 */
export function leaseLengthMs(
  workerMeanMs: number | undefined,
  typicalMs: number | undefined,
  /** For an untimed worker: how much slower its probe says it is than the timed ones. */
  slowness = 1,
) {
  if (workerMeanMs !== undefined)
    return Math.min(MAX_LEASE_MS, Math.max(MIN_LEASE_MS, 5 * workerMeanMs + 5000))
  if (typicalMs === undefined) return FIRST_LEASE_MS
  const f = Math.min(4, Math.max(0.25, slowness))
  return Math.min(FIRST_LEASE_MS * f, Math.max(20_000, 10 * typicalMs * f + 20_000))
}

/** The middle value (the upper one of an even count), or undefined for none. */
function upperMedian(xs: number[]): number | undefined {
  return [...xs].sort((a, b) => a - b)[xs.length >> 1]
}

export class JobRun {
  readonly job: JobRecord
  private readonly tasks: TaskState[]
  private readonly commitment: InputsCommitment
  /** Per worker (lowercase): agreeing results in settled tasks, the count its claim pays. */
  private readonly paid = new Map<string, number>()
  /** Per worker: results it delivered that count, and how many of those are decided. */
  private readonly received = new Map<string, number>()
  private readonly decided = new Map<string, number>()
  /** (task, worker) pairs reported for equivocation. */
  private readonly equivocated = new Set<string>()
  /** Excluded workers' leases out now (task → expiry): they count toward nothing (`shadowLease`). */
  private readonly shadow = new Map<string, Map<number, number>>()
  /** Counts not in their workers' claims yet, each until `due` (`credit`, `releaseDue`). */
  private readonly held: Array<{
    key: string
    pair: string
    which: 'paid' | 'decided'
    due: number
  }> = []
  /** When each held (task, worker) is released: its pay and decision move together. */
  private readonly heldDue = new Map<string, number>()
  /** (task, worker) pairs already counted decided ahead of their task (`holdDecided`). */
  private readonly decidedAhead = new Set<string>()
  /** Recent times from an ordinary result's arrival to its task's decision (ms). */
  private readonly decisionDelays: number[] = []
  /** The last claim signed per worker, reused while its count has not moved. */
  private readonly signedClaims = new Map<
    string,
    { results: number; at: number; signature: Promise<Hex> }
  >()
  /** Per worker: tasks given to it alone (adaptive replication), pruned in heldSingles. */
  private readonly singles = new Map<string, Set<number>>()
  /** Tasks whose settlement is being written. */
  private readonly settling = new Set<number>()
  private readonly errorReports = new Map<string, { message: string; workers: Set<string> }>()
  private readonly now: () => number
  private settleTxs = 0
  private settleGas = 0n
  private failure: string | undefined
  private leaseCounter = 0
  private readonly trust: TrustSettings
  private readonly reputation: Map<string, WorkerRecord>
  private readonly random: () => number
  /** Per worker: leases since its last known-answer task (see NEW_CANARY_WITHIN). */
  private readonly leasesSinceCanary = new Map<string, number>()
  /**
   * Workers' equivalence classes (lowercase address → class), from their answer to the job's
   * fingerprint task (see `fingerprintOf`), never from what a work request says.
   */
  private readonly classes = new Map<string, string>()
  /** The known-answer task whose exact outputs name a worker's class (the lowest-index one). */
  private fingerprint: TaskState | undefined
  /**
   * Workers (lowercase) whose answer to one of this job's checks vets them (see `vetsFor`), from
   * the stored results: a restarted coordinator may have lost the reputation write that counted
   * it, while the task records show the worker had every check, so nothing could vet it again and
   * its pay would be held to the job's end (it stops at MAX_UNPAID: a resumed job stalled).
   */
  private readonly checkVetted = new Set<string>()
  /** Settled tasks with agreeing replicas whose pay could not be stored yet (`payWaiting`). */
  private readonly payPending = new Set<TaskState>()
  /** Tasks with a running lease (kept by each task's LeaseMap). */
  private readonly leased = new Set<TaskState>()
  /** The job's known-answer tasks, in task order. */
  private checks: TaskState[] = []
  /**
   * Cursors into `tasks`, each at or below the first task that is still open (`openFrom`), open
   * and not a check (`scanFrom`: a work request scans from there), or not yet settled or failed
   * (`undoneFrom`). Moved forward lazily; moved back where a task reopens (`reopened`).
   */
  private openFrom = 0
  private scanFrom = 0
  private undoneFrom = 0
  /** When each worker of each class last asked for work: which classes can reach a quorum. */
  private readonly classSeen = new Map<string, Map<string, number>>()
  readonly done: Promise<JobProgress>
  private resolveDone!: (p: JobProgress) => void

  constructor(private readonly init: JobRunInit) {
    this.job = init.job
    this.now = init.now ?? Date.now
    this.random = init.random ?? Math.random
    this.reputation = init.reputation ?? new Map()
    this.trust = init.trust ?? trustSettings()
    const now = this.now()
    this.tasks = [...init.tasks]
      .sort((a, b) => a.taskIndex - b.taskIndex)
      .map((record) => {
        const t: TaskState = {
          record,
          leases: new Map(),
          workers: new Set([
            ...record.results
              .filter((r) => r.void !== SHADOW_VOID)
              .map((r) => r.worker.toLowerCase()),
            ...(record.leasedTo ?? []),
          ]),
          shadowed: new Set(record.shadowLeasedTo ?? []),
          judged: new Set<string>(),
        }
        t.leases = new LeaseMap(t, this.leased)
        // A resumed job keeps the leases still running: their replicas are not handed out twice.
        if (record.status === 'open')
          for (const l of record.leases ?? [])
            if (
              l.expiresAt > now &&
              !record.results.some((r) => r.worker.toLowerCase() === l.worker)
            )
              t.leases.set(l.id, { ...l })
        return t
      })
    for (const t of this.tasks) {
      // A late replica whose pay was not stored before the restart (`payWaiting`).
      if (t.record.status === 'settled' && this.unpaidReplicas(t).length > 0) this.payPending.add(t)
      for (const r of t.record.results) this.bump(this.received, r.worker)
      // Counted directly (`decide` would time these as fresh decisions).
      if (t.record.status === 'settled' || t.record.status === 'failed')
        for (const r of t.record.results) this.bump(this.decided, r.worker)
      if (t.record.status === 'settled')
        for (const a of t.record.certificate?.signers ?? []) this.bump(this.paid, a)
    }
    if (this.trust.defences) {
      for (const [i, outputs] of init.known ?? []) {
        const t = this.tasks[i]
        if (t)
          t.known = {
            hash: resultHash(outputs, this.job.spec.policy),
            exact: resultHash(outputs, EXACT),
            outputs,
          }
      }
      this.checks = this.tasks.filter((t) => t.known)
      this.fingerprint = this.checks[0]
      // A resumed job knows its workers' classes again from the answers it stored.
      for (const r of this.fingerprint?.record.results ?? [])
        if (!r.void) this.classify(r.worker.toLowerCase(), r)
      // Not a worker that also answered a check wrong: that excluded it, and the reputation
      // write saying so may be what the restart lost.
      const failed = new Set<string>()
      for (const t of this.checks)
        for (const r of t.record.results) {
          const w = r.worker.toLowerCase()
          // A wrong WebGPU answer demoted its path (WEBGPU_VOID); it failed nothing.
          if (r.void === SHADOW_VOID || r.void === WEBGPU_VOID) continue
          if (this.vetsFor(t, r)) {
            if (!r.void) this.checkVetted.add(w)
          } else if (closeness(r.outputs, t.known!.outputs) !== 'near') failed.add(w)
        }
      for (const w of failed) this.checkVetted.delete(w)
    }
    this.commitment = commitInputHashes(this.tasks.map((t) => inputHash(t.record.inputs)))
    if (this.commitment.root !== this.job.spec.inputsRoot) {
      throw new Error(
        `Stored inputs hash to ${this.commitment.root}, but the job commits to ${this.job.spec.inputsRoot}.`,
      )
    }
    this.done = new Promise((resolve) => {
      this.resolveDone = resolve
    })
    if (this.tasks.every((t) => t.record.status === 'settled' || t.record.status === 'failed'))
      this.finish()
  }

  get status(): JobProgress['status'] {
    return this.job.status
  }

  /** Hands `peer` one task it has not had, or says why not. */
  assign(
    peer: PeerId,
    req?: { backend: string; runtime: string; capability?: { score: number } | undefined },
  ): WorkResponse {
    const address = addressOfPeer(peer)
    if (!address) return { type: 'no-work', reason: 'not-eligible', retryAfterMs: 60_000 }
    const key = address.toLowerCase()
    this.peerIds.set(key, peer.toString())
    if (req?.capability) this.statsOf(key).score = req.capability.score
    if (this.job.status !== 'running')
      return { type: 'no-work', reason: 'job-complete', retryAfterMs: 0 }
    const now = this.now()
    if (now / 1000 > this.job.spec.deadline) {
      this.expire()
      return { type: 'no-work', reason: 'job-complete', retryAfterMs: 0 }
    }
    this.expireLeases(now)
    this.expireShadow(key, now)
    const rec = this.recordOf(key)
    // A job open only to staked workers: its claims pay nobody below the stake.
    const minStake = this.job.spec.minStake ?? 0n
    if (minStake > 0n && (this.init.stakeOf?.(key) ?? 0n) < minStake)
      return { type: 'no-work', reason: 'not-eligible', retryAfterMs: 30_000 }
    const stats = this.init.workerStats.get(key)
    const bench = benchRule(stats?.consecutiveTimeouts ?? 0, stats?.lastTimeoutAt, now)
    if (bench.waitMs > 0)
      return { type: 'no-work', reason: 'not-eligible', retryAfterMs: Math.ceil(bench.waitMs) }
    if (this.trust.defences && rec.excluded) return this.shadowLease(key, now, bench.maxLeases)
    const heldBy = new Map<string, number>()
    for (const t of this.leased)
      for (const l of t.leases.values()) heldBy.set(l.worker, (heldBy.get(l.worker) ?? 0) + 1)
    if ((heldBy.get(key) ?? 0) >= bench.maxLeases)
      return { type: 'no-work', reason: 'busy', retryAfterMs: 1000 }
    // Only a worker that can take a lease now keeps its class able to reach a quorum: an
    // excluded, benched or busy one that keeps asking must not hold tasks bound to its class.
    this.markSeen(key)
    const canary = this.drawCanary(key, rec)
    if (canary) return this.lease(canary, key, now, true)
    const { replicas } = this.job.spec
    const maxResults = replicas * 2
    const cls = this.classes.get(key)
    const homogeneous = this.trust.homogeneous ?? needsHomogeneous(this.job.spec.policy)
    let soonest = Number.POSITIVE_INFINITY
    let straggler: TaskState | undefined
    let stragglerSince = Number.POSITIVE_INFINITY
    const slowAfter = Math.max(2000, STRAGGLER_FACTOR * (this.typicalComputeMs() ?? 10_000))
    for (let i = this.firstScanned(); i < this.tasks.length; i++) {
      const t = this.tasks[i]!
      if (t.record.status !== 'open' || t.known) continue
      for (const l of t.leases.values()) soonest = Math.min(soonest, l.expiresAt)
      if (t.workers.has(key)) continue
      if (homogeneous && t.record.class && t.record.class !== cls) {
        // Bound to another class (a worker with none yet is in none); if that class cannot
        // reach a quorum on it any more, it lets go.
        if (this.bindingHolds(t, t.record.class, heldBy)) continue
        t.record.class = undefined
      }
      // A task given to one trusted worker waits for that worker's result (or lease expiry).
      if (t.record.single) continue
      const received = this.counted(t).length
      if (received === 0 && t.leases.size === 0) return this.leaseFresh(t, key, rec, now)
      // r replicas at first; after r results without quorum, one more at a time up to 2r.
      const allowed = received >= replicas ? Math.min(maxResults, received + 1) : replicas
      if (t.leases.size + received < allowed) return this.lease(t, key, now, false)
      // Fully leased: remember the task that has waited longest on its newest replica, if that
      // runs long. Each duplicate must itself run long before the next (never beyond 2r): a
      // duplicate that went to a volunteer who then left does not hold the task until its lease
      // expires (the simulation measured a shorter tail, lib/sim).
      if (t.leases.size === 0 || t.leases.size + received >= maxResults) continue
      let newest = 0
      for (const l of t.leases.values()) newest = Math.max(newest, l.issuedAt)
      if (now - newest >= slowAfter && newest < stragglerSince) {
        straggler = t
        stragglerSince = newest
      }
    }
    // Nothing left to hand out: duplicate a straggler rather than leave this worker idle.
    if (straggler) return this.lease(straggler, key, now, false)
    // Canary tasks still waiting for an answer are part of the job too.
    const waiting = this.checks.find(
      (t) => t.record.status === 'open' && t.leases.size === 0 && !t.workers.has(key),
    )
    if (waiting) return this.lease(waiting, key, now, true)
    // Ask again soon: a lease may expire, or a replica may start to run long (a straggler).
    const retry = Number.isFinite(soonest) ? Math.min(2000, Math.max(250, soonest - now)) : 1000
    return { type: 'no-work', reason: 'all-leased', retryAfterMs: Math.round(retry) }
  }

  /**
   * Whether `quorum` distinct workers of a class asked for work in the last CLASS_ACTIVE_MS:
   * only then are tasks bound to it (homogeneous redundancy); a class with a lone worker would
   * strand them.
   */
  private classCanQuorum(cls: string): boolean {
    return this.activeMembers(cls).length >= this.job.spec.quorum
  }

  /** A class's workers that asked for work in the last CLASS_ACTIVE_MS and are not excluded. */
  private activeMembers(cls: string): string[] {
    const seen = this.classSeen.get(cls)
    if (!seen) return []
    const since = this.now() - CLASS_ACTIVE_MS
    const out: string[] = []
    for (const [w, at] of seen)
      if (at >= since && !(this.trust.defences && this.reputation.get(w)?.excluded)) out.push(w)
    return out
  }

  /**
   * Whether task `t`, bound to `cls`, can still reach a quorum inside it: its largest group of
   * agreeing results from the class, plus the class's replicas still out on lease, plus its
   * active workers that have not had the task and could take a lease now (`heldBy`: leases
   * per worker). A class whose workers have all answered it (and disagree), left, or sit at
   * their lease limit must let go, or the task waits for nobody.
   */
  private bindingHolds(t: TaskState, cls: string, heldBy: ReadonlyMap<string, number>): boolean {
    const agreeing = new Map<string, number>()
    let best = 0
    for (const r of this.counted(t)) {
      if (r.class !== cls) continue
      const n = (agreeing.get(r.resultHash) ?? 0) + 1
      agreeing.set(r.resultHash, n)
      best = Math.max(best, n)
    }
    let out = 0
    for (const l of t.leases.values()) if (this.classes.get(l.worker) === cls) out++
    const free = this.activeMembers(cls).filter(
      (w) => !t.workers.has(w) && (heldBy.get(w) ?? 0) < MAX_LEASES_PER_WORKER,
    ).length
    return best + out + free >= this.job.spec.quorum
  }

  /** With the canary rate for this worker, a canary task it has not had. */
  private drawCanary(key: string, rec: WorkerRecord): TaskState | undefined {
    if (!this.trust.defences) return undefined
    // Settled checks too: every new worker must meet one (a job has few). Nothing goes on chain
    // before the job ends, and a check's answer is told 'pending' and paid with its worker's next
    // ordinary task (`credit`), so its worker cannot tell from its ack or claim that it was one.
    const candidates = this.checks.filter((t) => !t.workers.has(key))
    if (candidates.length === 0) return undefined
    const rate = rec.canaryPassed > 0 ? this.trust.canaryRate : this.trust.newCanaryRate
    const since = this.leasesSinceCanary.get(key) ?? 0
    const due = rec.canaryPassed === 0 && rate > 0 && since >= NEW_CANARY_WITHIN - 1
    if (!due && this.random() >= rate) {
      this.leasesSinceCanary.set(key, since + 1)
      return undefined
    }
    this.leasesSinceCanary.set(key, 0)
    // A worker without a class meets the fingerprint task first: its answer names the class.
    const f = this.fingerprint
    if (f && !this.classes.has(key) && candidates.includes(f)) return f
    return candidates[Math.floor(this.random() * candidates.length)]
  }

  /**
   * A worker's class from its answer to the fingerprint task: `ref` when its outputs are
   * bit-identical to the requester's own, else `fp:` and the first bytes of their exact hash
   * (workers whose backends round alike answer alike). Undefined for an answer that is not
   * within floating-point noise of the known one: that is a failed check, not a class.
   */
  private fingerprintOf(t: TaskState, outputs: TensorMap | undefined): string | undefined {
    if (!t.known || !outputs) return undefined
    const exact = resultHash(outputs, EXACT)
    if (exact === t.known.exact) return 'ref'
    if (closeness(outputs, t.known.outputs) !== 'near') return undefined
    return `fp:${exact.slice(2, 14)}`
  }

  /** Sets `key`'s class from its answer `r` to the fingerprint task; whether it has one. */
  private classify(key: string, r: { outputs?: TensorMap | undefined }): boolean {
    const cls = this.fingerprint && this.fingerprintOf(this.fingerprint, r.outputs)
    if (cls) this.classes.set(key, cls)
    return cls !== undefined
  }

  /** Records that `key` asked for work now, in its class: which classes can reach a quorum. */
  private markSeen(key: string) {
    const cls = this.classes.get(key)
    if (!cls) return
    const seen = this.classSeen.get(cls) ?? new Map<string, number>()
    seen.set(key, this.now())
    this.classSeen.set(cls, seen)
  }

  /** A task's first lease: an established worker may get it to itself (adaptive replication). */
  private leaseFresh(t: TaskState, key: string, rec: WorkerRecord, now: number): WorkResponse {
    const cls = this.classes.get(key)
    const homogeneous = this.trust.homogeneous ?? needsHomogeneous(this.job.spec.policy)
    if (homogeneous && cls && t.record.class === undefined && this.classCanQuorum(cls))
      t.record.class = cls
    const value = this.job.spec.rewardPerResult * BigInt(this.job.spec.replicas)
    const p = verifyProbability(
      this.trust.replication,
      { record: rec, stake: this.init.stakeOf?.(key) ?? 0n },
      value,
      this.trust.params,
    )
    if (this.random() >= p && this.heldSingles(key) < MAX_HELD_SINGLES) {
      t.record.single = key
      const held = this.singles.get(key) ?? new Set<number>()
      this.singles.set(key, held)
      held.add(t.record.taskIndex)
    }
    return this.lease(t, key, now, false)
  }

  /** Tasks `key` was given alone that are not settled (or failed, or taken back) yet. */
  private heldSingles(key: string): number {
    const held = this.singles.get(key)
    if (!held) return 0
    for (const i of held) {
      const r = this.tasks[i]?.record
      if (!r || r.single !== key || r.status === 'settled' || r.status === 'failed') held.delete(i)
    }
    return held.size
  }

  /** Writes a task, with the workers ever leased it and its leases as they are now. */
  private save(t: TaskState): Promise<void> {
    this.snapshot(t)
    return this.init.store.putTask(t.record)
  }

  /** `save` without waiting (`flush` waits for it); a failure is logged. */
  private saveInBackground(t: TaskState): void {
    this.background(this.save(t), 'task')
  }

  /** Store writes not waited for where they are made; `flush` waits for them all. */
  private readonly writing = new Set<Promise<unknown>>()

  private background<T>(write: Promise<T>, what: string): Promise<T | undefined> {
    const tracked = write.catch((err) => {
      this.storeFailed(what, err)
      return undefined
    })
    this.writing.add(tracked)
    void tracked.finally(() => this.writing.delete(tracked))
    return tracked
  }

  /**
   * Resolves once every store write made so far has finished: a coordinator stopping waits for
   * this before its store closes (a write still in flight then failed with IndexedDB's
   * InvalidStateError, "saving a settlement failed", and its task was lost).
   */
  async flush(): Promise<void> {
    while (this.writing.size > 0) await Promise.all([...this.writing])
  }

  private storeFailed(what: string, err: unknown) {
    this.init.log.warn(`saving a ${what} failed`, {
      jobId: this.job.jobId,
      error: errorMessage(err),
    })
  }

  private lease(t: TaskState, key: string, now: number, canary: boolean): WorkResponse {
    const lease: Lease = {
      id: `${this.leaseCounter++}-${Math.random().toString(36).slice(2, 10)}`,
      worker: key,
      issuedAt: now,
      expiresAt: now + this.leaseMs(key),
      canary,
    }
    t.leases.set(lease.id, lease)
    t.workers.add(key)
    this.saveInBackground(t)
    this.init.onChange?.()
    return this.leaseMessage(t, lease.id, lease.expiresAt - now)
  }

  private leaseMessage(t: TaskState, leaseId: string, expiresInMs: number): WorkResponse {
    return {
      type: 'lease',
      jobId: this.job.jobId,
      taskIndex: t.record.taskIndex,
      leaseId,
      expiresInMs,
      inputHash: this.commitment.hashes[t.record.taskIndex]!,
      proof: this.commitment.proof(t.record.taskIndex),
      inputs: toWireTensors(t.record.inputs),
    }
  }

  /** Counts `key`'s expired shadow leases as timeouts, as `expireLeases` does real ones. */
  private expireShadow(key: string, now: number) {
    const live = this.shadow.get(key)
    for (const [i, until] of live ?? []) {
      if (until > now) continue
      live!.delete(i)
      const st = this.statsOf(key)
      st.timeouts++
      st.consecutiveTimeouts++
      st.lastTimeoutAt = Math.max(st.lastTimeoutAt ?? 0, until)
    }
  }

  /**
   * An excluded worker's lease: an open task with room for a replica, as any worker might get,
   * that counts toward nothing (it is not among the task's leases, so it takes no replica). Its
   * answer is read, acknowledged like any other and stored void; its leases expire, and bench it,
   * as anyone's do. Told at once that it is excluded, a fresh key answering garbage would learn
   * which of its tasks was a check, and a job has few; this way it learns only that its results
   * stopped being paid, which a garbage answerer never sees anyway.
   */
  private shadowLease(key: string, now: number, maxLeases: number): WorkResponse {
    const live = this.shadow.get(key) ?? new Map<number, number>()
    this.shadow.set(key, live)
    if (live.size >= maxLeases) return { type: 'no-work', reason: 'busy', retryAfterMs: 1000 }
    const { replicas } = this.job.spec
    const open = (t: TaskState) =>
      t.record.status === 'open' && !t.known && !t.workers.has(key) && !t.shadowed.has(key)
    const room = (t: TaskState) => {
      const received = this.counted(t).length
      const allowed = received >= replicas ? Math.min(2 * replicas, received + 1) : replicas
      return t.leases.size + received < allowed
    }
    let t: TaskState | undefined
    for (let i = this.firstScanned(); i < this.tasks.length && !t; i++) {
      const x = this.tasks[i]!
      if (open(x) && room(x)) t = x
    }
    if (!t) return { type: 'no-work', reason: 'all-leased', retryAfterMs: 1000 }
    const ms = this.leaseMs(key)
    live.set(t.record.taskIndex, now + ms)
    t.shadowed.add(key)
    this.saveInBackground(t)
    const id = `${this.leaseCounter++}-${Math.random().toString(36).slice(2, 10)}`
    return this.leaseMessage(t, id, ms)
  }

  /**
   * The checks a result's header allows before its outputs are read: the task exists and was
   * leased to the sender, which is not excluded, and the result is not one it delivered
   * before. Undefined: read the outputs and `submit`; otherwise the answer (refusal or
   * duplicate), and the outputs are never read.
   */
  admit(peer: PeerId, msg: Pick<ResultMessage, 'taskIndex' | 'resultHash'>): ResultAck | undefined {
    const t = this.tasks[msg.taskIndex]
    if (!t) return this.refuse(peer, msg.taskIndex, `task ${msg.taskIndex} does not exist`)
    const key = addressOfPeer(peer)?.toLowerCase()
    if (!key) return this.refuse(peer, msg.taskIndex, 'peer id is not a secp256k1 key')
    if (!t.workers.has(key) && !t.shadowed.has(key))
      return this.refuse(peer, msg.taskIndex, 'this task was never leased to you')
    const earlier = t.record.results.find((r) => r.worker.toLowerCase() === key)
    if (earlier && earlier.resultHash === msg.resultHash) {
      return { type: 'result-ack', status: 'duplicate' }
    }
    return undefined
  }

  /** A refused result: logged, and the sender's leases of the task are freed. */
  private refuse(peer: PeerId, taskIndex: number, reason: string): ResultAck {
    this.init.log.info('result rejected', {
      jobId: this.job.jobId,
      task: taskIndex,
      peer: peer.toString(),
      reason,
    })
    // A worker whose result was refused will not deliver this task: free its slot now rather
    // than at lease expiry. It stays in `workers`, so it is never leased this task again.
    const t = this.tasks[taskIndex]
    const who = addressOfPeer(peer)?.toLowerCase()
    if (t && who) {
      for (const [id, l] of t.leases) if (l.worker === who) t.leases.delete(id)
      if (t.record.single === who) t.record.single = undefined
    }
    return { type: 'result-ack', status: 'rejected', reason }
  }

  /** Verifies and records a signed result. Invalid results are rejected with the reason. */
  async submit(peer: PeerId, msg: ResultMessage): Promise<ResultAck> {
    const early = this.admit(peer, msg)
    if (early) return early
    const t = this.tasks[msg.taskIndex]!
    const reject = (reason: string) => this.refuse(peer, msg.taskIndex, reason)
    const address = addressOfPeer(peer)!
    const key = address.toLowerCase()
    const earlier = t.record.results.find((r) => r.worker.toLowerCase() === key)
    let outputs: ReturnType<typeof fromWireTensors>
    try {
      outputs = fromWireTensors(msg.outputs)
    } catch (err) {
      return reject(`malformed outputs: ${errorMessage(err)}`)
    }
    const computed = resultHash(outputs, this.job.spec.policy)
    if (computed !== msg.resultHash)
      return reject(`resultHash does not match the outputs under ${this.job.spec.policy.kind}`)
    const signer = await this.signerOf(msg.taskIndex, msg.resultHash, msg.signature as Hex)
    if (signer?.toLowerCase() !== address.toLowerCase())
      return reject('signature is not by the sending peer')
    if (earlier) {
      // Two signatures by one worker over different results for one task: slashable evidence,
      // reported once (a third signature proves nothing more, and each report costs a slash).
      const pair = `${msg.taskIndex}:${key}`
      if (!this.equivocated.has(pair)) {
        this.equivocated.add(pair)
        this.init.onEquivocation?.({
          worker: key,
          jobId: this.job.jobId,
          taskIndex: msg.taskIndex,
          a: { resultHash: earlier.resultHash, signature: earlier.signature },
          b: { resultHash: msg.resultHash as Hex, signature: msg.signature as Hex },
        })
      }
      await this.exclude(key, `signed two different results for task ${msg.taskIndex}`)
      return reject('a different result for this task was signed before: equivocation')
    }
    if (this.trust.defences && this.recordOf(key).excluded)
      return this.submitShadow(t, key, msg, outputs)
    // Verified: record it (append-only), free the lease, update the worker's timing.
    // Its own lease, whatever id the message names: another worker's lease is not freed.
    for (const [id, l] of t.leases) if (l.worker === key) t.leases.delete(id)
    t.record.results.push({
      worker: address,
      resultHash: msg.resultHash as Hex,
      signature: msg.signature as Hex,
      receivedAt: this.now(),
      backend: msg.backend,
      outputs,
      class: this.classes.get(key),
    })
    this.bump(this.received, key)
    // A late replica of a task already decided: decided for this worker at once (not paid);
    // while the settled write is on its way, by `decide` once it is stored.
    if (
      (t.record.status === 'settled' || t.record.status === 'failed') &&
      !this.settling.has(t.record.taskIndex)
    )
      this.credit('decided', t, key)
    this.recordTiming(key, msg.backend, msg.computeMs)
    const judgement = this.judge(t, key, msg.backend)
    if (judgement?.exclude) {
      // Acknowledged as any result is: see `shadowLease`.
      await this.exclude(key, judgement.exclude)
      // A decided task is not among those `exclude` voids and writes: the wrong answer must be
      // stored all the same, or a restart forgets it (and may vet its worker: `checkVetted`).
      if (t.record.status === 'settled' || t.record.status === 'failed') {
        const r = t.record.results.at(-1)!
        r.void ??= judgement.exclude
        await this.save(t)
      }
      return { type: 'result-ack', status: 'recorded' }
    }
    if (judgement?.wasmOnly) {
      // Not counted, and acknowledged as any result is: a refusal would name a check (see
      // `judge`). The worker switches to WASM on its own once such results go unpaid. Its
      // WebGPU results not yet settled stop counting too: a WebGPU label must not be a way to
      // fail a check and keep what one agreed on with friends (red-team F6).
      t.record.results.at(-1)!.void = judgement.wasmOnly
      // Decided for its worker (unpaid) as an ordinary result would be: a worker notices its
      // path stopped counting only from its claim. A late one was counted decided already.
      if (t.record.status !== 'settled' && t.record.status !== 'failed') this.holdDecided(t, key)
      if (judgement.demoted)
        await this.voidResults(key, judgement.wasmOnly, (r) => r.backend === 'webgpu')
      await this.save(t)
      return { type: 'result-ack', status: 'recorded' }
    }
    if (t.record.status === 'settled') this.payLate(t, key)
    const verdict = this.verdictOf(t)
    let settledNow: Certificate | undefined
    if (t.record.status === 'open') {
      // Outstanding leases stay until answered or expired: a worker that never answers one
      // still counts a timeout, even when other replicas completed the task meanwhile.
      if (verdict.status === 'accepted') {
        t.record.status = 'accepted'
        this.init.onAccepted?.(t.record.taskIndex)
        // Settled in the same write when no trust rule holds it back: the worker's claim grows
        // at once (a fast worker is not held at its risk limit until the next round).
        if (!this.heldBack(t, verdict)) {
          settledNow = certificateFor(this.job.jobId, t.record.taskIndex, verdict)
          t.record.status = 'settled'
          t.record.certificate = settledNow
        }
      } else if (verdict.status === 'no-quorum') {
        t.record.status = 'failed'
        t.record.failure = `no ${this.job.spec.quorum} of ${verdict.received} results agreed`
        this.decide(t)
      }
    }
    // Who this settlement pays, fixed now: a late replica may join the certificate while the
    // write is on its way (payLate), and it pays itself.
    const payees = settledNow ? [...settledNow.signers] : []
    if (settledNow) this.settling.add(t.record.taskIndex)
    try {
      await this.save(t)
      if (settledNow) {
        for (const a of payees) this.credit('paid', t, a)
        await this.payWaiting(t)
      }
    } catch (err) {
      // Not stored as settled: it is settled again by a later round, never counted twice.
      if (settledNow) {
        t.record.status = 'accepted'
        t.record.certificate = undefined
        settledNow = undefined
        // A result of another task may have found it settled meanwhile (`allDecided`).
        this.reopened(t)
      }
      throw err
    } finally {
      if (payees.length > 0) this.settling.delete(t.record.taskIndex)
    }
    if (settledNow) {
      this.decide(t)
      this.judgeSettled(t)
      this.init.onSettled?.([settledNow])
    }
    this.init.onChange?.()
    this.checkComplete()
    // No verdict: whether the task is decided, and by whom, would tell a check from another
    // task (a check is decided by its first right answer). A worker learns from its claim.
    return { type: 'result-ack', status: 'recorded' }
  }

  /**
   * Counts one result of `worker` in task `t` as paid or decided. A known-answer task is decided
   * by its first right answer; its counts are held for as long as an ordinary result waits for
   * its task's decision (drawn from the job's recent ones), or until the job ends: a claim then
   * moves as an ordinary replica's does, never at the answer to a check, and cannot name one.
   */
  private credit(which: 'paid' | 'decided', t: TaskState, worker: string) {
    const key = worker.toLowerCase()
    const pair = `${t.record.taskIndex}:${key}`
    if (which === 'decided' && this.decidedAhead.delete(pair)) return
    if (t.known && this.job.status === 'running') return this.hold(which, pair, key)
    this.bump(this[which], key)
  }

  /**
   * Counts `key`'s result in `t` decided now, after the delay a check's is held (`credit`): a
   * result that will never count (a voided WebGPU one) must still move its worker's claim, or a
   * worker could not tell that its path stopped counting.
   */
  private holdDecided(t: TaskState, key: string) {
    const pair = `${t.record.taskIndex}:${key}`
    if (this.job.status !== 'running') return
    this.decidedAhead.add(pair)
    this.hold('decided', pair, key)
  }

  private hold(which: 'paid' | 'decided', pair: string, key: string) {
    let due = this.heldDue.get(pair)
    if (due === undefined) {
      const ds = this.decisionDelays
      const draw = this.init.holdRandom ?? Math.random
      const delay = ds.length > 0 ? ds[Math.floor(draw() * ds.length)]! : 2000
      due = this.now() + delay
      this.heldDue.set(pair, due)
    }
    this.held.push({ key, pair, which, due })
  }

  /** Moves held counts whose time has come (all of them, once the job is over) into claims. */
  private releaseDue() {
    if (this.held.length === 0) return
    const now = this.now()
    const over = this.job.status !== 'running'
    let kept = 0
    for (const h of this.held) {
      if (over || h.due <= now) {
        this.bump(this[h.which], h.key)
        this.heldDue.delete(h.pair)
      } else this.held[kept++] = h
    }
    this.held.length = kept
  }

  /** Notes how long an ordinary task's results waited for its decision (`hold` draws from it). */
  private noteDecision(t: TaskState) {
    if (t.known) return
    const now = this.now()
    for (const r of this.counted(t)) {
      this.decisionDelays.push(Math.max(0, now - r.receivedAt))
      if (this.decisionDelays.length > 64) this.decisionDelays.shift()
    }
  }

  /**
   * An excluded worker's result: stored void, acknowledged as any result is, counted in its
   * `received` (and `decided` with its task) so that its claim moves as an ordinary garbage
   * answerer's does. It is never a replica, paid or judged; it stays equivocation evidence.
   */
  private async submitShadow(
    t: TaskState,
    key: string,
    msg: ResultMessage,
    outputs: TensorMap,
  ): Promise<ResultAck> {
    this.shadow.get(key)?.delete(t.record.taskIndex)
    this.recordTiming(key, msg.backend, msg.computeMs)
    t.record.results.push({
      worker: getAddress(key),
      resultHash: msg.resultHash as Hex,
      signature: msg.signature as Hex,
      receivedAt: this.now(),
      backend: msg.backend,
      outputs,
      void: SHADOW_VOID,
    })
    this.bump(this.received, key)
    if (t.record.status === 'settled' || t.record.status === 'failed')
      this.credit('decided', t, key)
    await this.save(t)
    return { type: 'result-ack', status: 'recorded' }
  }

  /** A worker could not compute a task: free its lease, remember why. */
  reportError(peer: PeerId, msg: TaskErrorMessage): ResultAck {
    const t = this.tasks[msg.taskIndex]
    const key = addressOfPeer(peer)?.toLowerCase() ?? ''
    // An excluded worker's report counts for nothing (it cannot fail the job), told as any is.
    const given = t?.workers.has(key) || t?.shadowed.has(key)
    if (given && this.trust.defences && this.recordOf(key).excluded) {
      this.shadow.get(key)?.delete(msg.taskIndex)
      return { type: 'result-ack', status: 'recorded' }
    }
    if (!t?.workers.has(key))
      return { type: 'result-ack', status: 'rejected', reason: 'not your lease' }
    for (const [id, l] of t.leases) if (l.worker === key) t.leases.delete(id)
    // A task given to this worker alone goes back to ordinary replication: it waited for this
    // worker's result, which will not come (CI: a failed-model job's tasks waited for good).
    if (t.record.single === key) t.record.single = undefined
    // A worker that could not fetch the model (a network problem, not the task's) may take the
    // task again: with few volunteers, the task could otherwise wait forever for a worker that
    // never held it. For any other error, another worker takes it.
    if (
      msg.code === 'model-unavailable' &&
      !t.record.results.some((r) => r.worker.toLowerCase() === key)
    )
      t.workers.delete(key)
    this.saveInBackground(t)
    const entry = this.errorReports.get(msg.code) ?? {
      message: msg.message,
      workers: new Set<string>(),
    }
    entry.workers.add(key)
    this.errorReports.set(msg.code, entry)
    this.init.log.warn('worker reported a task error', {
      jobId: this.job.jobId,
      task: msg.taskIndex,
      code: msg.code,
      message: msg.message,
    })
    const fatalReporters = new Set(
      [...this.errorReports].filter(([c]) => FATAL_CODES.has(c)).flatMap(([, e]) => [...e.workers]),
    )
    const anyResults = this.tasks.some((x) => x.record.results.length > 0)
    if (!anyResults && fatalReporters.size >= Math.min(2, this.job.spec.replicas)) {
      void this.failJob(`Workers cannot run this job's model: ${msg.message}`)
    }
    this.init.onChange?.()
    return { type: 'result-ack', status: 'recorded' }
  }

  /**
   * The coordinator's periodic step (every 2 s): expires leases, closes the job once its deadline
   * passed, even if no worker asks for work any more, then queues accepted tasks for settlement
   * and sends them.
   */
  async settleReady(): Promise<void> {
    // Leases outlive their task's acceptance: count the ones that expired unanswered, even once
    // the job is over, so a worker that never answers is known for it.
    this.expireLeases(this.now())
    this.releaseDue()
    if (this.job.status === 'running' && this.now() / 1000 > this.job.spec.deadline) {
      this.expire()
      return
    }
    for (const t of [...this.payPending]) await this.payWaiting(t)
    await this.settle(this.tasks)
  }

  /**
   * Settles those of `candidates` that are accepted and not held back by the trust rules. Called
   * for each task as it is accepted (a worker's claim then grows at once, so a fast worker is
   * not held at its risk limit until the next round) and for all of them every round (tasks
   * whose hold ended).
   */
  private async settle(candidates: readonly TaskState[]): Promise<void> {
    const due: Array<{ t: TaskState; cert: Certificate }> = []
    for (const t of candidates) {
      if (t.record.status !== 'accepted' || this.settling.has(t.record.taskIndex)) continue
      const v = this.verdictOf(t)
      if (v.status !== 'accepted' || this.heldBack(t, v)) continue
      due.push({ t, cert: certificateFor(this.job.jobId, t.record.taskIndex, v) })
    }
    if (due.length === 0) return
    // Written first, counted after: a claim never covers a task the store does not hold as
    // settled, so a restarted coordinator signs at least what it signed before.
    for (const { t } of due) this.settling.add(t.record.taskIndex)
    // Who each settlement pays, fixed before the write (see submit).
    const payees = due.map(({ cert }) => [...cert.signers])
    try {
      for (const { t, cert } of due) {
        t.record.status = 'settled'
        t.record.certificate = cert
      }
      try {
        await this.init.store.putTasks(due.map(({ t }) => this.snapshot(t)))
      } catch (err) {
        for (const { t } of due) {
          t.record.status = 'accepted'
          t.record.certificate = undefined
          this.reopened(t)
        }
        throw err
      }
      for (const [i, { t }] of due.entries()) {
        for (const a of payees[i]!) this.credit('paid', t, a)
        this.decide(t)
        this.judgeSettled(t)
      }
      for (const { t } of due) await this.payWaiting(t)
    } finally {
      for (const { t } of due) this.settling.delete(t.record.taskIndex)
    }
    this.init.onSettled?.(due.map(({ cert }) => cert))
    this.init.onChange?.()
    this.checkComplete()
  }

  /**
   * `worker`'s latest claim in this job, signed by the coordinator's key, with how many of its
   * results this coordinator holds and has decided; undefined when it has sent none.
   */
  async claimFor(worker: string, opts: { fresh?: boolean } = {}): Promise<WireClaim | undefined> {
    this.releaseDue()
    const key = worker.toLowerCase()
    const received = this.received.get(key) ?? 0
    if (received === 0) return undefined
    const results = this.paid.get(key) ?? 0
    let signed = this.signedClaims.get(key)
    // Signing costs the coordinator about a millisecond of CPU: on the busy path (leases,
    // result-acks) a claim is signed again only once it lags by CLAIM_STEP results or
    // CLAIM_MAX_AGE_MS; a worker asking for its claim (`fresh`) always gets the newest. The lag
    // stays well inside the worker's MAX_UNPAID.
    const due =
      !signed ||
      (signed.results !== results &&
        (opts.fresh ||
          results - signed.results >= CLAIM_STEP ||
          this.now() - signed.at >= CLAIM_MAX_AGE_MS))
    if (due) {
      signed = {
        results,
        at: this.now(),
        signature: this.init.signClaim({
          jobId: this.job.jobId,
          worker: getAddress(key),
          results,
        }),
      }
      this.signedClaims.set(key, signed)
    }
    return {
      jobId: this.job.jobId,
      worker: getAddress(key),
      results: signed!.results,
      signature: await signed!.signature,
      received,
      // Less the paid results the reused signature lags behind: decided − results is what was
      // decided and not paid, which a worker acts on (`webgpuUnpaid`, lib/jobs/worker.ts).
      decided: Math.min(received, (this.decided.get(key) ?? 0) - (results - signed!.results)),
    }
  }

  /** Every worker with paid results: what the job owes, as cumulative claims. */
  async allClaims(): Promise<WireClaim[]> {
    const out: WireClaim[] = []
    for (const key of this.paid.keys()) {
      const c = await this.claimFor(key, { fresh: true })
      if (c && c.results > 0) out.push(c)
    }
    return out
  }

  /**
   * Leases handed out and neither answered nor expired, over every task: after the job is done,
   * replicas still computing a settled task (r > quorum) whose answers will be paid (`payLate`).
   */
  outstandingLeases(): number {
    let n = 0
    for (const t of this.leased) n += t.leases.size
    return n
  }

  /** Accepted results of settled tasks, in task order: what `record` can put on chain. */
  settledResults(): Array<{ taskIndex: number; resultHash: Hex }> {
    return this.tasks
      .filter((t) => t.record.status === 'settled' && t.record.certificate)
      .map((t) => ({ taskIndex: t.record.taskIndex, resultHash: t.record.certificate!.resultHash }))
  }

  /**
   * A result that agrees with a task settled already is paid: a replica leased before the quorum
   * was reached and answered after it (with r = 3, quorum 2, the third replica usually is), up to
   * `replicas` results per task as the escrow holds, a correct answer to a known-answer task
   * included. Its signature joins the task's certificate, so a restarted coordinator pays it too.
   */
  private payLate(t: TaskState, key: string) {
    // While the settled write is on its way it may yet fail, and the task settle again with this
    // replica among its signers: paid then, it would be paid twice. `payWaiting` pays it after.
    if (this.settling.has(t.record.taskIndex)) return
    const r = t.record.results.at(-1)
    const cert = t.record.certificate
    if (!r || !cert || r.void || r.resultHash !== cert.resultHash) return
    if (cert.signers.some((a) => a.toLowerCase() === key)) return
    // Never beyond `replicas`: the escrow holds that many results per task, and paying a check
    // more often would leave a later task's claims short (InsufficientEscrow).
    if (cert.signers.length >= this.job.spec.replicas) return
    cert.signers.push(r.worker)
    cert.signatures.push(r.signature)
    this.credit('paid', t, key)
    this.init.onSettled?.([cert])
  }

  /**
   * Pays, once task `t`'s settled write is stored, the replicas that agreed while it was on its
   * way (up to `replicas` signers, as `payLate`): written first, counted after.
   */
  private async payWaiting(t: TaskState) {
    const cert = t.record.certificate
    if (!cert) return
    for (;;) {
      const late = this.unpaidReplicas(t)
      if (late.length === 0) return
      for (const r of late) {
        cert.signers.push(r.worker)
        cert.signatures.push(r.signature)
      }
      try {
        await this.save(t)
      } catch (err) {
        cert.signers.splice(-late.length)
        cert.signatures.splice(-late.length)
        this.storeFailed('late replica’s pay', err)
        // Tried again every round (`settleReady`) until stored.
        this.payPending.add(t)
        return
      }
      this.payPending.delete(t)
      for (const r of late) this.credit('paid', t, r.worker)
      this.init.onSettled?.([cert])
    }
  }

  /**
   * The results of settled task `t` that agree with its certificate but are not among its
   * signers, as many as `replicas` leaves room for (the escrow holds that many per task).
   */
  private unpaidReplicas(t: TaskState): TaskRecord['results'] {
    const cert = t.record.certificate
    if (!cert) return []
    const signers = new Set(cert.signers.map((a) => a.toLowerCase()))
    return t.record.results
      .filter((r) => !r.void && r.resultHash === cert.resultHash)
      .filter((r) => !signers.has(r.worker.toLowerCase()))
      .slice(0, Math.max(0, this.job.spec.replicas - cert.signers.length))
  }

  /** Counts one on-chain transaction the coordinator sent for this job (record, redeem). */
  noteChainTx(gasUsed: bigint, tx?: Hex, tasks?: readonly number[]): void {
    this.settleTxs++
    this.settleGas += gasUsed
    if (tx && tasks)
      for (const i of tasks) {
        const t = this.tasks[i]
        if (t) t.record.settleTx = tx
      }
    this.init.onChange?.()
  }

  private bump(map: Map<string, number>, worker: string, by = 1) {
    const key = worker.toLowerCase()
    map.set(key, (map.get(key) ?? 0) + by)
  }

  /** A task is decided (settled or failed): every worker with a result in it hears so. */
  private decide(t: TaskState) {
    this.noteDecision(t)
    for (const r of t.record.results) this.credit('decided', t, r.worker)
  }

  /** The record as it will be stored: leasedTo and leases as they are now. */
  private snapshot(t: TaskState): TaskRecord {
    t.record.leasedTo = [...t.workers]
    t.record.leases = [...t.leases.values()]
    t.record.shadowLeasedTo = t.shadowed.size > 0 ? [...t.shadowed] : undefined
    return t.record
  }

  progress(): JobProgress {
    const counts = { open: 0, accepted: 0, settled: 0, failed: 0 }
    let leased = 0
    let results = 0
    const now = this.now()
    for (const t of this.tasks) {
      counts[t.record.status]++
      // Not what excluded workers send for leases that count toward nothing (`shadowLease`).
      for (const r of t.record.results) if (r.void !== SHADOW_VOID) results++
      if (t.record.status === 'open' && [...t.leases.values()].some((l) => l.expiresAt > now))
        leased++
    }
    const errors: TaskErrorSummary[] = [...this.errorReports].map(([code, e]) => ({
      code,
      message: e.message,
      workers: e.workers.size,
    }))
    return {
      jobId: this.job.jobId,
      status: this.job.status,
      total: this.tasks.length,
      counts,
      leased,
      resultsReceived: results,
      workers: this.workerSummaries(),
      settleTxs: this.settleTxs,
      settleGasUsed: this.settleGas,
      errors,
      failure: this.failure,
    }
  }

  results(): TaskResult[] {
    return this.tasks.map((t) => {
      const v = this.verdictOf(t)
      const accepted = v.status === 'accepted' ? v : undefined
      const first = accepted?.agreeing[0]
      return {
        taskIndex: t.record.taskIndex,
        status: t.record.status,
        resultHash: accepted?.resultHash,
        outputs: first
          ? t.record.results.find((r) => r.worker === first.worker)?.outputs
          : undefined,
        // A settled task: those its certificate pays (late agreeing replicas included).
        agreeing:
          t.record.status === 'settled' && t.record.certificate
            ? [...t.record.certificate.signers]
            : (accepted?.agreeing.map((r) => r.worker) ?? []),
        dissenting:
          accepted?.dissenting.map((r) => r.worker) ?? this.counted(t).map((r) => r.worker),
        // Results that counted until their worker was caught (not those sent after it was).
        voided: t.record.results
          .filter((r) => r.void && r.void !== SHADOW_VOID)
          .map((r) => r.worker),
        verifiedBy: !accepted
          ? undefined
          : t.known
            ? 'known-answer'
            : t.record.single
              ? 'single'
              : 'quorum',
        classes: [
          ...new Set(
            (accepted?.agreeing ?? []).map(
              (a) => t.record.results.find((r) => r.worker === a.worker)?.class ?? 'unknown',
            ),
          ),
        ],
        settleTx: t.record.settleTx,
        failure: t.record.failure,
      }
    })
  }

  /** Announcement counts: tasks still needing results. */
  openCount(): number {
    return this.tasks.filter((t) => t.record.status === 'open').length
  }

  stop(): void {}

  private verdictOf(t: TaskState): TaskVerdict {
    const { quorum, replicas } = this.job.spec
    const results = this.counted(t)
    if (t.known) {
      // A canary is decided by the requester's own answer; if 2r results never match it (a
      // model the requester's runtime computes differently), the quorum decides after all.
      const known = t.known.hash
      const matching = results.filter((r) => r.resultHash === known)
      if (matching.length > 0)
        return {
          status: 'accepted',
          resultHash: known,
          agreeing: sortBySigner(matching).slice(0, replicas),
          dissenting: results.filter((r) => r.resultHash !== known),
        }
      if (results.length < replicas * 2)
        return { status: 'pending', received: results.length, leading: 0 }
    }
    if (t.record.single) {
      const only = results.find((r) => r.worker.toLowerCase() === t.record.single)
      if (only)
        return { status: 'accepted', resultHash: only.resultHash, agreeing: [only], dissenting: [] }
      return { status: 'pending', received: results.length, leading: 0 }
    }
    return tally(results, { quorum, replicas, maxResults: replicas * 2 })
  }

  /** The results that count: those of workers not excluded since. */
  private counted(t: TaskState) {
    return t.record.results.filter((r) => !r.void)
  }

  /**
   * Weighs a new result for its worker's reputation. A canary is judged at once against the
   * requester's answer; another task's result is judged when the task is accepted (or at once,
   * if it already is). Returns why the worker must be excluded, or why only its WebGPU path is
   * refused, when it must.
   */
  private judge(
    t: TaskState,
    key: string,
    backend: string,
  ): { exclude?: string; wasmOnly?: string; demoted?: boolean } | undefined {
    if (!this.trust.defences) return undefined
    const r = t.record.results.at(-1)!
    const rec = this.recordOf(key)
    const model = this.job.spec.modelHash.toLowerCase()
    // Once its WebGPU path was wrong on a check, none of its WebGPU results count, nor cost it.
    if (backend === 'webgpu' && rec.wasmOnly?.includes(model)) return { wasmOnly: WEBGPU_VOID }
    if (t.known) {
      t.judged.add(key)
      if (t === this.fingerprint && !this.classes.has(key) && this.classify(key, r)) {
        r.class = this.classes.get(key)
        this.markSeen(key)
      }
      if (this.vetsFor(t, r)) this.checkVetted.add(key)
      if (r.resultHash === t.known.hash) return void this.event(key, 'canary-passed')
      // The fingerprint task is every new worker's first check, so fresh keys comparing their
      // first leases can find it: a near answer to it names a private class (any q colluders
      // can share one perturbation) and must not also vet them; only a near answer to a check
      // that nothing singles out does. A right one vets as before: it puts them in `ref`,
      // among honest workers.
      if (closeness(r.outputs, t.known.outputs) === 'near')
        return void this.event(key, t === this.fingerprint ? 'divergent' : 'canary-near')
      if (backend === 'webgpu') {
        // A WebGPU path that computes a model wrongly is a broken driver, not a cheat: from
        // now on its WebGPU results of this model count for nothing, and it is not excluded.
        // It is not told either (that would name this task a check).
        rec.wasmOnly = [...(rec.wasmOnly ?? []), model]
        this.init.onTrustChange?.()
        return { wasmOnly: WEBGPU_VOID, demoted: true }
      }
      this.event(key, 'canary-failed')
      this.checkVetted.delete(key)
      return { exclude: `failed a known-answer task (task ${t.record.taskIndex})` }
    }
    if (t.record.status === 'settled') this.judgeSettled(t)
    return undefined
  }

  /**
   * Weighs every not yet weighed result of a settled task against the settled outputs. Only
   * settled tasks count: an accepted task can still be reopened (its agreeing workers excluded),
   * and the honest worker that dissented from colluders must not carry a wrong result for it.
   */
  private judgeSettled(t: TaskState) {
    if (!this.trust.defences || t.known) return
    const v = this.verdictOf(t)
    if (v.status !== 'accepted') return
    // One unverified result proves nothing about its worker.
    if (t.record.single && v.agreeing.length === 1) return
    const accepted = t.record.results.find((r) => r.worker === v.agreeing[0]?.worker)
    for (const r of this.counted(t)) {
      const key = r.worker.toLowerCase()
      if (t.judged.has(key)) continue
      t.judged.add(key)
      if (r.resultHash === v.resultHash) this.event(key, 'agreed')
      else if (accepted && closeness(r.outputs, accepted.outputs) === 'near')
        this.event(key, 'divergent')
      else this.event(key, 'wrong')
    }
  }

  private event(key: string, e: TrustEvent) {
    applyEvent(this.recordOf(key), e)
    this.init.onTrustChange?.()
  }

  private recordOf(key: string): WorkerRecord {
    let r = this.reputation.get(key)
    if (!r) {
      r = emptyRecord()
      this.reputation.set(key, r)
    }
    return r
  }

  /**
   * Gives a worker no more work from this coordinator; its results in tasks not yet settled stop
   * counting (marked void), and tasks they had decided are reopened.
   */
  private async exclude(key: string, reason: string) {
    const rec = this.recordOf(key)
    if (!rec.excluded) {
      rec.excluded = reason
      this.init.onTrustChange?.()
      this.init.log.warn('worker excluded', { jobId: this.job.jobId, worker: key, reason })
    }
    for (const t of [...this.leased])
      for (const [id, l] of t.leases) if (l.worker === key) t.leases.delete(id)
    await this.voidResults(key, reason)
  }

  /**
   * Marks `key`'s results that `which` picks (all, by default) void, in tasks not yet settled;
   * tasks they had decided are reopened. With every result, the tasks it holds alone are let go.
   */
  private async voidResults(
    key: string,
    reason: string,
    which?: (r: TaskRecord['results'][number]) => boolean,
  ) {
    const changed: TaskRecord[] = []
    for (const t of this.tasks) {
      if (t.record.status === 'settled' || t.record.status === 'failed') continue
      let touched = false
      for (const r of t.record.results) {
        if (r.worker.toLowerCase() === key && !r.void && (!which || which(r))) {
          r.void = reason
          touched = true
        }
      }
      if (t.record.single === key && (touched || !which)) {
        t.record.single = undefined
        touched = true
      }
      if (!touched) continue
      if (t.record.status === 'accepted' && this.verdictOf(t).status !== 'accepted') {
        t.record.status = 'open'
        this.reopened(t)
      }
      changed.push(t.record)
    }
    if (changed.length > 0) await this.init.store.putTasks(changed)
    this.init.onChange?.()
  }

  /**
   * While the job still has open tasks: a task one trusted worker decided alone waits
   * SINGLE_HOLD_MS before it settles (a known-answer task may yet catch that worker turning bad,
   * and void it), and where canaries can vet this job's workers, a task only unvetted workers
   * vouch for waits until each of them answered a known-answer task right (or, on another
   * backend, within floating-point noise: it ran the model; under `exact` that is all a WebGPU
   * worker can show, and holding its pay to the job's end stopped it at MAX_UNPAID).
   */
  private heldBack(t: TaskState, v: Extract<TaskVerdict, { status: 'accepted' }>): boolean {
    if (!this.trust.defences) return false
    if (this.firstOpen() >= this.tasks.length) return false
    if (t.record.single && v.agreeing.length === 1) {
      const at = this.counted(t)[0]?.receivedAt ?? 0
      if (this.now() - at < SINGLE_HOLD_MS) return true
    }
    if (this.checks.length === 0) return false
    return v.agreeing.some((r) => {
      const key = r.worker.toLowerCase()
      return !vetted(this.reputation.get(key)) && !this.checkVetted.has(key)
    })
  }

  /** Who signed this job's Result(taskIndex, resultHash), by the chain's rule; undefined: no one. */
  private async signerOf(taskIndex: number, hash: Hex, signature: Hex) {
    let digest: Hex
    try {
      digest = resultDigest(
        { chainId: this.job.chainId, contract: this.job.contract },
        { jobId: this.job.jobId, taskIndex, resultHash: hash },
      )
    } catch {
      return undefined
    }
    try {
      if (this.init.recoverSigner) return await this.init.recoverSigner(digest, signature)
      return recoverStrict(digest, signature)
    } catch {
      // A recovery that failed (a closed pool) refuses the result as unsigned; the worker sends
      // it again.
      return undefined
    }
  }

  /** The index of the first task that is open (tasks.length when none is). */
  private firstOpen(): number {
    while (this.openFrom < this.tasks.length && this.tasks[this.openFrom]!.record.status !== 'open')
      this.openFrom++
    return this.openFrom
  }

  /** The index of the first open task that is not a check: a work request scans from it. */
  private firstScanned(): number {
    const n = this.tasks.length
    this.scanFrom = Math.max(this.scanFrom, this.firstOpen())
    while (
      this.scanFrom < n &&
      (this.tasks[this.scanFrom]!.record.status !== 'open' || this.tasks[this.scanFrom]!.known)
    )
      this.scanFrom++
    return this.scanFrom
  }

  /** Whether every task is settled or failed. */
  private allDecided(): boolean {
    const n = this.tasks.length
    while (this.undoneFrom < n) {
      const st = this.tasks[this.undoneFrom]!.record.status
      // Settled in memory while its write is on its way: that write may yet fail.
      if (st === 'open' || st === 'accepted' || this.settling.has(this.undoneFrom)) return false
      this.undoneFrom++
    }
    return true
  }

  /** Task `t` is open or accepted again: the cursors must not have passed it. */
  private reopened(t: TaskState) {
    const i = t.record.taskIndex
    this.openFrom = Math.min(this.openFrom, i)
    this.scanFrom = Math.min(this.scanFrom, i)
    this.undoneFrom = Math.min(this.undoneFrom, i)
  }

  /**
   * Whether result `r` of check `t` vets its worker: the known answer, or within floating-point
   * noise of it on any check but the fingerprint (see `judge`).
   */
  private vetsFor(t: TaskState, r: TaskRecord['results'][number]): boolean {
    if (!t.known) return false
    if (r.resultHash === t.known.hash) return true
    return t !== this.fingerprint && closeness(r.outputs, t.known.outputs) === 'near'
  }

  private checkComplete() {
    if (this.job.status !== 'running') return
    if (this.allDecided()) {
      this.job.status = 'complete'
      this.releaseDue()
      void this.background(this.init.store.putJob(this.job), 'job').finally(() => this.finish())
    }
  }

  private finish() {
    this.init.onChange?.()
    this.resolveDone(this.progress())
  }

  private async failJob(reason: string) {
    if (this.job.status !== 'running') return
    this.failure = reason
    for (const t of this.tasks) {
      if (t.record.status === 'open') {
        t.record.status = 'failed'
        t.record.failure = reason
        t.leases.clear()
        this.decide(t)
      }
    }
    await this.init.store.putTasks(this.tasks.map((t) => t.record))
    this.checkComplete()
  }

  private expire() {
    if (this.job.status !== 'running') return
    const settled: Certificate[] = []
    for (const t of this.tasks) {
      const v = t.record.status === 'accepted' ? this.verdictOf(t) : undefined
      if (v?.status === 'accepted') {
        // Its workers did the work in time: paid (claims stay redeemable in the claim window).
        const cert = certificateFor(this.job.jobId, t.record.taskIndex, v)
        t.record.status = 'settled'
        t.record.certificate = cert
        for (const a of cert.signers) this.credit('paid', t, a)
        settled.push(cert)
        this.decide(t)
      } else if (t.record.status === 'open' || t.record.status === 'accepted') {
        t.record.status = 'failed'
        t.record.failure = 'deadline passed'
        this.decide(t)
      }
    }
    if (settled.length > 0) this.init.onSettled?.(settled)
    this.job.status = 'expired'
    this.releaseDue()
    void this.background(this.init.store.putTasks(this.tasks.map((t) => t.record)), 'task')
    void this.background(this.init.store.putJob(this.job), 'job').finally(() => this.finish())
  }

  private expireLeases(now: number) {
    for (const t of [...this.leased]) {
      for (const [id, l] of t.leases) {
        if (l.expiresAt <= now) {
          t.leases.delete(id)
          const s = this.statsOf(l.worker)
          s.timeouts++
          s.consecutiveTimeouts++
          s.lastTimeoutAt = Math.max(s.lastTimeoutAt ?? 0, l.expiresAt)
          if (this.trust.defences) this.event(l.worker, 'timeout')
          if (t.record.single === l.worker) {
            // The trusted worker did not answer: the task goes back to ordinary replication.
            t.record.single = undefined
            this.saveInBackground(t)
          }
          this.init.log.info('lease expired', {
            jobId: this.job.jobId,
            task: t.record.taskIndex,
            worker: l.worker,
          })
        }
      }
    }
  }

  /**
   * A timed worker gets five times its mean compute time plus 5 s; an untimed one gets time for a
   * model download plus ten times the typical worker's compute time, or 60 s when nobody is timed.
   */
  private leaseMs(worker: string): number {
    return Math.round(this.leaseMsExact(worker))
  }

  private leaseMsExact(worker: string): number {
    const s = this.init.workerStats.get(worker)
    return leaseLengthMs(s?.ewmaMs, this.typicalComputeMs(), this.slownessOf(s))
  }

  /**
   * An untimed worker's probe score against the median score of timed workers: 2 means its probe
   * ran half as fast. 1 when either is unknown.
   */
  private slownessOf(s: WorkerTiming | undefined): number {
    if (!s?.score || s.ewmaMs !== undefined) return 1
    const timed = upperMedian(
      [...this.init.workerStats.values()]
        .filter((w) => w.ewmaMs !== undefined && w.score)
        .map((w) => w.score!),
    )
    return timed === undefined ? 1 : timed / s.score
  }

  /** Median of the timed workers' mean compute times, if any worker is timed. */
  private typicalComputeMs(): number | undefined {
    return upperMedian(
      [...this.init.workerStats.values()]
        .map((s) => s.ewmaMs)
        .filter((m): m is number => m !== undefined),
    )
  }

  private statsOf(worker: string): WorkerTiming {
    let s = this.init.workerStats.get(worker)
    if (!s) {
      s = {
        backend: 'unknown',
        results: 0,
        agreed: 0,
        dissented: 0,
        computeMs: 0,
        ewmaMs: undefined,
        timeouts: 0,
        consecutiveTimeouts: 0,
      }
      this.init.workerStats.set(worker, s)
    }
    return s
  }

  private recordTiming(worker: string, backend: string, ms: number) {
    const s = this.statsOf(worker)
    s.backend = backend
    s.results++
    s.computeMs += ms
    s.consecutiveTimeouts = 0
    s.ewmaMs = s.ewmaMs === undefined ? ms : 0.8 * s.ewmaMs + 0.2 * ms
  }

  private readonly peerIds = new Map<string, string>()

  /** Per-worker counts, derived in one pass over the tasks when progress is asked for. */
  private workerSummaries(): WorkerSummary[] {
    const counts = new Map<
      string,
      { results: number; agreed: number; dissented: number; leased: number }
    >()
    const entry = (key: string) => {
      const c = counts.get(key) ?? { results: 0, agreed: 0, dissented: 0, leased: 0 }
      counts.set(key, c)
      return c
    }
    for (const t of this.tasks) {
      for (const w of t.workers) entry(w).leased++
      for (const r of this.counted(t)) entry(r.worker.toLowerCase()).results++
      const v = this.verdictOf(t)
      if (v.status !== 'accepted') continue
      for (const r of v.agreeing) entry(r.worker.toLowerCase()).agreed++
      for (const r of v.dissenting) entry(r.worker.toLowerCase()).dissented++
    }
    return [...counts].map(([key, c]) => {
      const s = this.init.workerStats.get(key)
      const rec = this.reputation.get(key)
      return {
        peerId: this.peerIds.get(key) ?? '',
        address: getAddress(key),
        backend: s?.backend ?? 'unknown',
        ...c,
        timeouts: s?.timeouts ?? 0,
        reputation: rec ? reputation(rec) : 0,
        canaryPassed: rec?.canaryPassed ?? 0,
        canaryFailed: rec?.canaryFailed ?? 0,
        wrong: rec?.wrong ?? 0,
        excluded: rec?.excluded,
        avgComputeMs: s && s.results > 0 ? Math.round(s.computeMs / s.results) : 0,
        ...(s?.score ? { probeScore: s.score } : {}),
      }
    })
  }
}

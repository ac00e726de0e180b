/**
 * A discrete-event simulation of one large job: thousands of volunteers of mixed speed that come
 * and go, pulling a million tasks from one coordinator. Simulated clock and network (each
 * volunteer has its own round-trip time); no crypto, no tensors. What it runs of the real code:
 *
 * - the quorum (`tally`, lib/proofs), on every result;
 * - reputation and adaptive replication (`applyEvent`, `verifyProbability`, lib/trust): workers
 *   earn trust from agreeing results, lose it on wrong results and timeouts, and an established
 *   worker's task is verified only with the rule's probability;
 * - lease lengths (`leaseLengthMs`, lib/jobs/job-run.ts) and the coordinator's lease rules:
 *   at most MAX_LEASES_PER_WORKER held, never two replicas of a task to one worker, r replicas
 *   and one more at a time up to 2r after a split, straggler duplication once nothing is left,
 *   the bench after MAX_CONSECUTIVE_TIMEOUTS expired leases in a row (`benchRule`).
 *
 * JobRun scans a work request's tasks from the first open one (the tasks in flight, then the
 * first fresh one); the scheduling loop here keeps the same rules over indexes: a pointer to the
 * next fresh task, the set of tasks that need another replica, and the leases in issue order.
 *
 * Two placement policies are compared: `first-come` (what JobRun does: whoever asks gets the
 * next task) and `attractor` (the seeds' attractor field: near the end of the job, when fewer
 * replicas are left to hand out than volunteers ask, a volunteer gets one only if its field
 * strength F(n) = Σ w_i · r_i(n)/r_i(t) · e^(−d(n)) is among the strongest; its speed comes from
 * a capability probe when it starts, then from its measured compute times).
 */
import type { Address, Hex } from 'viem'
import { seededRandom } from '../env/random'
import { benchRule, leaseLengthMs, MAX_CONSECUTIVE_TIMEOUTS } from '../jobs/job-run'
import { type SignedResult, tally } from '../proofs/quorum'
import {
  applyEvent,
  emptyRecord,
  type ReplicationRule,
  verifyProbability,
  type WorkerRecord,
} from '../trust'

export type Placement = 'first-come' | 'attractor'

export interface SimConfig {
  volunteers: number
  tasks: number
  replicas: number
  quorum: number
  /** Compute time of one task on a speed-1 machine (ms). */
  taskMs: number
  /** Shares of the volunteers and their compute-time factors (2 = half as fast). */
  speeds: ReadonlyArray<{ share: number; factor: number }>
  /** Round-trip time to the coordinator, drawn uniformly per volunteer (ms). */
  rttMs: readonly [number, number]
  /** Mean online and offline session lengths (exponential); 0 online: no churn. */
  onlineMeanMs: number
  offlineMeanMs: number
  /** Share of volunteers whose results are wrong (each its own wrong answer). */
  wrongShare: number
  rule: ReplicationRule
  placement: Placement
  /**
   * Straggler duplicates: `once` (a task fully leased gets one speculative replica, and another
   * only after a lease ends) or `repeat` (another each time its newest replica has run long, up
   * to 2r), which JobRun does.
   */
  duplicate: 'once' | 'repeat'
  seed: number
}

export const SIM_DEFAULTS: SimConfig = {
  volunteers: 10_000,
  tasks: 1_000_000,
  replicas: 2,
  quorum: 2,
  taskMs: 1000,
  speeds: [
    { share: 0.4, factor: 0.5 },
    { share: 0.4, factor: 1 },
    { share: 0.2, factor: 3 },
  ],
  rttMs: [20, 300],
  onlineMeanMs: 5 * 60_000,
  offlineMeanMs: 150_000,
  wrongShare: 0.01,
  rule: 'always',
  placement: 'first-come',
  duplicate: 'repeat',
  seed: 1,
}

export interface SimResult {
  config: Omit<SimConfig, 'speeds'>
  wallMs: number
  events: number
  /** Simulated time until the last task was accepted (ms). */
  makespanMs: number
  /** Simulated time until 99 % of the tasks were accepted (ms): the rest is the tail. */
  p99Ms: number
  /** Total work over total capacity: tasks × quorum results at the volunteers' mean availability. */
  idealMs: number
  makespanRatio: number
  accepted: number
  failed: number
  /** Accepted on agreeing replicas, and on one trusted worker's result alone. */
  acceptedByQuorum: number
  acceptedSingle: number
  /** Accepted with a wrong result (wrong workers agreeing; 0 unless they outnumber a quorum). */
  acceptedWrong: number
  leases: number
  expiredLeases: number
  /** Results the coordinator received / tasks. */
  resultsPerTask: number
  /** Computations started / tasks: results plus work lost to churn and to late duplicates. */
  computePerTask: number
  /** Straggler duplicates handed out. */
  duplicates: number
  /** Volunteers benched at the end (timed out 3 times in a row, no result since). */
  benched: number
}

const ASK = 0
const LEASE = 1
const DONE = 2
const RESULT = 3
const EXPIRE = 4
const OFFLINE = 5
const ONLINE = 6

/** A min-heap of events on parallel arrays (time, kind, worker, lease). */
class EventQueue {
  private t = new Float64Array(1 << 16)
  private k = new Uint8Array(1 << 16)
  private w = new Int32Array(1 << 16)
  private l = new Int32Array(1 << 16)
  size = 0

  push(time: number, kind: number, worker: number, lease: number) {
    if (this.size === this.t.length) this.grow()
    let i = this.size++
    while (i > 0) {
      const p = (i - 1) >> 1
      if (this.t[p]! <= time) break
      this.move(p, i)
      i = p
    }
    this.set(i, time, kind, worker, lease)
  }

  /** Pops the earliest event into `out` (time, kind, worker, lease). */
  pop(out: { time: number; kind: number; worker: number; lease: number }): boolean {
    if (this.size === 0) return false
    out.time = this.t[0]!
    out.kind = this.k[0]!
    out.worker = this.w[0]!
    out.lease = this.l[0]!
    const last = --this.size
    const time = this.t[last]!
    const kind = this.k[last]!
    const worker = this.w[last]!
    const lease = this.l[last]!
    let i = 0
    for (;;) {
      let c = 2 * i + 1
      if (c >= last) break
      if (c + 1 < last && this.t[c + 1]! < this.t[c]!) c++
      if (this.t[c]! >= time) break
      this.move(c, i)
      i = c
    }
    this.set(i, time, kind, worker, lease)
    return true
  }

  private set(i: number, time: number, kind: number, worker: number, lease: number) {
    this.t[i] = time
    this.k[i] = kind
    this.w[i] = worker
    this.l[i] = lease
  }

  private move(from: number, to: number) {
    this.t[to] = this.t[from]!
    this.k[to] = this.k[from]!
    this.w[to] = this.w[from]!
    this.l[to] = this.l[from]!
  }

  private grow() {
    const n = this.t.length * 2
    const t = new Float64Array(n)
    t.set(this.t)
    const k = new Uint8Array(n)
    k.set(this.k)
    const w = new Int32Array(n)
    w.set(this.w)
    const l = new Int32Array(n)
    l.set(this.l)
    this.t = t
    this.k = k
    this.w = w
    this.l = l
  }
}

interface Volunteer {
  address: Address
  factor: number
  rttMs: number
  wrong: boolean
  online: boolean
  /** Bumped when the volunteer goes offline or comes back: its older events are void. */
  epoch: number
  computing: number
  queued: number
  asking: boolean
  /** Coordinator side: live leases, timing, trust. */
  held: number
  ewmaMs: number | undefined
  consecutiveTimeouts: number
  lastTimeoutAt: number | undefined
  record: WorkerRecord
  /** Speed the capability probe reported (tasks per second at this job's size). */
  probedSpeed: number
  lastAskAt: number
}

interface TaskState {
  status: 0 | 1 | 2 // open, accepted, failed
  leases: number
  workers: number[]
  /** Every lease of this task (a handful), to find its oldest live one. */
  leaseIds: number[]
  results: SignedResult[]
  single: number
  inPartial: boolean
  inFull: boolean
  /** Bumped whenever its place among the straggler candidates changes (older entries are void). */
  dupVersion: number
  dupKey: number
}

interface LeaseRec {
  task: number
  worker: number
  issuedAt: number
  live: boolean
  epoch: number
}

const NONE = -1

/** Runs one simulation to the end (every task accepted or failed) and measures it. */
export function simulate(partial: Partial<SimConfig> = {}): SimResult {
  const cfg: SimConfig = { ...SIM_DEFAULTS, ...partial }
  const started = performance.now()
  const random = seededRandom(cfg.seed)
  const exp = (mean: number) => -Math.log(1 - random()) * mean
  const churn = cfg.onlineMeanMs > 0
  const availability = churn ? cfg.onlineMeanMs / (cfg.onlineMeanMs + cfg.offlineMeanMs) : 1
  const maxResults = cfg.replicas * 2
  const value = 1n

  // Volunteers, with their speed classes in proportion.
  const vols: Volunteer[] = []
  const totalShare = cfg.speeds.reduce((s, x) => s + x.share, 0)
  for (let i = 0; i < cfg.volunteers; i++) {
    let pick = random() * totalShare
    let factor = cfg.speeds.at(-1)!.factor
    for (const s of cfg.speeds) {
      pick -= s.share
      if (pick < 0) {
        factor = s.factor
        break
      }
    }
    vols.push({
      address: `0x${(i + 1).toString(16).padStart(40, '0')}` as Address,
      factor,
      rttMs: cfg.rttMs[0] + random() * (cfg.rttMs[1] - cfg.rttMs[0]),
      wrong: random() < cfg.wrongShare,
      online: false,
      epoch: 0,
      computing: NONE,
      queued: NONE,
      asking: false,
      held: 0,
      ewmaMs: undefined,
      consecutiveTimeouts: 0,
      lastTimeoutAt: undefined,
      record: emptyRecord(),
      // A short benchmark when the volunteer starts: its speed within ±10 %.
      probedSpeed: 1 / (cfg.taskMs * factor * (0.9 + 0.2 * random())),
      lastAskAt: -Infinity,
    })
  }
  const capacity = vols.reduce((s, v) => s + availability / (cfg.taskMs * v.factor), 0)
  const idealMs = (cfg.tasks * cfg.quorum) / capacity

  const tasks: TaskState[] = new Array(cfg.tasks)
  for (let i = 0; i < cfg.tasks; i++)
    tasks[i] = {
      status: 0,
      leases: 0,
      workers: [],
      leaseIds: [],
      results: [],
      single: NONE,
      inPartial: false,
      inFull: false,
      dupVersion: 0,
      dupKey: Number.NaN,
    }
  let nextFresh = 0
  /** Tasks that were leased before and need another replica now (insertion order). */
  const partialSet = new Set<number>()
  /**
   * Tasks fully leased and below 2r results (exactly fully leased, for `once`): the ones a
   * straggler duplicate may go to, by how long they have waited on their replicas (the same
   * order JobRun picks in). Entries go stale when the task changes; stale ones are skipped.
   */
  const dupHeap = new EventQueue()
  let fullCount = 0
  const leasesById: LeaseRec[] = []

  const q = new EventQueue()
  const ev = { time: 0, kind: 0, worker: 0, lease: 0 }
  const top = { time: 0, kind: 0, worker: 0, lease: 0 }
  let now = 0
  let accepted = 0
  let failed = 0
  let acceptedSingle = 0
  let acceptedWrong = 0
  let resultsIn = 0
  let computations = 0
  let expired = 0
  let duplicates = 0
  let events = 0
  let makespan = 0
  let p99At = 0

  // Typical compute time: the median of timed volunteers' means, refreshed now and then.
  let typicalMs: number | undefined
  let sinceTypical = 0
  const refreshTypical = () => {
    const times = vols.map((v) => v.ewmaMs).filter((m): m is number => m !== undefined)
    if (times.length === 0) return
    times.sort((a, b) => a - b)
    typicalMs = times[times.length >> 1]
  }

  // Field strengths for `attractor`: speed and reliability against the job's needs, damped by
  // the volunteer's distance (round-trip time) from the coordinator.
  const REF_RTT_MS = 500
  const strength = (v: Volunteer) => {
    const speed = v.ewmaMs !== undefined ? 1 / v.ewmaMs : v.probedSpeed
    const reliability = 1 / (1 + v.consecutiveTimeouts + v.record.timeouts * 0.1)
    const needSpeed = 1 / (typicalMs ?? cfg.taskMs)
    return (0.8 * (speed / needSpeed) + 0.2 * reliability) * Math.exp(-v.rttMs / REF_RTT_MS)
  }
  let sortedStrength: number[] = []
  const refreshStrength = () => {
    sortedStrength = vols
      .filter((v) => v.online && now - v.lastAskAt < 30_000)
      .map(strength)
      .sort((a, b) => a - b)
  }

  const remainingReplicas = () => {
    let n = (cfg.tasks - nextFresh) * cfg.replicas
    for (const i of partialSet) {
      const t = tasks[i]!
      n += Math.max(1, allowed(t) - t.leases - t.results.length)
    }
    return n
  }

  const allowed = (t: TaskState) =>
    t.results.length >= cfg.replicas ? Math.min(maxResults, t.results.length + 1) : cfg.replicas
  const needsReplica = (t: TaskState) =>
    t.status === 0 && t.single === NONE && t.leases + t.results.length < allowed(t)
  const markPartial = (i: number) => {
    const t = tasks[i]!
    if (needsReplica(t)) {
      if (!t.inPartial) {
        t.inPartial = true
        partialSet.add(i)
      }
    } else if (t.inPartial) {
      t.inPartial = false
      partialSet.delete(i)
    }
    const n = t.leases + t.results.length
    const full =
      t.status === 0 &&
      t.single === NONE &&
      t.leases > 0 &&
      n < maxResults &&
      (cfg.duplicate === 'repeat' ? n >= allowed(t) : n === allowed(t))
    if (full !== t.inFull) fullCount += full ? 1 : -1
    t.inFull = full
    const key = full ? runningSince(t) : Number.NaN
    if (full && key !== t.dupKey) {
      t.dupVersion++
      dupHeap.push(key, 0, i, t.dupVersion)
    }
    t.dupKey = key
  }
  /**
   * How long the task has waited on its live replicas: since its oldest one was handed out
   * (`once`), or since its newest (`repeat`: each duplicate must itself run long first).
   */
  const runningSince = (t: TaskState) => {
    let oldest = Number.POSITIVE_INFINITY
    let newest = Number.NEGATIVE_INFINITY
    for (const id of t.leaseIds) {
      const l = leasesById[id]!
      if (!l.live) continue
      if (l.issuedAt < oldest) oldest = l.issuedAt
      if (l.issuedAt > newest) newest = l.issuedAt
    }
    return cfg.duplicate === 'repeat' ? newest : oldest
  }

  const lease = (w: number, i: number, dup: boolean) => {
    const v = vols[w]!
    const t = tasks[i]!
    const len = leaseLengthMs(v.ewmaMs, typicalMs)
    const rec: LeaseRec = { task: i, worker: w, issuedAt: now, live: true, epoch: v.epoch }
    const id = leasesById.length
    leasesById.push(rec)
    t.leaseIds.push(id)
    t.leases++
    t.workers.push(w)
    v.held++
    if (dup) duplicates++
    markPartial(i)
    q.push(now + len, EXPIRE, w, id)
    q.push(now + v.rttMs / 2, LEASE, w, id)
  }

  /** The coordinator's answer to a work request: a lease, or when to ask again. */
  const assign = (w: number): number | undefined => {
    const v = vols[w]!
    v.lastAskAt = now
    const bench = benchRule(v.consecutiveTimeouts, v.lastTimeoutAt, now)
    if (bench.waitMs > 0) return bench.waitMs
    if (v.held >= bench.maxLeases) return 1000
    if (cfg.placement === 'attractor' && sortedStrength.length > 0) {
      // Replicas still to hand out, and tasks a straggler duplicate may go to.
      const left = remainingReplicas() + fullCount
      const active = sortedStrength.length
      if (left < active) {
        const cut = sortedStrength[Math.floor((1 - left / active) * (active - 1))]!
        if (strength(v) < cut) return 1000
      }
    }
    for (const i of partialSet) {
      const t = tasks[i]!
      if (t.workers.includes(w)) continue
      lease(w, i, false)
      return undefined
    }
    if (nextFresh < cfg.tasks) {
      const i = nextFresh++
      const t = tasks[i]!
      const p = verifyProbability(cfg.rule, { record: v.record, stake: 0n }, value)
      if (random() >= p) t.single = w
      lease(w, i, false)
      return undefined
    }
    // Nothing left to hand out: duplicate the replica that has run longest, if it runs long.
    const slowAfter = Math.max(2000, 3 * (typicalMs ?? 10_000))
    const skipped: Array<[number, number, number]> = []
    let found = NONE
    while (dupHeap.pop(top)) {
      const t = tasks[top.worker]!
      if (top.lease !== t.dupVersion || !t.inFull) continue // stale
      if (top.time > now - slowAfter) {
        dupHeap.push(top.time, 0, top.worker, top.lease)
        break
      }
      if (t.workers.includes(w)) {
        // Had it already: keep it for another volunteer.
        skipped.push([top.time, top.worker, top.lease])
        if (skipped.length >= 50) break
        continue
      }
      found = top.worker
      break
    }
    for (const [time, i, version] of skipped) dupHeap.push(time, 0, i, version)
    if (found !== NONE) {
      lease(w, found, true)
      return undefined
    }
    return 1000
  }

  const endLease = (rec: LeaseRec) => {
    if (!rec.live) return
    rec.live = false
    tasks[rec.task]!.leases--
    vols[rec.worker]!.held--
  }

  const decide = (i: number) => {
    const t = tasks[i]!
    let verdict: ReturnType<typeof tally>
    if (t.single !== NONE) {
      const only = t.results.find((r) => r.worker === vols[t.single]!.address)
      if (!only) return
      verdict = {
        status: 'accepted',
        resultHash: only.resultHash,
        agreeing: [only],
        dissenting: [],
      }
    } else {
      verdict = tally(t.results, {
        quorum: cfg.quorum,
        replicas: cfg.replicas,
        maxResults,
      })
    }
    if (verdict.status === 'pending') return
    if (verdict.status === 'no-quorum') {
      t.status = 2
      failed++
    } else {
      t.status = 1
      accepted++
      if (accepted === Math.ceil(cfg.tasks * 0.99)) p99At = now
      if (t.single !== NONE) acceptedSingle++
      if (verdict.resultHash !== GOOD) acceptedWrong++
      // Weigh every result for its worker (a lone trusted result proves nothing).
      if (t.single === NONE)
        for (const r of t.results)
          applyEvent(
            vols[workerIndex(r.worker)]!.record,
            r.resultHash === verdict.resultHash ? 'agreed' : 'wrong',
          )
    }
    makespan = now
    markPartial(i)
  }

  const GOOD = `0x${'00'.repeat(32)}` as Hex
  const wrongHash = (w: number) => `0x${(w + 1).toString(16).padStart(64, '0')}` as Hex
  const workerIndex = (a: Address) => Number.parseInt(a.slice(2), 16) - 1

  const startCompute = (w: number, id: number) => {
    const v = vols[w]!
    v.computing = id
    computations++
    q.push(now + cfg.taskMs * v.factor * (0.9 + 0.2 * random()), DONE, w, id)
  }

  const ask = (w: number, delay: number) => {
    const v = vols[w]!
    v.asking = true
    // The request reaches the coordinator after half the round trip.
    q.push(now + delay + v.rttMs / 2, ASK, w, v.epoch)
  }

  // Start: volunteers online in proportion to availability, each after loading the model.
  for (let w = 0; w < vols.length; w++) {
    const v = vols[w]!
    if (!churn || random() < availability) {
      v.online = true
      ask(w, 1000 + random() * 4000)
      if (churn) q.push(exp(cfg.onlineMeanMs), OFFLINE, w, 0)
    } else q.push(exp(cfg.offlineMeanMs), ONLINE, w, 0)
  }
  refreshStrength()

  while (accepted + failed < cfg.tasks && q.pop(ev)) {
    now = ev.time
    events++
    const w = ev.worker
    const v = vols[w]!
    switch (ev.kind) {
      case ASK: {
        if (ev.lease !== v.epoch) break
        v.asking = false
        const retry = assign(w)
        if (retry !== undefined) {
          // The "no work" answer travels back; the volunteer asks again after the pause.
          v.asking = true
          q.push(now + v.rttMs + retry, ASK, w, v.epoch)
        }
        break
      }
      case LEASE: {
        const rec = leasesById[ev.lease]!
        if (rec.epoch !== v.epoch || !v.online) break
        if (v.computing === NONE) {
          startCompute(w, ev.lease)
          // At full duty a volunteer asks for its next task while this one computes.
          if (!v.asking) ask(w, 0)
        } else v.queued = ev.lease
        break
      }
      case DONE: {
        const rec = leasesById[ev.lease]!
        if (rec.epoch !== v.epoch || !v.online) break
        v.computing = NONE
        q.push(now + v.rttMs / 2, RESULT, w, ev.lease)
        if (v.queued !== NONE) {
          const next = v.queued
          v.queued = NONE
          startCompute(w, next)
          if (!v.asking) ask(w, 0)
        } else if (!v.asking) ask(w, 0)
        break
      }
      case RESULT: {
        const rec = leasesById[ev.lease]!
        const t = tasks[rec.task]!
        resultsIn++
        // The coordinator accepts a result from any worker ever leased the task, even late.
        const ms = cfg.taskMs * v.factor
        v.ewmaMs = v.ewmaMs === undefined ? ms : 0.8 * v.ewmaMs + 0.2 * ms
        v.consecutiveTimeouts = 0
        endLease(rec)
        if (t.status === 0) {
          t.results.push({
            worker: v.address,
            resultHash: v.wrong ? wrongHash(w) : GOOD,
            signature: '0x',
          })
          decide(rec.task)
          markPartial(rec.task)
        }
        if (++sinceTypical >= 2000) {
          sinceTypical = 0
          refreshTypical()
          if (cfg.placement === 'attractor') refreshStrength()
        }
        break
      }
      case EXPIRE: {
        const rec = leasesById[ev.lease]!
        if (!rec.live) break
        endLease(rec)
        expired++
        v.consecutiveTimeouts++
        v.lastTimeoutAt = now
        applyEvent(v.record, 'timeout')
        const t = tasks[rec.task]!
        if (t.single === w) t.single = NONE
        markPartial(rec.task)
        break
      }
      case OFFLINE: {
        v.online = false
        v.epoch++
        v.computing = NONE
        v.queued = NONE
        v.asking = false
        q.push(now + exp(cfg.offlineMeanMs), ONLINE, w, 0)
        break
      }
      case ONLINE: {
        v.online = true
        v.epoch++
        ask(w, 1000 + random() * 4000)
        q.push(now + exp(cfg.onlineMeanMs), OFFLINE, w, 0)
        break
      }
    }
  }

  const { speeds: _speeds, ...config } = cfg
  return {
    config,
    wallMs: Math.round(performance.now() - started),
    events,
    makespanMs: Math.round(makespan),
    p99Ms: Math.round(p99At),
    idealMs: Math.round(idealMs),
    makespanRatio: makespan / idealMs,
    accepted,
    failed,
    acceptedByQuorum: accepted - acceptedSingle,
    acceptedSingle,
    acceptedWrong,
    leases: leasesById.length,
    expiredLeases: expired,
    resultsPerTask: resultsIn / cfg.tasks,
    computePerTask: computations / cfg.tasks,
    duplicates,
    benched: vols.filter((x) => x.consecutiveTimeouts >= MAX_CONSECUTIVE_TIMEOUTS).length,
  }
}

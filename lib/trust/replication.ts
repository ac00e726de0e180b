/**
 * Adaptive replication: how likely a task handed to a worker is verified (replicated to the
 * job's quorum) rather than accepted on that worker's result alone. Two rules, both from the
 * literature; docs/trust.md compares them with the adversary harness.
 *
 * - `boinc`: BOINC's adaptive replication. A worker is trusted after N consecutive valid
 *   results; a trusted worker's task is still verified with probability 1/consecutiveValid.
 * - `pverify`: P_verify = (V/S)^a · (1−R)^b with V the task's value, S the worker's stake and R
 *   its reputation. Unstaked workers (S = 0) are always verified: without stake, cheating on an
 *   unverified task costs nothing but the reputation.
 * - `always`: every task is replicated to the quorum.
 *
 * Both adaptive rules apply only to established workers: a worker with fewer than
 * `minVerified` verified results is always replicated, whatever the rule says. Staked workers
 * earn trust faster: with slashable stake of at least STAKE_FOR_TRUST × the task's value, both
 * `minVerified` and BOINC's N are halved (P_verify uses the stake directly).
 */
import { reputation, verifiedCount, type WorkerRecord } from './reputation'

export type ReplicationRule = 'always' | 'boinc' | 'pverify'

export const REPLICATION_RULES: readonly ReplicationRule[] = ['always', 'boinc', 'pverify']

export interface ReplicationParams {
  /** BOINC: consecutive valid results before a worker is trusted. */
  boincN: number
  /** P_verify exponents. */
  a: number
  b: number
  /** Verified results a worker needs before any rule may skip replication. */
  minVerified: number
}

export const DEFAULT_REPLICATION: ReplicationParams = { boincN: 10, a: 1, b: 2, minVerified: 10 }

/** Stake, as a multiple of a task's value, that halves the results needed for trust. */
export const STAKE_FOR_TRUST = 100n

export interface WorkerStanding {
  record: WorkerRecord
  /** Slashable stake (wei); 0n when none or unknown. */
  stake: bigint
}

/** Probability in [0, 1] that a task leased to this worker is replicated to the quorum. */
export function verifyProbability(
  rule: ReplicationRule,
  w: WorkerStanding,
  taskValue: bigint,
  p: ReplicationParams = DEFAULT_REPLICATION,
): number {
  if (rule === 'always' || w.record.excluded) return 1
  const staked = taskValue > 0n && w.stake >= STAKE_FOR_TRUST * taskValue
  const need = (n: number) => (staked ? Math.ceil(n / 2) : n)
  if (verifiedCount(w.record) < need(p.minVerified)) return 1
  if (rule === 'boinc') {
    const c = w.record.consecutiveValid
    return c < need(p.boincN) ? 1 : 1 / c
  }
  if (w.stake <= 0n) return 1
  const ratio = ratioOf(taskValue, w.stake)
  const pv = ratio ** p.a * (1 - reputation(w.record)) ** p.b
  return Math.min(1, pv)
}

/** V / S as a float without losing precision on large wei amounts. */
function ratioOf(v: bigint, s: bigint): number {
  if (v >= s) return Number(v) / Number(s)
  // Scale to 1e12 resolution: enough for probabilities, exact for bigints of any size.
  return Number((v * 1_000_000_000_000n) / s) / 1e12
}

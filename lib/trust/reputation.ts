/**
 * What a coordinator knows of a worker, across all its jobs, and what that knowledge is worth:
 * a reputation R in [0, 1). New workers start at 0; agreeing results and passed canaries raise
 * R slowly; wrong results, failed canaries and timeouts pull it down much faster.
 *
 *   R = good / (good + PRIOR + 4·wrong + 25·canaryFailed + timeouts)     good = agreed + canaryPassed
 *
 * `wrong` counts dissents whose outputs are far from the accepted ones; dissents within
 * floating-point noise of them (another backend rounding differently) are not held against
 * anyone (`divergent`).
 */

export interface WorkerRecord {
  /** Results that agreed with an accepted verdict. */
  agreed: number
  /** Dissents far from the accepted outputs. */
  wrong: number
  /** Dissents within floating-point noise of the accepted outputs. */
  divergent: number
  timeouts: number
  canaryPassed: number
  canaryFailed: number
  /**
   * Known-answer tasks answered within floating-point noise of the requester's answer but not
   * equal under the policy (another backend, under `exact`): proof that it ran the model.
   */
  canaryNear?: number | undefined
  /** Agreeing results and passed canaries since its last wrong result, failed canary or timeout. */
  consecutiveValid: number
  /** Why this coordinator gives it no more work, if it does not. */
  excluded?: string | undefined
  /** Models (hash) whose WebGPU path failed a canary: this worker must use WASM for them. */
  wasmOnly?: string[] | undefined
}

/** Reputation weight of a clean record before any result: R = n / (n + PRIOR). */
export const PRIOR = 10

export function emptyRecord(): WorkerRecord {
  return {
    agreed: 0,
    wrong: 0,
    divergent: 0,
    timeouts: 0,
    canaryPassed: 0,
    canaryFailed: 0,
    consecutiveValid: 0,
  }
}

export function reputation(r: WorkerRecord): number {
  const good = r.agreed + r.canaryPassed
  return good / (good + PRIOR + 4 * r.wrong + 25 * r.canaryFailed + r.timeouts)
}

/** Verified results in all: agreeing results and passed canaries. */
export function verifiedCount(r: WorkerRecord): number {
  return r.agreed + r.canaryPassed
}

/** Whether a worker answered a known-answer task right, or within floating-point noise of it. */
export function vetted(r: WorkerRecord | undefined): boolean {
  return (r?.canaryPassed ?? 0) + (r?.canaryNear ?? 0) > 0
}

export type TrustEvent =
  | 'agreed'
  | 'wrong'
  | 'divergent'
  | 'timeout'
  | 'canary-passed'
  | 'canary-near'
  | 'canary-failed'

export function applyEvent(r: WorkerRecord, e: TrustEvent): void {
  switch (e) {
    case 'agreed':
      r.agreed++
      r.consecutiveValid++
      break
    case 'canary-passed':
      r.canaryPassed++
      r.consecutiveValid++
      break
    case 'divergent':
      r.divergent++
      break
    case 'wrong':
      r.wrong++
      r.consecutiveValid = 0
      break
    case 'timeout':
      r.timeouts++
      r.consecutiveValid = 0
      break
    case 'canary-near':
      r.canaryNear = (r.canaryNear ?? 0) + 1
      r.divergent++
      break
    case 'canary-failed':
      r.canaryFailed++
      r.consecutiveValid = 0
      break
  }
}

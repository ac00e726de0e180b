/**
 * What a requester chooses about trust, and what each choice means for its coordinator.
 *
 * - `standard` (default): new workers are always replicated to the quorum and get canaries at
 *   NEW_CANARY_RATE; established workers may run tasks unreplicated under the adaptive rule,
 *   with canaries at CANARY_RATE.
 * - `high`: every task is replicated to the quorum, whoever runs it; canaries as in standard.
 *
 * Canaries need known answers, which only the requester can vouch for: its coordinator computes
 * a few tasks itself (SDK/CLI with onnxruntime-node). Without them, a job still gets quorum
 * agreement and adaptive replication, but nothing catches colluders that agree with each other.
 */
import type { AgreementPolicy, TensorMap } from '../proofs'
import { DEFAULT_REPLICATION, type ReplicationParams, type ReplicationRule } from './replication'

export type TrustLevel = 'standard' | 'high'
export const TRUST_LEVELS: readonly TrustLevel[] = ['standard', 'high']

export interface TrustSettings {
  /** Off: plain quorum, no canaries, no exclusions (the harness's undefended baseline). */
  defences: boolean
  replication: ReplicationRule
  params: ReplicationParams
  /** Probability that an established worker's lease is a canary (when known answers exist). */
  canaryRate: number
  /** The same for a worker that has not passed a canary yet. */
  newCanaryRate: number
  /**
   * Replicas of a task come from one equivalence class (workers whose answers to the job's
   * fingerprint task are bit-identical; see JobRun); default: `needsHomogeneous`.
   */
  homogeneous?: boolean | undefined
}

/** The adaptive rule `standard` uses: the one that measured better in `npm run adversary`. */
export const DEFAULT_RULE: ReplicationRule = 'boinc'
export const CANARY_RATE = 0.05
export const NEW_CANARY_RATE = 0.3
/**
 * A worker that has not passed a known-answer task gets one at the latest on this lease (while
 * the job has one it has not had): the random draw alone leaves a colluder unchecked for 17
 * leases about once in 400.
 */
export const NEW_CANARY_WITHIN = 5

export function trustSettings(level: TrustLevel = 'standard', rule = DEFAULT_RULE): TrustSettings {
  return {
    defences: true,
    replication: level === 'high' ? 'always' : rule,
    params: DEFAULT_REPLICATION,
    canaryRate: CANARY_RATE,
    newCanaryRate: NEW_CANARY_RATE,
  }
}

export const UNDEFENDED: TrustSettings = {
  defences: false,
  replication: 'always',
  params: DEFAULT_REPLICATION,
  canaryRate: 0,
  newCanaryRate: 0,
}

/**
 * Whether a policy needs all replicas of a task from one class (BOINC's homogeneous redundancy):
 * `exact` and fine rounding (5+ digits), where two backends' last-bit differences often change
 * the hash. Coarser policies tolerate them (measured: docs/trust.md).
 */
export function needsHomogeneous(policy: AgreementPolicy): boolean {
  return policy.kind === 'exact' || (policy.kind === 'round' && policy.digits >= 5)
}

/**
 * Why a WebGPU result is not counted: the worker's WebGPU path computed a known-answer task of
 * this model wrongly (a broken driver, not a cheat; the worker is not told, see JobRun.judge).
 */
export const WEBGPU_VOID = 'its WebGPU path was wrong on a known answer of this model'

/** What a requester chose about trust for one job, kept in the store's meta (see `jobTrustKey`). */
export interface JobTrust {
  settings: TrustSettings
  /** Tasks whose answer the requester computed itself: the job's canaries. */
  canaries: Array<{ taskIndex: number; outputs: TensorMap }>
}

export const jobTrustKey = (jobId: string) => `trust:${jobId.toLowerCase()}`

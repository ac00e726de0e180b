/** Shared types of the jobs layer: progress as the requester sees it, and the compute port. */
import type { Address, Hex } from 'viem'
import type { TensorMap } from '../proofs'
import type { TaskStatus } from '../store'

export interface WorkerSummary {
  peerId: string
  address: Address
  backend: string
  results: number
  agreed: number
  dissented: number
  /** Mean compute time of its results (ms). */
  avgComputeMs: number
  /** Its leases that expired without a result (with this coordinator, all jobs). */
  timeouts: number
  /** Reputation in [0, 1) with this coordinator (lib/trust/reputation.ts). */
  reputation: number
  canaryPassed: number
  canaryFailed: number
  /** Its results far from the accepted ones (with this coordinator, all jobs). */
  wrong: number
  /** Tasks of this job ever leased to it. */
  leased: number
  /** Why it gets no more work, if it does not. */
  excluded?: string | undefined
  /** Its capability probe's speed score (multiply-adds per µs), if it sent one. */
  probeScore?: number | undefined
}

export interface TaskErrorSummary {
  code: string
  message: string
  /** Distinct workers that reported it. */
  workers: number
}

export interface JobProgress {
  jobId: Hex
  status: 'running' | 'complete' | 'expired'
  total: number
  counts: Record<TaskStatus, number>
  /** Tasks with at least one live lease. */
  leased: number
  resultsReceived: number
  workers: WorkerSummary[]
  /** Transactions this coordinator sent for the job after createJob (recording, redeeming). */
  settleTxs: number
  settleGasUsed: bigint
  errors: TaskErrorSummary[]
  /** Set when the whole job failed (e.g. no worker can run its model). */
  failure?: string | undefined
}

/** The coordinator's key signing a worker's cumulative claim (EIP-712 `Claim`). */
export type ClaimSigner = (claim: { jobId: Hex; worker: Address; results: number }) => Promise<Hex>

/**
 * What a coordinator with gas may do on chain when a job ends: record the accepted results
 * (`record`, signed by the coordinator's key) and redeem every worker's final claim for it. Both
 * are courtesies: workers can redeem their claims themselves, and anyone can record.
 */
export interface CoordinatorChain {
  record?(
    jobId: Hex,
    entries: ReadonlyArray<{ taskIndex: number; resultHash: Hex }>,
  ): Promise<{ txHash: Hex; gasUsed: bigint }>
  redeem?(
    claims: ReadonlyArray<{ jobId: Hex; worker: Address; results: number; signature: Hex }>,
  ): Promise<{ txHash: Hex; gasUsed: bigint }>
}

/**
 * What a volunteer computes with. The app binds it to an inference Web Worker (onnxruntime-web),
 * the CLI to onnxruntime-node; the jobs layer never touches ONNX Runtime itself.
 */
export interface Compute {
  /** Execution provider results are computed with: 'wasm' | 'webgpu' | 'cpu'. */
  readonly backend: 'wasm' | 'webgpu' | 'cpu'
  /** Runtime and version, e.g. "onnxruntime-web 1.30.0". */
  readonly runtime: string
  /**
   * Makes the model ready to run: from cache, the app origin, or `fromPeer` (the coordinator).
   * Throws ModelError for a model that is corrupt, too large or unsupported.
   */
  prepare(modelHash: Hex, fromPeer: (maxBytes: number) => Promise<Uint8Array>): Promise<void>
  /** Throws InputMismatchError or InferenceError. */
  run(modelHash: Hex, inputs: TensorMap): Promise<TensorMap>
  /** Runs this model on WASM from now on (its WebGPU path gave a wrong answer). */
  demote?(modelHash: Hex, reason: string): void
}

/** One task's delivered result, as a requester downloads it. */
export interface TaskResult {
  taskIndex: number
  status: TaskStatus
  resultHash?: Hex | undefined
  /** Outputs of the lowest-address agreeing worker (outputs agree under the policy, not bytewise). */
  outputs?: TensorMap | undefined
  agreeing: Address[]
  dissenting: Address[]
  /** Results that stopped counting because their worker was excluded. */
  voided: Address[]
  /** How the accepted result was verified: agreeing replicas, the requester's own answer, or a trusted worker alone. */
  verifiedBy?: 'quorum' | 'known-answer' | 'single' | undefined
  /** Equivalence classes (backend/precision/runtime) of the agreeing workers. */
  classes: string[]
  settleTx?: Hex | undefined
  failure?: string | undefined
}

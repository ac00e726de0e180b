/**
 * The requester API: put a job on chain, store its tasks, and coordinate it. Used by the CLI and
 * the demo in Node, and shaped to serve the browser's /request page too (it takes clients and a
 * store, not keys or files).
 */
import type { Address, Hex, PublicClient } from 'viem'
import { createJob, type Wallet } from '../chain'
import type { Coordinator, JobHandle, TaskResult } from '../jobs'
import {
  type AgreementPolicy,
  commitInputs,
  formatPolicy,
  type JobSpec,
  packUnits,
  type TensorMap,
  tensorMapToJson,
  validateJobSpec,
} from '../proofs'
import { sha256Hex } from '../runtime/model-source'
import type { Store } from '../store'
import {
  type JobTrust,
  jobTrustKey,
  type TrustLevel,
  type TrustSettings,
  trustSettings,
} from '../trust'

export interface JobRequest {
  model: Uint8Array
  /** Catalogue file name when the model is in the app's catalogue (lets tabs fetch it from the origin). */
  modelFile?: string | undefined
  modelName?: string | undefined
  tasks: TensorMap[]
  /**
   * Inputs per on-chain task (default 1). For small inferences: `k` inputs share one lease, one
   * signed result and one settlement (lib/proofs/units.ts), so the mesh's and the chain's cost per
   * input is divided by `k`. Each task's outputs are then named `0.y`, `1.y`, …; `unpackUnit`
   * splits them. The reward is per task.
   */
  inputsPerTask?: number | undefined
  replicas: number
  quorum: number
  policy: AgreementPolicy
  rewardPerResult: bigint
  /** Seconds from now (chain time) until the deadline. */
  durationSeconds: number
  /** Trust level or full settings (lib/trust/settings.ts). Default 'standard'. */
  trust?: TrustLevel | TrustSettings | undefined
  /**
   * Runs the model here, on the requester's own machine, for the known-answer tasks (canaries).
   * Without it the job has no canaries: quorum agreement and adaptive replication only.
   */
  reference?: ((inputs: TensorMap) => Promise<TensorMap>) | undefined
  /** How many tasks the reference computes. Default: 2 % of the tasks, at least 2. */
  canaryTasks?: number | undefined
  /**
   * Wei per task escrowed for whoever records the task's result on chain (`record`): a relayer
   * or worker that puts results on chain is paid its gas from the job. Default 0.
   */
  feePerTask?: bigint | undefined
  /** Only workers with at least this much active stake can redeem the job's claims. Default 0. */
  minStake?: bigint | undefined
}

/** Default number of known-answer tasks for a job of `n` tasks. */
export function defaultCanaryCount(n: number): number {
  return Math.min(n, Math.max(2, Math.ceil(n * 0.02)))
}

export interface SubmitContext {
  wallet: Wallet
  client: PublicClient
  contract: Address
  store: Store
  coordinator: Coordinator
  /**
   * The job's coordinator as named on chain: the address of the coordinator's own key (the
   * node's identity), which signs the workers' claims. Not the paying wallet.
   */
  coordinatorAddress: Address
}

export interface SubmittedJob {
  jobId: Hex
  txHash: Hex
  spec: JobSpec
  handle: JobHandle
}

/** Checks the request, pays createJob, stores the tasks, and starts coordinating. */
export async function submitJob(ctx: SubmitContext, req: JobRequest): Promise<SubmittedJob> {
  const tasks = packUnits(req.tasks, req.inputsPerTask ?? 1)
  const block = await ctx.client.getBlock()
  const spec = validateJobSpec(
    {
      modelHash: await sha256Hex(req.model),
      inputsRoot: commitInputs(tasks).root,
      taskCount: tasks.length,
      replicas: req.replicas,
      quorum: req.quorum,
      policy: req.policy,
      rewardPerResult: req.rewardPerResult,
      deadline: Number(block.timestamp) + req.durationSeconds,
      coordinator: ctx.coordinatorAddress,
      feePerTask: req.feePerTask ?? 0n,
      minStake: req.minStake ?? 0n,
    },
    Number(block.timestamp),
  )
  const trust = typeof req.trust === 'object' ? req.trust : trustSettings(req.trust ?? 'standard')
  // Known answers first: a model the requester cannot run fails here, before any payment.
  const canaries: Array<{ taskIndex: number; outputs: TensorMap }> = []
  if (req.reference && trust.defences) {
    const n = Math.min(tasks.length, req.canaryTasks ?? defaultCanaryCount(tasks.length))
    for (const taskIndex of sample(tasks.length, n)) {
      canaries.push({ taskIndex, outputs: await req.reference(tasks[taskIndex]!) })
    }
  }
  const { jobId, txHash } = await createJob(ctx.wallet, ctx.client, ctx.contract, spec)
  const chainId = ctx.wallet.chain?.id ?? (await ctx.client.getChainId())
  const handle = await coordinateJob(ctx, {
    jobId,
    spec,
    chainId,
    requester: ctx.wallet.account.address,
    tasks,
    model: req.model,
    modelName: req.modelName,
    modelFile: req.modelFile,
    trust: { settings: trust, canaries },
  })
  return { jobId, txHash, spec, handle }
}

/** A job already on chain, to coordinate from here: stores it, its tasks and model, and runs it. */
export interface JobToCoordinate {
  jobId: Hex
  spec: JobSpec
  chainId: number
  /** The job's requester on chain (a wallet, or a contract such as MeshworkRequests). */
  requester: Address
  tasks: TensorMap[]
  model: Uint8Array
  modelName?: string | undefined
  modelFile?: string | undefined
  trust: JobTrust
}

export async function coordinateJob(
  ctx: Pick<SubmitContext, 'contract' | 'store' | 'coordinator'>,
  j: JobToCoordinate,
): Promise<JobHandle> {
  const job = {
    jobId: j.jobId,
    spec: j.spec,
    chainId: j.chainId,
    contract: ctx.contract,
    requester: j.requester,
    createdAt: Date.now(),
    status: 'running' as const,
    modelName: j.modelName,
    modelFile: j.modelFile,
  }
  const tasks = j.tasks.map((inputs, taskIndex) => ({
    jobId: j.jobId,
    taskIndex,
    status: 'open' as const,
    inputs,
    results: [],
  }))
  await ctx.store.putModel({
    hash: j.spec.modelHash,
    bytes: j.model,
    name: j.modelName,
    storedAt: Date.now(),
  })
  await ctx.store.setMeta(jobTrustKey(j.jobId), j.trust)
  await ctx.store.putJob(job)
  await ctx.store.putTasks(tasks)
  return ctx.coordinator.run(job, tasks, j.model, j.modelFile, j.trust)
}

/**
 * Coordinates again a job `ctx.store` holds (a reloaded tab, a restarted Node requester), from
 * its stored tasks, results, leases and model; the running handle if it runs already. Undefined
 * when the store does not hold the job or its model.
 */
export async function resumeStoredJob(
  ctx: Pick<SubmitContext, 'store' | 'coordinator'>,
  jobId: Hex,
): Promise<JobHandle | undefined> {
  const running = ctx.coordinator.get(jobId)
  if (running) return running
  const job = await ctx.store.getJob(jobId)
  if (!job) return undefined
  const model = await ctx.store.getModel(job.spec.modelHash)
  if (!model) return undefined
  return ctx.coordinator.resume(jobId, model.bytes, job.modelFile)
}

/** `k` distinct indices in [0, n), uniformly (partial Fisher–Yates). */
function sample(n: number, k: number): number[] {
  const a = Array.from({ length: n }, (_, i) => i)
  for (let i = 0; i < k; i++) {
    const j = i + Math.floor(Math.random() * (n - i))
    ;[a[i], a[j]] = [a[j]!, a[i]!]
  }
  return a.slice(0, k)
}

/** The results file: one entry per task with outputs and agreement details. */
export interface ResultsFile {
  jobId: Hex
  modelHash: Hex
  policy: string
  replicas: number
  quorum: number
  tasks: Array<{
    task: number
    status: TaskResult['status']
    resultHash?: Hex | undefined
    outputs?: ReturnType<typeof tensorMapToJson> | undefined
    agreeing: Address[]
    dissenting: Address[]
    /** Results that stopped counting: their worker was excluded (docs/trust.md). */
    voided: Address[]
    /** quorum | known-answer (the requester's own answer) | single (a trusted worker alone). */
    verifiedBy?: TaskResult['verifiedBy']
    /** Equivalence classes of the agreeing workers (backend/precision/runtime). */
    classes: string[]
    settleTx?: Hex | undefined
    failure?: string | undefined
  }>
}

export function resultsFile(jobId: Hex, spec: JobSpec, results: TaskResult[]): ResultsFile {
  return {
    jobId,
    modelHash: spec.modelHash,
    policy: formatPolicy(spec.policy),
    replicas: spec.replicas,
    quorum: spec.quorum,
    tasks: results.map((r) => ({
      task: r.taskIndex,
      status: r.status,
      resultHash: r.resultHash,
      outputs: r.outputs ? tensorMapToJson(r.outputs) : undefined,
      agreeing: r.agreeing,
      dissenting: r.dissenting,
      voided: r.voided,
      verifiedBy: r.verifiedBy,
      classes: r.classes,
      settleTx: r.settleTx,
      failure: r.failure,
    })),
  }
}

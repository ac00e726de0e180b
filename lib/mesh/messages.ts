/**
 * Every message of the protocol as a zod schema: what a decoder accepts and nothing more.
 * Bytes from peers are hostile; a message that fails its schema is rejected with the reason.
 */
import { z } from 'zod'
import { TENSOR_TYPES } from '../proofs'
import { LIMITS } from './protocol'

/**
 * Hex is lower-cased as it is decoded: one id has one spelling everywhere it is a key (a store,
 * a map). A worker's signed-results store once told `0xAB…` and `0xab…` apart, which a stranger
 * used to get one task signed twice under the same bytes32 job id.
 */
const hex32 = z
  .string()
  .regex(/^0x[0-9a-fA-F]{64}$/, 'expected 32 bytes of hex')
  .transform((h) => h.toLowerCase())
const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, 'expected an address')
  .transform((h) => h.toLowerCase())
const signature = z.string().regex(/^0x[0-9a-fA-F]{130}$/, 'expected a 65-byte signature')
const peerId = z.string().regex(/^[1-9A-HJ-NP-Za-km-z]{40,80}$/, 'expected a base58 peer id')
const multiaddr = z.string().min(1).max(512)
const uint = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER)
const backend = z.enum(['wasm', 'webgpu', 'cpu'])
const bytes = z.custom<Uint8Array>((v) => v instanceof Uint8Array, 'expected bytes')

export const wireTensorSchema = z.object({
  type: z.enum(TENSOR_TYPES),
  dims: z.array(uint).max(8),
  data: bytes,
})

export const wireTensorMapSchema = z
  .record(z.string().min(1).max(128), wireTensorSchema)
  .refine((m) => Object.keys(m).length >= 1 && Object.keys(m).length <= 64, '1 to 64 tensors')

// ---- gossip: meshwork/1/jobs ----

export const jobAnnouncementSchema = z.object({
  type: z.literal('job'),
  jobId: hex32,
  chainId: z.number().int().positive(),
  contract: address,
  /** The coordinator's peer id; must equal the gossip message's signed `from`. */
  coordinator: peerId,
  /** Where to dial the coordinator (circuit/WebRTC addresses). */
  addrs: z.array(multiaddr).max(16),
  modelHash: hex32,
  /** Catalogue file name, when the model is in the app's catalogue (a hint; the hash decides). */
  modelFile: z.string().max(128).optional(),
  policy: z.string().max(32),
  taskCount: uint,
  replicas: uint,
  quorum: uint,
  /** Wei, as a decimal string. */
  rewardPerResult: z.string().regex(/^\d{1,78}$/),
  deadline: uint,
  /** Tasks not yet accepted. */
  open: uint,
})

export const jobClosedSchema = z.object({
  type: z.literal('job-closed'),
  jobId: hex32,
  coordinator: peerId,
})

export const jobsTopicSchema = z.discriminatedUnion('type', [
  jobAnnouncementSchema,
  jobClosedSchema,
])

// ---- gossip: meshwork/1/presence ----

export const presenceSchema = z.object({
  type: z.literal('presence'),
  peerId,
  addrs: z.array(multiaddr).max(16),
  role: z.enum(['volunteer', 'requester', 'relay']),
  backend: backend.optional(),
  tasksDone: uint,
  /** Random per start of the peer's node: a reloaded tab keeps its peer id but not this. */
  session: z.string().max(32).optional(),
})

// ---- claims, on the work and result streams ----

/**
 * The coordinator's signed, cumulative claim for one worker in one job: EIP-712
 * `Claim(jobId, worker, results)` under the escrow's domain, by the job's coordinator as named
 * on chain. `decided` and `received` are unsigned bookkeeping for the worker's risk limit: how
 * many of its results the coordinator holds, and how many of those it has decided (paid or not).
 */
export const wireClaimSchema = z.object({
  jobId: hex32,
  worker: address,
  results: uint,
  signature,
  received: uint,
  decided: uint,
})

// ---- stream: /meshwork/work/1.0.0 ----

/** A volunteer's capability probe (lib/env/probe.ts), as it claims it. */
export const capabilitySchema = z.object({
  score: z.number().positive().max(1e9),
  cores: z.number().int().min(1).max(4096).optional(),
  memoryGb: z.number().nonnegative().max(1e6).optional(),
})

export const workRequestSchema = z.object({
  type: z.literal('work-request'),
  jobId: hex32,
  backend,
  /** Runtime and version, e.g. "onnxruntime-web 1.30.0". */
  runtime: z.string().max(64),
  /**
   * Where the worker wants its pay sent: its EIP-712 `Payout(worker, payout, nonce)` authorisation
   * under the job's escrow domain. The coordinator records it on chain once it has paid the worker.
   */
  payout: z
    .object({
      payout: address,
      /** Decimal uint64. */
      nonce: z.string().regex(/^\d{1,20}$/),
      signature,
    })
    .optional(),
  /** The worker's capability probe, measured when it started. */
  capability: capabilitySchema.optional(),
  /** `claim`: no lease, only this worker's latest claim (a worker at its risk limit asks so). */
  want: z.enum(['lease', 'claim']).optional(),
})

export const leaseSchema = z.object({
  type: z.literal('lease'),
  jobId: hex32,
  taskIndex: uint,
  leaseId: z.string().min(1).max(64),
  expiresInMs: uint,
  inputHash: hex32,
  /** Merkle proof of (taskIndex, inputHash) under the job's inputsRoot. */
  proof: z.array(hex32).max(32),
  inputs: wireTensorMapSchema,
  /** This worker's latest claim in the job, if it has results in it. */
  claim: wireClaimSchema.optional(),
})

export const noWorkSchema = z.object({
  type: z.literal('no-work'),
  reason: z.enum([
    'job-complete',
    'all-leased',
    'unknown-job',
    'not-eligible',
    'busy',
    'claim-only',
  ]),
  retryAfterMs: uint,
  claim: wireClaimSchema.optional(),
})

export const errorSchema = z.object({
  type: z.literal('error'),
  code: z.string().max(64),
  message: z.string().max(512),
})

export const workResponseSchema = z.discriminatedUnion('type', [
  leaseSchema,
  noWorkSchema,
  errorSchema,
])

// ---- stream: /meshwork/result/2.0.0 ----

/**
 * A result's header: everything but the outputs. The coordinator checks it (job, lease,
 * duplicate, size) before it takes any output bytes; it answers `continue`, then the outputs
 * follow as a second frame of exactly `outputBytes` bytes (resultOutputsSchema).
 */
export const resultSchema = z.object({
  type: z.literal('result'),
  jobId: hex32,
  taskIndex: uint,
  leaseId: z.string().min(1).max(64),
  resultHash: hex32,
  signature,
  backend,
  computeMs: z.number().nonnegative().max(86_400_000),
  /** Length of the outputs frame (CBOR of the tensor map), at most LIMITS.frameBytes. */
  outputBytes: z
    .number()
    .int()
    .positive()
    .max(LIMITS.frameBytes, `outputs larger than ${LIMITS.frameBytes} bytes`),
})

/** The coordinator's go-ahead for a request's second frame (the result's outputs). */
export const continueSchema = z.object({ type: z.literal('continue') })

/** The second frame of a result: its outputs. */
export const resultOutputsSchema = wireTensorMapSchema

/** A worker could not compute a leased task; the requester sees the reason. */
export const taskErrorSchema = z.object({
  type: z.literal('task-error'),
  jobId: hex32,
  taskIndex: uint,
  leaseId: z.string().min(1).max(64),
  code: z.enum([
    'model-unsupported',
    'model-hash-mismatch',
    'model-too-large',
    'model-unavailable',
    'input-mismatch',
    'inference-failed',
    'bad-input-proof',
    /** The worker signed a different result for this task before: it will not sign another. */
    'result-conflict',
  ]),
  message: z.string().max(512),
})

export const resultRequestSchema = z.discriminatedUnion('type', [resultSchema, taskErrorSchema])

export const resultAckSchema = z.object({
  type: z.literal('result-ack'),
  status: z.enum(['recorded', 'duplicate', 'rejected']),
  reason: z.string().max(256).optional(),
  claim: wireClaimSchema.optional(),
})

export const resultResponseSchema = z.discriminatedUnion('type', [resultAckSchema, errorSchema])

// ---- stream: /meshwork/model/1.0.0 ----

export const modelRequestSchema = z.object({ type: z.literal('model-request'), modelHash: hex32 })
export const modelHeaderSchema = z.object({ type: z.literal('model-header'), size: uint })
export const modelChunkSchema = z.object({ type: z.literal('model-chunk'), data: bytes })
export const modelResponseSchema = z.discriminatedUnion('type', [modelHeaderSchema, errorSchema])

export type JobAnnouncement = z.infer<typeof jobAnnouncementSchema>
export type JobClosed = z.infer<typeof jobClosedSchema>
export type Presence = z.infer<typeof presenceSchema>
export type WorkRequest = z.infer<typeof workRequestSchema>
export type Lease = z.infer<typeof leaseSchema>
export type NoWork = z.infer<typeof noWorkSchema>
export type ErrorMessage = z.infer<typeof errorSchema>
export type WorkResponse = z.infer<typeof workResponseSchema>
export type ResultHeader = z.infer<typeof resultSchema>
/** A result as the coordinator judges it: the header's fields with the outputs that followed. */
export type ResultMessage = Omit<ResultHeader, 'outputBytes'> & { outputs: WireTensorMap }
export type TaskErrorMessage = z.infer<typeof taskErrorSchema>
export type ResultAck = z.infer<typeof resultAckSchema>
export type ResultResponse = z.infer<typeof resultResponseSchema>
export type WireTensorMap = z.infer<typeof wireTensorMapSchema>
export type WireClaim = z.infer<typeof wireClaimSchema>

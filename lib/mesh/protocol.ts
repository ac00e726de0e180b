/**
 * Names and limits of the Meshwork wire protocol (documented in docs/protocol.md).
 * Topics and stream protocols are versioned; a breaking change gets a new version string.
 */

export const TOPICS = {
  /** Job announcements from coordinators (`job`, `job-closed`). */
  jobs: 'meshwork/1/jobs',
  /** Peer presence: addresses to dial, role, backend, work done. */
  presence: 'meshwork/1/presence',
} as const

export const PROTOCOLS = {
  /** worker → coordinator: `work-request` → `lease` | `no-work` | `error`. */
  work: '/meshwork/work/1.0.0',
  /**
   * worker → coordinator: `result` (a header) → `continue`, then the outputs → `result-ack`;
   * or `result-ack` | `error` at once. 2.0.0: 1.0.0 sent the outputs inside the request, so a
   * coordinator had to buffer up to 16 MiB from anyone before it could check anything.
   */
  result: '/meshwork/result/2.0.0',
  /** anyone → coordinator: `model-request` → `model-header`, then `model-chunk`s | `error`. */
  model: '/meshwork/model/1.0.0',
} as const

export const LIMITS = {
  /** Largest gossip message accepted (bytes). */
  gossipMessageBytes: 16 * 1024,
  /** Largest stream frame (bytes): a lease with its inputs, or a result with its outputs. */
  frameBytes: 16 * 1024 * 1024,
  /** Largest small control frame (bytes): requests and acknowledgements. */
  controlFrameBytes: 64 * 1024,
  /** Model bytes per `model-chunk` frame. */
  modelChunkBytes: 1024 * 1024,
  /** Deepest CBOR nesting accepted in any message. */
  cborDepth: 8,
  /** Longest any stream exchange may take before it is abandoned (ms). */
  streamTimeoutMs: 30_000,
} as const

const MiB = 1024 * 1024

/**
 * What a coordinator holds for inbound streams at once, over its work, result and model
 * protocols together (lib/mesh/budget.ts). A stream holds the most its read buffer may take: a
 * request frame's limit while it reads the request, then a result's declared output size once
 * the header passed its checks. A stream beyond a limit is answered `busy` and closed.
 * Peer ids cost nothing, so the per-peer limits bound what one connection costs, and the total
 * limits what any number of them cost together.
 */
export const INBOUND_LIMITS = {
  /**
   * Streams one peer may have open at once. An honest worker has at most about four with one
   * coordinator: a work request, its result delivery and an outbox retry, a model download.
   * @default 8
   */
  peerStreams: 8,
  /**
   * Bytes held for one peer's streams at once: two of the largest results (a fresh delivery
   * and an outbox retry may overlap) and 1 MiB for the request frames of its other streams.
   * @default 33 MiB (2 × LIMITS.frameBytes + 1 MiB)
   */
  peerBytes: 2 * LIMITS.frameBytes + MiB,
  /**
   * Streams all peers together may have open. Honest exchanges last milliseconds: 256 at once
   * serve thousands a second. 256 request frames hold 16 MiB at most.
   * @default 256
   */
  totalStreams: 256,
  /**
   * Bytes held for all peers' streams together: four of the largest results, or about a
   * thousand 64 KiB ones. A browser tab coordinating a job can afford it.
   * @default 64 MiB (4 × LIMITS.frameBytes)
   */
  totalBytes: 4 * LIMITS.frameBytes,
  /**
   * How long a peer that sent more than a frame's limit is refused new connections, after the
   * one it sent it on is closed (ms). No honest peer does it; a flooder that may come straight
   * back costs a connection set-up per frame instead.
   * @default 60 s
   */
  blockMs: 60_000,
} as const

export type InboundLimits = { [K in keyof typeof INBOUND_LIMITS]: number }

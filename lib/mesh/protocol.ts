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
  /** worker → coordinator: `result` → `result-ack` | `error`. */
  result: '/meshwork/result/1.0.0',
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

/**
 * The inbound budget of a node that serves stream protocols (a coordinator): how many streams
 * and how many buffered bytes each peer, and all peers together, may hold at once. A stream
 * holds the most its read buffer may take (rpc.ts sets the buffer limits to match), so the
 * bytes counted here bound what peers' unread frames can cost, whatever they send. Refusals
 * and dropped streams are counted by reason for the node's stats.
 */
import { INBOUND_LIMITS, type InboundLimits } from './protocol'

/** The limit that refused a stream or a stream's growth. */
export type InboundLimit = 'peer-streams' | 'total-streams' | 'peer-bytes' | 'total-bytes'

/**
 * Why a stream ended without a normal response: `invalid-message` was answered with the reason;
 * the others were dropped without one (the peer sent an oversized frame or more than its frame,
 * the exchange ran past its deadline, the peer went away or reset the stream).
 */
export type DropReason = 'invalid-message' | 'oversized' | 'timeout' | 'closed'

export interface InboundStats {
  /** Streams held now. */
  streams: number
  /** Bytes held now (the buffer limits of the streams held). */
  bytes: number
  /** Peers holding at least one stream now. */
  peers: number
  /** The most streams held at once since the budget was made. */
  peakStreams: number
  /** The most bytes held at once since the budget was made. */
  peakBytes: number
  /** Streams (or stream growths) refused, by the limit that refused them. */
  refused: Record<InboundLimit, number>
  /** Streams that ended without a normal response, by reason. */
  dropped: Record<DropReason, number>
  limits: InboundLimits
}

/** One stream's hold on the budget. */
export interface InboundGrant {
  /** Bytes this stream holds now. */
  readonly bytes: number
  /**
   * Changes what this stream holds to `bytes`. Growing may be refused: the limit is returned
   * and the hold is unchanged. Shrinking always succeeds.
   */
  resize(bytes: number): InboundLimit | undefined
  /** Gives the stream's streams and bytes back. Idempotent. */
  release(): void
}

export interface InboundBudget {
  readonly limits: InboundLimits
  /** A new stream from `peer` holding `bytes`, or the limit that refuses it. */
  open(peer: string, bytes: number): InboundGrant | { refused: InboundLimit }
  /** Counts a stream that ended without a normal response. */
  drop(reason: DropReason): void
  stats(): InboundStats
}

export function createInboundBudget(limits: Partial<InboundLimits> = {}): InboundBudget {
  const l: InboundLimits = { ...INBOUND_LIMITS, ...limits }
  const peers = new Map<string, { streams: number; bytes: number }>()
  let streams = 0
  let bytes = 0
  let peakStreams = 0
  let peakBytes = 0
  const refused: Record<InboundLimit, number> = {
    'peer-streams': 0,
    'total-streams': 0,
    'peer-bytes': 0,
    'total-bytes': 0,
  }
  const dropped: Record<DropReason, number> = {
    'invalid-message': 0,
    oversized: 0,
    timeout: 0,
    closed: 0,
  }
  const refuse = (limit: InboundLimit) => {
    refused[limit]++
    return limit
  }
  /** The limit that `more` bytes for `p` would break, if any. */
  const byteLimit = (p: { bytes: number }, more: number): InboundLimit | undefined => {
    if (p.bytes + more > l.peerBytes) return 'peer-bytes'
    if (bytes + more > l.totalBytes) return 'total-bytes'
    return undefined
  }

  return {
    limits: l,
    open(peer, want) {
      const p = peers.get(peer) ?? { streams: 0, bytes: 0 }
      if (p.streams + 1 > l.peerStreams) return { refused: refuse('peer-streams') }
      if (streams + 1 > l.totalStreams) return { refused: refuse('total-streams') }
      const over = byteLimit(p, want)
      if (over) return { refused: refuse(over) }
      p.streams++
      p.bytes += want
      peers.set(peer, p)
      streams++
      bytes += want
      peakStreams = Math.max(peakStreams, streams)
      peakBytes = Math.max(peakBytes, bytes)
      let held = want
      let released = false
      return {
        get bytes() {
          return released ? 0 : held
        },
        resize(to) {
          if (released) return undefined
          const more = to - held
          if (more > 0) {
            const over = byteLimit(p, more)
            if (over) return refuse(over)
          }
          p.bytes += more
          bytes += more
          held = to
          peakBytes = Math.max(peakBytes, bytes)
          return undefined
        },
        release() {
          if (released) return
          released = true
          p.streams--
          p.bytes -= held
          streams--
          bytes -= held
          if (p.streams === 0) peers.delete(peer)
        },
      }
    },
    drop(reason) {
      dropped[reason]++
    },
    stats: () => ({
      streams,
      bytes,
      peers: peers.size,
      peakStreams,
      peakBytes,
      refused: { ...refused },
      dropped: { ...dropped },
      limits: l,
    }),
  }
}

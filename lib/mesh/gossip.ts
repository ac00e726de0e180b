/**
 * Gossip on Meshwork topics. Every message is validated before gossipsub delivers or forwards
 * it: size, CBOR, schema, and that the peer it names (coordinator, presence peer) is the peer that
 * signed it. A failing message is rejected (not forwarded) and counts against the peer that sent
 * it through gossipsub's scoring. Verdicts are values, as gossipsub expects.
 */
import { TopicValidatorResult } from '@libp2p/gossipsub'
import type { PeerScoreParams, TopicScoreParams } from '@libp2p/gossipsub/score'
import type { PeerId } from '@libp2p/interface'
import { bytesToHex } from 'viem'
import type { z } from 'zod'
import { createLogger } from '../env/log'
import { InvalidMessageError } from '../errors'
import { decodeMessage, encodeMessage } from './codec'
import {
  type JobAnnouncement,
  type JobClosed,
  jobsTopicSchema,
  type Presence,
  presenceSchema,
} from './messages'
import type { MeshNode } from './node'
import { LIMITS, TOPICS } from './protocol'

const log = createLogger('gossip')

export type GossipVerdict =
  | { verdict: 'accept'; message: object }
  | { verdict: 'reject'; reason: string }

const TOPIC_SCHEMAS: Record<string, { schema: z.ZodType; signer: (m: never) => string }> = {
  [TOPICS.jobs]: {
    schema: jobsTopicSchema,
    signer: (m: JobAnnouncement | JobClosed) => m.coordinator,
  },
  [TOPICS.presence]: { schema: presenceSchema, signer: (m: Presence) => m.peerId },
}

/** Checks one gossip message. Pure, so every rejection reason has its own test. */
export function validateGossip(
  topic: string,
  data: Uint8Array,
  from: PeerId | undefined,
): GossipVerdict {
  const entry = TOPIC_SCHEMAS[topic]
  if (!entry) return { verdict: 'reject', reason: `unknown topic ${topic}` }
  if (!from) return { verdict: 'reject', reason: 'unsigned message' }
  let message: object
  try {
    message = decodeMessage(data, entry.schema, LIMITS.gossipMessageBytes) as object
  } catch (err) {
    const reason =
      err instanceof InvalidMessageError
        ? `${err.shortMessage} ${err.details ?? ''}`.trim()
        : String(err)
    return { verdict: 'reject', reason }
  }
  const claimed = entry.signer(message as never)
  if (claimed !== from.toString()) {
    return {
      verdict: 'reject',
      reason: `message names ${claimed} but was signed by ${from.toString()}`,
    }
  }
  return { verdict: 'accept', message }
}

/**
 * Gossipsub peer scoring for Meshwork's topics: every message a validator rejects costs its
 * sender (counter² × −10, the counter decaying by 10 % a second), so three invalid messages put
 * a peer below the graylist threshold (−80) and gossipsub ignores it until the penalty decays.
 * Mesh-delivery penalties are off (the topics are quiet by design: a penalty for not forwarding
 * enough would punish honest peers) and so is the IP colocation penalty (volunteers behind one
 * NAT are normal; sybil resistance comes from quorum and stake, not from IP addresses).
 */
/**
 * Gossipsub's fast message id: the publisher and sequence number as the RPC carries them. Without
 * one, gossipsub verifies a message's signature before it checks for duplicates, so a peer
 * verified every copy its mesh neighbours forwarded (up to six), and an idle volunteer's CPU grew
 * with the number of peers (measured: 9–15 % of a core each with 12 volunteers, 12 % with 18;
 * signature checks were the largest part). Only a copy that validated is remembered under this
 * id, so a forged copy cannot shadow the genuine message.
 */
export function fastMsgId(msg: {
  from?: Uint8Array | undefined
  seqno?: Uint8Array | undefined
  data?: Uint8Array | undefined
  topic: string
}): string {
  if (msg.from && msg.seqno) return `${bytesToHex(msg.from)}:${bytesToHex(msg.seqno)}`
  return `${msg.topic}:${msg.data ? bytesToHex(msg.data) : ''}`
}

export function gossipScoreParams(): Partial<PeerScoreParams> {
  const topic: Partial<TopicScoreParams> = {
    topicWeight: 1,
    timeInMeshWeight: 0,
    firstMessageDeliveriesWeight: 0,
    meshMessageDeliveriesWeight: 0,
    meshFailurePenaltyWeight: 0,
    invalidMessageDeliveriesWeight: -10,
    invalidMessageDeliveriesDecay: 0.9,
  }
  return {
    IPColocationFactorWeight: 0,
    topics: Object.fromEntries(
      Object.values(TOPICS).map((t) => [t, topic]),
    ) as PeerScoreParams['topics'],
  }
}

/**
 * Job announcements one signer may publish, as a token bucket: ANNOUNCE_RATE a second on
 * average, ANNOUNCE_BURST at once. A coordinator announces each running job every 2 s, so this
 * carries twenty running jobs with room to spare. Beyond it, a signer's announcements are
 * ignored (not forwarded, no penalty: an honest neighbour relaying them forwards no more than
 * its own bucket let through); once it is ANNOUNCE_BURST beyond, which only the flooder's own
 * connection can be, they are rejected, so gossipsub's scoring graylists that connection and
 * drops its messages before checking their signatures.
 */
export const ANNOUNCE_RATE = 10
export const ANNOUNCE_BURST = 30
/** Signers whose buckets are kept, at most (the oldest is forgotten: it starts full again). */
const MAX_BUCKETS = 4096

export type RateVerdict = 'ok' | 'over' | 'abuse'

/**
 * A per-key token bucket over `now` (ms). A message refused still costs a token (the bucket goes
 * into debt, at most `burst` deep, then 'abuse'), so a key that keeps sending is refused until it
 * has been quiet long enough to pay its debt.
 */
export function createRateLimit(
  rate: number,
  burst: number,
  now: () => number = Date.now,
  maxKeys = MAX_BUCKETS,
) {
  const buckets = new Map<string, { tokens: number; at: number }>()
  return {
    take(key: string): RateVerdict {
      const t = now()
      const b = buckets.get(key) ?? { tokens: burst, at: t }
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * rate)
      b.at = t
      buckets.delete(key)
      buckets.set(key, b)
      if (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value!)
      const verdict: RateVerdict = b.tokens >= 1 ? 'ok' : b.tokens > -burst ? 'over' : 'abuse'
      b.tokens = Math.max(-burst, b.tokens - 1)
      return verdict
    },
    get size() {
      return buckets.size
    },
  }
}

export interface GossipStats {
  accepted: number
  rejected: number
  /** Job announcements refused because their signer exceeded ANNOUNCE_RATE. */
  rateLimited: number
  lastRejection?: { peer: string; reason: string } | undefined
}

/**
 * Installs validators for every Meshwork topic; returns live counters. `onVerdict` hears each
 * verdict (the relay counts them for Prometheus).
 */
export function installGossipValidators(
  node: MeshNode,
  onVerdict?: (topic: string, verdict: 'accept' | 'reject' | 'rate-limited') => void,
): GossipStats {
  const stats: GossipStats = { accepted: 0, rejected: 0, rateLimited: 0 }
  const announcements = createRateLimit(ANNOUNCE_RATE, ANNOUNCE_BURST)
  for (const topic of Object.keys(TOPIC_SCHEMAS)) {
    node.services.pubsub.topicValidators.set(topic, (peer, msg) => {
      const v = validateGossip(topic, msg.data, msg.type === 'signed' ? msg.from : undefined)
      if (v.verdict === 'accept') {
        // Valid but too many from one signer (see ANNOUNCE_RATE).
        const rate =
          topic === TOPICS.jobs && msg.type === 'signed'
            ? announcements.take(msg.from.toString())
            : 'ok'
        if (rate !== 'ok') {
          stats.rateLimited++
          onVerdict?.(topic, 'rate-limited')
          return rate === 'abuse' ? TopicValidatorResult.Reject : TopicValidatorResult.Ignore
        }
        stats.accepted++
        onVerdict?.(topic, 'accept')
        return TopicValidatorResult.Accept
      }
      stats.rejected++
      onVerdict?.(topic, 'reject')
      stats.lastRejection = { peer: peer.toString(), reason: v.reason }
      log.debug('rejected gossip', { topic, peer: peer.toString(), reason: v.reason })
      return TopicValidatorResult.Reject
    })
  }
  return stats
}

export async function publishGossip(node: MeshNode, topic: string, message: object): Promise<void> {
  const data = encodeMessage(message)
  if (data.byteLength > LIMITS.gossipMessageBytes) {
    throw new InvalidMessageError('Gossip message too large.', {
      details: `${data.byteLength} bytes`,
    })
  }
  await node.services.pubsub.publish(topic, data)
}

/** Subscribes to `topic` and calls `handler` with each message that passed validation. */
export function onGossip<T>(
  node: MeshNode,
  topic: string,
  handler: (message: T, from: PeerId) => void,
): () => void {
  const pubsub = node.services.pubsub
  pubsub.subscribe(topic)
  const listener = (evt: CustomEvent<import('@libp2p/gossipsub').Message>) => {
    const msg = evt.detail
    if (msg.topic !== topic || msg.type !== 'signed') return
    // Already validated by the topic validator; decoding again is cheap (bounded size).
    const v = validateGossip(topic, msg.data, msg.from)
    if (v.verdict === 'accept') handler(v.message as T, msg.from)
  }
  pubsub.addEventListener('message', listener)
  return () => pubsub.removeEventListener('message', listener)
}

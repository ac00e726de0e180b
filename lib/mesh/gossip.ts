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
 * New jobs one signer may introduce, as a token bucket: NEW_JOB_RATE a second on average,
 * NEW_JOB_BURST at once. Only an announcement of a job id this peer has not yet accepted from
 * that signer spends a token, so a coordinator's repeated announcements of its running jobs
 * (every 2 s each), and anyone replaying them, never do. Beyond it, a signer's announcements of
 * further new ids are ignored: not handed to the volunteer, not forwarded. Never rejected: a
 * rejection penalises the connection that delivered the message, which may be an honest peer
 * forwarding what its own bucket allowed (a stranger can drain one peer's bucket and then have
 * the same messages forwarded to it by another).
 */
export const NEW_JOB_RATE = 1
export const NEW_JOB_BURST = 20
/** Signers whose buckets are kept, and (signer, job) pairs remembered, at most. */
const MAX_BUCKETS = 4096
const MAX_SEEN_JOBS = 16_384

/** A per-key token bucket over `now` (ms); `take` says whether one more fits, and spends it. */
export function createRateLimit(
  rate: number,
  burst: number,
  now: () => number = Date.now,
  maxKeys = MAX_BUCKETS,
) {
  const buckets = new Map<string, { tokens: number; at: number }>()
  return {
    take(key: string): boolean {
      const t = now()
      const b = buckets.get(key) ?? { tokens: burst, at: t }
      b.tokens = Math.min(burst, b.tokens + ((t - b.at) / 1000) * rate)
      b.at = t
      buckets.delete(key)
      buckets.set(key, b)
      if (buckets.size > maxKeys) buckets.delete(buckets.keys().next().value!)
      if (b.tokens < 1) return false
      b.tokens -= 1
      return true
    },
    get size() {
      return buckets.size
    },
  }
}

/**
 * The jobs-topic rule: whether an announcement from `signer` of `jobId` may pass. A job id
 * accepted before from the same signer always passes; a new one spends a token of its signer.
 */
export function createNewJobLimit(now: () => number = Date.now, maxSeen = MAX_SEEN_JOBS) {
  const limit = createRateLimit(NEW_JOB_RATE, NEW_JOB_BURST, now)
  const seen = new Set<string>()
  return (signer: string, jobId: string): boolean => {
    const key = `${signer}:${jobId.toLowerCase()}`
    if (seen.has(key)) return true
    if (!limit.take(signer)) return false
    seen.add(key)
    if (seen.size > maxSeen) seen.delete(seen.values().next().value!)
    return true
  }
}

export interface GossipStats {
  accepted: number
  rejected: number
  /** Job announcements ignored because their signer introduced new jobs beyond NEW_JOB_RATE. */
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
  const newJobs = createNewJobLimit()
  for (const topic of Object.keys(TOPIC_SCHEMAS)) {
    node.services.pubsub.topicValidators.set(topic, (peer, msg) => {
      const v = validateGossip(topic, msg.data, msg.type === 'signed' ? msg.from : undefined)
      if (v.verdict === 'accept') {
        // Valid, but one signer introducing too many new jobs (see NEW_JOB_RATE).
        if (
          topic === TOPICS.jobs &&
          msg.type === 'signed' &&
          !newJobs(msg.from.toString(), (v.message as { jobId: string }).jobId)
        ) {
          stats.rateLimited++
          onVerdict?.(topic, 'rate-limited')
          return TopicValidatorResult.Ignore
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

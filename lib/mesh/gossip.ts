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

export interface GossipStats {
  accepted: number
  rejected: number
  lastRejection?: { peer: string; reason: string } | undefined
}

/**
 * Installs validators for every Meshwork topic; returns live counters. `onVerdict` hears each
 * verdict (the relay counts them for Prometheus).
 */
export function installGossipValidators(
  node: MeshNode,
  onVerdict?: (topic: string, verdict: 'accept' | 'reject') => void,
): GossipStats {
  const stats: GossipStats = { accepted: 0, rejected: 0 }
  for (const topic of Object.keys(TOPIC_SCHEMAS)) {
    node.services.pubsub.topicValidators.set(topic, (peer, msg) => {
      const v = validateGossip(topic, msg.data, msg.type === 'signed' ? msg.from : undefined)
      onVerdict?.(topic, v.verdict === 'accept' ? 'accept' : 'reject')
      if (v.verdict === 'accept') {
        stats.accepted++
        return TopicValidatorResult.Accept
      }
      stats.rejected++
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

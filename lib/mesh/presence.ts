/**
 * Presence: each peer announces its dialable addresses, role and work done on the presence
 * topic, and dials a few of the peers it hears about. Browsers cannot discover each other by
 * themselves; this is what turns "everyone connected to the relay" into direct WebRTC links.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { createLogger } from '../env/log'
import { errorMessage } from '../errors'
import { onGossip, publishGossip } from './gossip'
import type { Presence } from './messages'
import { dialableAddrs, type MeshNode } from './node'
import { TOPICS } from './protocol'

const log = createLogger('presence')

export interface PeerPresence extends Presence {
  lastSeen: number
}

export interface PresenceInit {
  node: MeshNode
  role: Presence['role']
  /** Current backend and work done, read at each announcement. */
  info?: () => Pick<Presence, 'backend' | 'tasksDone'>
  /**
   * How often to announce (ms) in a small mesh. Default 3000. In a larger one the interval grows
   * with the peers heard (PER_PEER_MS each), so the whole mesh sends about 3 announcements a
   * second however many peers it has: every peer receives and checks every announcement.
   */
  intervalMs?: number
  /** Direct (non-relayed) connections to seek to other peers. Default 6. */
  maxDirectPeers?: number
  /** Forget peers not heard from for this long (ms), or six announcement intervals if longer. Default 20000. */
  expireMs?: number
  /** Listen only: neither announce this peer nor dial the peers heard (the /network page). */
  observe?: boolean
}

export interface PresenceService {
  peers(): PeerPresence[]
  /** Peers with a direct connection (WebRTC), i.e. not relayed. */
  directPeers(): string[]
  stop(): void
}

/**
 * Added to the announcement interval per peer heard. Measured with 12 to 30 `meshwork volunteer`
 * processes on two cores: with a fixed 3 s, an idle volunteer's CPU grew with the mesh (each one
 * checks every peer's signed announcement), and the 22nd could no longer reach the relay in time.
 */
export const PER_PEER_MS = 300

export function startPresence(init: PresenceInit): PresenceService {
  const { node } = init
  const known = new Map<string, PeerPresence>()
  const lastDial = new Map<string, number>()
  const maxDirect = init.maxDirectPeers ?? 6
  const self = node.peerId.toString()
  const session = Math.random().toString(36).slice(2, 12)

  const directPeers = () => {
    const set = new Set<string>()
    for (const c of node.getConnections()) {
      if (c.limits === undefined && c.remoteAddr.toString().includes('/webrtc'))
        set.add(c.remotePeer.toString())
    }
    return [...set]
  }

  const unsubscribe = onGossip<Presence>(node, TOPICS.presence, (p) => {
    if (p.peerId === self) return
    known.set(p.peerId, { ...p, lastSeen: Date.now() })
    if (init.observe) return
    const direct = directPeers()
    if (p.role === 'relay' || direct.includes(p.peerId) || direct.length >= maxDirect) return
    const last = lastDial.get(p.peerId) ?? 0
    if (Date.now() - last < 30_000 || p.addrs.length === 0) return
    lastDial.set(p.peerId, Date.now())
    // Lower peer id dials, so two peers hearing each other do not race two connections.
    if (self > p.peerId) return
    node
      .dial(
        p.addrs.map((a) => multiaddr(a)),
        { signal: AbortSignal.timeout(15_000) },
      )
      .catch((err) => {
        log.debug('presence dial failed', { peer: p.peerId, error: errorMessage(err) })
      })
  })

  const interval = () => Math.max(init.intervalMs ?? 3000, known.size * PER_PEER_MS)
  /** Whether the last announcement went out; until the peer has an address, none does. */
  let announced = false
  const announce = () => {
    const cutoff = Date.now() - Math.max(init.expireMs ?? 20_000, 6 * interval())
    for (const [id, p] of known) if (p.lastSeen < cutoff) known.delete(id)
    if (init.observe) return
    const addrs = dialableAddrs(node)
    announced = addrs.length > 0 && node.services.pubsub.getSubscribers(TOPICS.presence).length > 0
    if (addrs.length === 0) return
    const message: Presence = {
      type: 'presence',
      peerId: self,
      addrs,
      role: init.role,
      session,
      tasksDone: 0,
      ...init.info?.(),
    }
    publishGossip(node, TOPICS.presence, message).catch((err) =>
      log.debug('presence publish failed', { error: errorMessage(err) }),
    )
  }
  let timer: ReturnType<typeof setTimeout> | undefined
  let stopped = false
  const loop = () => {
    if (stopped) return
    announce()
    timer = setTimeout(loop, interval())
  }
  loop()
  // A peer starting up has no address until its relay reservation: announce as soon as it has
  // one, not an interval later (coordinators answer a newcomer with their jobs, coordinator.ts).
  // A relay reservation is a `transport:listening` event; `self:peer:update` comes about a second
  // later. The announcement also needs a peer known to take the topic (the relay's subscription
  // arrives just after the connection): one published before that reaches no one.
  const onAddresses = () => {
    if (!stopped && !announced) announce()
  }
  node.addEventListener('self:peer:update', onAddresses)
  node.addEventListener('transport:listening', onAddresses)
  node.services.pubsub.addEventListener('subscription-change', onAddresses)

  return {
    peers: () => [...known.values()],
    directPeers,
    stop() {
      stopped = true
      clearTimeout(timer)
      node.removeEventListener('self:peer:update', onAddresses)
      node.removeEventListener('transport:listening', onAddresses)
      node.services.pubsub.removeEventListener('subscription-change', onAddresses)
      unsubscribe()
    },
  }
}

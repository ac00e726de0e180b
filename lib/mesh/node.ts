/**
 * The libp2p node of every Meshwork peer: browser tabs (main thread), Node volunteers, the SDK
 * and CLI. WebSockets reach the relay, circuit relay v2 gives a reservation, WebRTC gives direct
 * browser-to-browser (and browser-to-Node) connections signalled through the relay, gossipsub
 * carries announcements and presence. The relay itself is built in relay/.
 */
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { type Identify, identify } from '@libp2p/identify'
import type { PeerId } from '@libp2p/interface'
import { type Ping, ping } from '@libp2p/ping'
import { webRTC } from '@libp2p/webrtc'
import { webSockets } from '@libp2p/websockets'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { WebRTC } from '@multiformats/multiaddr-matcher'
import { createLibp2p, type Libp2p } from 'libp2p'
import { createLogger } from '../env/log'
import { ConfigError, errorMessage } from '../errors'
import { fastMsgId, gossipScoreParams } from './gossip'
import type { Identity } from './identity'
import { LIMITS } from './protocol'

export type MeshServices = {
  pubsub: GossipSub
  identify: Identify
  ping: Ping
}

export type MeshNode = Libp2p<MeshServices>

export interface MeshNodeInit {
  identity: Identity
  /** Relay multiaddrs (with /p2p/<id>); the node reserves a slot on the first it reaches. */
  relays: readonly string[]
  /**
   * Allow dialling ws:// and private or loopback addresses. Browsers refuse these by default;
   * a local network (npm start, tests) needs them. Keep false for public deployments.
   */
  allowPrivateAddresses?: boolean
  /** ICE servers for WebRTC; default none (local networks; add STUN for the internet). */
  iceServers?: RTCIceServer[]
  /** Most open connections. Default 64. */
  maxConnections?: number
}

const log = createLogger('mesh')

export function parseRelayAddrs(relays: readonly string[]): Multiaddr[] {
  return relays.map((r) => {
    try {
      const ma = multiaddr(r)
      if (!ma.getComponents().some((c) => c.name === 'p2p'))
        throw new Error('missing /p2p/<peer id>')
      return ma
    } catch (err) {
      throw new ConfigError(`Invalid relay address ${JSON.stringify(r)}.`, {
        details: errorMessage(err),
        hint: 'A relay address looks like /ip4/127.0.0.1/tcp/9090/ws/p2p/12D3Koo… (npm start prints it).',
      })
    }
  })
}

/** Peers each node refuses connections from, until when (ms since epoch): see blockPeer. */
const blocklists = new WeakMap<object, Map<string, number>>()
/** Most peers one node keeps blocked: peer ids are free, so the list itself must be bounded. */
const MAX_BLOCKED = 10_000

/**
 * Refuses new connections from `peer` for `ms` (a peer that flooded a coordinator: its
 * connection is closed, and it cannot come straight back on the same key). Connections are
 * checked once encrypted, relayed ones (WebRTC signalling) included. Nodes not made by
 * createMeshNode ignore it.
 */
export function blockPeer(node: object, peer: PeerId, ms: number): void {
  const list = blocklists.get(node)
  if (!list) return
  const key = peer.toString()
  list.delete(key)
  list.set(key, Date.now() + ms)
  // Oldest first: the entry blocked longest ago goes when the list is full.
  if (list.size > MAX_BLOCKED) list.delete(list.keys().next().value!)
}

export async function createMeshNode(init: MeshNodeInit): Promise<MeshNode> {
  const relays = parseRelayAddrs(init.relays)
  const blocked = new Map<string, number>()
  const isBlocked = (peer: PeerId) => {
    const until = blocked.get(peer.toString())
    if (until === undefined) return false
    if (until > Date.now()) return true
    blocked.delete(peer.toString())
    return false
  }
  const node = await createLibp2p({
    privateKey: init.identity.privateKey,
    // One circuit listener per configured relay: each asks the relay transport for a
    // reservation on a relay it is connected to, so a peer holds one on every relay that is up
    // and keeps its WebRTC address through any of them when one relay goes down.
    addresses: {
      listen: [
        ...Array.from({ length: Math.max(1, relays.length) }, () => '/p2p-circuit'),
        '/webrtc',
      ],
    },
    transports: [
      webSockets(),
      webRTC({ rtcConfiguration: { iceServers: init.iceServers ?? [] } }),
      circuitRelayTransport({ reservationCompletionTimeout: 10_000 }),
    ],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: init.maxConnections ?? 64,
      // A WebRTC dial is a relayed dial, SDP signalling, ICE, DTLS, SCTP and Noise in a row;
      // libp2p's 6 s per address is too short for a busy or slow device (measured here: dials
      // of 60 ms or ~1 s idle, past 6 s with two cores loaded).
      addressDialTimeout: 20_000,
      dialTimeout: 30_000,
    },
    connectionGater: {
      denyInboundEncryptedConnection: async (peer) => isBlocked(peer),
      // Without an own denyDialMultiaddr, browsers keep libp2p's (no ws://, no private addresses).
      ...(init.allowPrivateAddresses ? { denyDialMultiaddr: async () => false } : {}),
    },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        maxInboundDataLength: LIMITS.gossipMessageBytes * 4,
        scoreParams: gossipScoreParams(),
        fastMsgIdFn: fastMsgId,
      }),
    },
  })
  blocklists.set(node, blocked)
  keepRelays(node, relays)
  return node
}

/**
 * Longest wait between relay redials. Peers must join within 10 s of a relay coming back; with
 * 8 s and the jitter a peer's next try could come 9.6 s later (a tab measured 7.6 s).
 */
const MAX_REDIAL_MS = 5000

/**
 * Keeps a connection to every configured relay: dials at start, retries failures with
 * exponential backoff (0.5 s doubling to 5 s, ±20 % jitter so that a restarted relay is not hit
 * by every peer at once), and redials when a relay connection drops. A relay that is down when a
 * tab starts is therefore joined within about 6 s of coming up. After a relay restart the
 * redial is enough: the circuit relay transport reserves again on the new connection (measured:
 * reservations back in about 1 s), and direct WebRTC links are not affected meanwhile.
 */
function keepRelays(node: MeshNode, relays: readonly Multiaddr[]): void {
  const state = relays.map((addr) => ({
    addr,
    peer: addr.getComponents().findLast((c) => c.name === 'p2p')?.value ?? '',
    delay: 500,
    timer: undefined as ReturnType<typeof setTimeout> | undefined,
    dialing: false,
  }))
  let stopped = false
  const attempt = (r: (typeof state)[number]) => {
    if (stopped || r.dialing || r.timer) return
    r.dialing = true
    node
      .dial(r.addr, { signal: AbortSignal.timeout(10_000) })
      .then(() => {
        r.delay = 500
      })
      .catch((err) => {
        log.warn('relay dial failed; retrying', {
          relay: r.addr.toString(),
          inMs: r.delay,
          error: errorMessage(err),
        })
        r.timer = setTimeout(
          () => {
            r.timer = undefined
            attempt(r)
          },
          r.delay * (0.8 + 0.4 * Math.random()),
        )
        r.delay = Math.min(r.delay * 2, MAX_REDIAL_MS)
      })
      .finally(() => {
        r.dialing = false
      })
  }
  node.addEventListener('peer:disconnect', (evt) => {
    const r = state.find((x) => x.peer === evt.detail.toString())
    if (r) attempt(r)
  })
  node.addEventListener('stop', () => {
    stopped = true
    for (const r of state) if (r.timer) clearTimeout(r.timer)
  })
  for (const r of state) attempt(r)
}

/** Resolves with the node's WebRTC address once it holds a relay reservation. */
export async function waitForReservation(node: MeshNode, timeoutMs = 15_000): Promise<Multiaddr> {
  const started = Date.now()
  for (;;) {
    const addr = node.getMultiaddrs().find((ma) => WebRTC.matches(ma))
    if (addr) return addr
    if (Date.now() - started > timeoutMs) {
      throw new ConfigError('No relay reservation.', {
        details: `no WebRTC address after ${timeoutMs} ms; connected to ${node.getConnections().length} peers`,
        hint: 'Is the relay running, and is its address right?',
      })
    }
    await new Promise((r) => setTimeout(r, 100))
  }
}

/** The node's dialable addresses (circuit + WebRTC), as strings for announcements. */
export function dialableAddrs(node: MeshNode): string[] {
  return node
    .getMultiaddrs()
    .filter((ma) => WebRTC.matches(ma))
    .map((ma) => ma.toString())
}

/**
 * The Meshwork relay: a small Node process that browsers reach over WebSockets. It holds circuit
 * relay v2 reservations so that peers can signal WebRTC through it, runs gossipsub on the Meshwork
 * topics (validated like every peer), answers ping and identify, and reports its state over
 * HTTP: /health (JSON) and /metrics (Prometheus: libp2p's own connection, stream and protocol
 * metrics through @libp2p/prometheus-metrics, plus reservations and gossip verdicts). Job data never crosses it: relayed connections are limited, and Meshwork's
 * stream protocols refuse limited connections.
 */
import { createServer, type Server } from 'node:http'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { type CircuitRelayService, circuitRelayServer } from '@libp2p/circuit-relay-v2'
import { type GossipSub, gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { PrivateKey } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { prometheusMetrics } from '@libp2p/prometheus-metrics'
import { webSockets } from '@libp2p/websockets'
import { createLibp2p, type Libp2p } from 'libp2p'
import { Counter, Gauge, Registry } from 'prom-client'
import { createLogger } from '../lib/env/log'
import {
  fastMsgId,
  type GossipStats,
  gossipScoreParams,
  installGossipValidators,
} from '../lib/mesh/gossip'
import type { MeshNode } from '../lib/mesh/node'
import { LIMITS, TOPICS } from '../lib/mesh/protocol'

export interface RelayOptions {
  /** Interface to listen on. Default 127.0.0.1; 0.0.0.0 to serve other machines. */
  host: string
  /** WebSocket port. 0 picks a free one. */
  port: number
  /** HTTP health port. 0 picks a free one. */
  healthPort: number
  privateKey?: PrivateKey | undefined
  /**
   * Reservations held at once. Each browser tab holds one; the libp2p default (15) would refuse
   * the 16th tab. Default 1024.
   */
  maxReservations?: number
  /**
   * How long a reservation lasts before the client must renew it (ms). A tab that closes without
   * saying so keeps its slot until then, so shorter means faster reuse under churn; clients
   * renew well before expiry. Default 10 minutes.
   */
  reservationTtlMs?: number
  /** Addresses to announce instead of the listen address (public deployments). */
  announce?: string[]
  /** Most open connections. Default 4096. */
  maxConnections?: number
}

export interface Relay {
  node: Libp2p<{ relay: CircuitRelayService; pubsub: GossipSub }>
  /** The address browsers dial, with /p2p/<id>. */
  multiaddr: string
  healthUrl: string
  health(): RelayHealth
  stop(): Promise<void>
}

export interface RelayHealth {
  status: 'ok'
  peerId: string
  multiaddrs: string[]
  reservations: number
  connections: number
  peers: number
  topics: Record<string, number>
  gossip: GossipStats
  uptimeSeconds: number
}

const log = createLogger('relay')

export async function startRelay(opts: RelayOptions): Promise<Relay> {
  // One registry per relay (tests run several in one process), process metrics included.
  const registry = new Registry()
  const node = await createLibp2p({
    metrics: prometheusMetrics({ registry, collectDefaultMetrics: true }),
    ...(opts.privateKey ? { privateKey: opts.privateKey } : {}),
    addresses: {
      listen: [`/ip4/${opts.host}/tcp/${opts.port}/ws`],
      ...(opts.announce ? { announce: opts.announce } : {}),
    },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionManager: {
      maxConnections: opts.maxConnections ?? 4096,
      // libp2p's defaults (5 new connections per second per IP, 10 pending) refuse tabs that share
      // an address: every local tab, or a whole office behind one NAT, opening the page at once.
      inboundConnectionThreshold: 200,
      maxIncomingPendingConnections: 512,
    },
    services: {
      identify: identify(),
      ping: ping(),
      relay: circuitRelayServer({
        reservations: {
          maxReservations: opts.maxReservations ?? 1024,
          reservationTtl: opts.reservationTtlMs ?? 10 * 60_000,
          reservationClearInterval: 30_000,
          // Relayed connections carry WebRTC signalling only: keep libp2p's default caps
          // (2 minutes, 128 KiB) so that nothing else can ride on the relay.
          applyDefaultLimit: true,
        },
      }),
      pubsub: gossipsub({
        allowPublishToZeroTopicPeers: true,
        maxInboundDataLength: LIMITS.gossipMessageBytes * 4,
        scoreParams: gossipScoreParams(),
        fastMsgIdFn: fastMsgId,
      }),
    },
  })
  const verdicts = new Counter({
    name: 'meshwork_relay_gossip_messages_total',
    help: "Gossip messages validated, by topic and verdict: accept, reject (lowers the sender's score), rate-limited (a signer's new jobs beyond 1/s, burst 20, ignored)",
    labelNames: ['topic', 'verdict'],
    registers: [registry],
  })
  const gossip = installGossipValidators(node as unknown as MeshNode, (topic, verdict) =>
    verdicts.inc({ topic, verdict }),
  )
  for (const topic of Object.values(TOPICS)) node.services.pubsub.subscribe(topic)

  const started = Date.now()
  new Gauge({
    name: 'meshwork_relay_reservations',
    help: 'Circuit relay v2 reservations held now',
    registers: [registry],
    collect() {
      this.set(node.services.relay.reservations.size)
    },
  })
  new Gauge({
    name: 'meshwork_relay_topic_subscribers',
    help: 'Peers subscribed to each Meshwork gossip topic',
    labelNames: ['topic'],
    registers: [registry],
    collect() {
      for (const t of Object.values(TOPICS))
        this.set({ topic: t }, node.services.pubsub.getSubscribers(t).length)
    },
  })
  node.addEventListener('peer:connect', (e) =>
    log.debug('peer connected', { peer: e.detail.toString() }),
  )
  node.addEventListener('peer:disconnect', (e) =>
    log.debug('peer disconnected', { peer: e.detail.toString() }),
  )
  const ma = node.getMultiaddrs()[0]
  if (!ma) throw new Error('relay has no listen address')
  const health = (): RelayHealth => {
    const topics: Record<string, number> = {}
    for (const t of Object.values(TOPICS)) topics[t] = node.services.pubsub.getSubscribers(t).length
    return {
      status: 'ok',
      peerId: node.peerId.toString(),
      multiaddrs: node.getMultiaddrs().map(String),
      reservations: node.services.relay.reservations.size,
      connections: node.getConnections().length,
      peers: node.getPeers().length,
      topics,
      gossip: { ...gossip },
      uptimeSeconds: Math.round((Date.now() - started) / 1000),
    }
  }

  const server: Server = createServer((req, res) => {
    if (req.url === '/metrics') {
      registry.metrics().then(
        (text) => res.writeHead(200, { 'content-type': registry.contentType }).end(text),
        (err) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${String(err)}\n`),
      )
      return
    }
    if (req.url === '/health' || req.url === '/') {
      res.writeHead(200, { 'content-type': 'application/json', 'access-control-allow-origin': '*' })
      res.end(JSON.stringify(health()))
      return
    }
    res.writeHead(404, { 'content-type': 'text/plain' })
    res.end('not found\n')
  })
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(opts.healthPort, opts.host, () => resolve())
  })
  const address = server.address()
  const healthPort = typeof address === 'object' && address ? address.port : opts.healthPort

  log.info('relay listening', {
    multiaddr: ma.toString(),
    health: `http://${opts.host}:${healthPort}/health`,
    metrics: `http://${opts.host}:${healthPort}/metrics`,
  })
  return {
    node,
    multiaddr: ma.toString(),
    healthUrl: `http://${opts.host}:${healthPort}/health`,
    health,
    async stop() {
      await new Promise<void>((resolve) => server.close(() => resolve()))
      await node.stop()
    },
  }
}

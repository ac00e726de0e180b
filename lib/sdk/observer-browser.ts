/**
 * Browser only: a listen-only peer for the /network page. Joins the mesh through the relays with
 * a throwaway identity, hears presence and job announcements, and keeps the network figures
 * (network-stats.ts). It announces nothing and dials no one but the relays.
 */
import type { AppConfig } from '../env/app-config'
import {
  createMeshNode,
  generateIdentity,
  installGossipValidators,
  type JobAnnouncement,
  type JobClosed,
  onGossip,
  startPresence,
  TOPICS,
} from '../mesh'
import { createNetworkStats, type NetworkStats } from './network-stats'

export interface NetworkObserver {
  stats: NetworkStats
  /** Connections open now (relays included). */
  connections(): number
  stop(): Promise<void>
}

export async function startObserver(config: AppConfig): Promise<NetworkObserver> {
  const node = await createMeshNode({
    identity: await generateIdentity(),
    relays: config.relays,
    allowPrivateAddresses: config.dev,
  })
  installGossipValidators(node)
  const stats = createNetworkStats()
  const presence = startPresence({ node, role: 'requester', observe: true, intervalMs: 1000 })
  node.services.pubsub.subscribe(TOPICS.jobs)
  const off = onGossip<JobAnnouncement | JobClosed>(node, TOPICS.jobs, (m) => {
    if (m.type === 'job') stats.job(m)
    else stats.closed(m.jobId)
  })
  const timer = setInterval(() => stats.presence(presence.peers()), 1000)
  return {
    stats,
    connections: () => node.getConnections().length,
    async stop() {
      clearInterval(timer)
      off()
      presence.stop()
      await node.stop()
    },
  }
}

/**
 * Figures about the whole network, from what any peer hears on gossip: volunteers online (the
 * presence topic), their backends, tasks per second (growth of the volunteers' announced
 * tasksDone), and jobs in flight (coordinators announce their jobs every few seconds and say
 * when one closes). Pure bookkeeping with an injectable clock; lib/sdk/observer-browser.ts feeds
 * it from a live mesh node.
 */
import type { JobAnnouncement, PeerPresence } from '../mesh'

export interface NetworkSample {
  at: number
  volunteers: number
  requesters: number
  backends: Record<string, number>
  /** Tasks finished per second across the volunteers, over the last `rateWindowMs`. */
  tasksPerSecond: number
  jobsInFlight: number
  /** Tasks finished since this observer started. */
  tasksSeen: number
}

export interface JobSeen {
  jobId: string
  taskCount: number
  replicas: number
  quorum: number
  policy: string
  lastSeen: number
}

export interface NetworkStats {
  presence(peers: readonly PeerPresence[]): void
  job(a: JobAnnouncement): void
  closed(jobId: string): void
  sample(): NetworkSample
  jobs(): JobSeen[]
}

export function createNetworkStats(
  opts: { now?: () => number; rateWindowMs?: number; jobExpireMs?: number } = {},
): NetworkStats {
  const now = opts.now ?? Date.now
  const window = opts.rateWindowMs ?? 10_000
  const jobExpire = opts.jobExpireMs ?? 10_000
  let peers: readonly PeerPresence[] = []
  /** Highest tasksDone per volunteer, and the increases with their times. */
  const done = new Map<string, number>()
  const increases: Array<{ at: number; n: number }> = []
  let total = 0
  const jobs = new Map<string, JobSeen>()

  return {
    presence(list) {
      peers = list
      const t = now()
      for (const p of list) {
        if (p.role !== 'volunteer') continue
        const before = done.get(p.peerId)
        // A volunteer first heard has done its work before we listened; a restart resets it.
        if (before !== undefined && p.tasksDone > before) {
          increases.push({ at: t, n: p.tasksDone - before })
          total += p.tasksDone - before
        }
        done.set(p.peerId, p.tasksDone)
      }
    },
    job(a) {
      jobs.set(a.jobId, {
        jobId: a.jobId,
        taskCount: a.taskCount,
        replicas: a.replicas,
        quorum: a.quorum,
        policy: a.policy,
        lastSeen: now(),
      })
    },
    closed(jobId) {
      jobs.delete(jobId)
    },
    sample() {
      const t = now()
      while (increases.length > 0 && increases[0]!.at < t - window) increases.shift()
      for (const [id, j] of jobs) if (j.lastSeen < t - jobExpire) jobs.delete(id)
      const volunteers = peers.filter((p) => p.role === 'volunteer')
      const backends: Record<string, number> = {}
      for (const v of volunteers) {
        const b = v.backend ?? 'unknown'
        backends[b] = (backends[b] ?? 0) + 1
      }
      return {
        at: t,
        volunteers: volunteers.length,
        requesters: peers.filter((p) => p.role === 'requester').length,
        backends,
        tasksPerSecond: increases.reduce((s, x) => s + x.n, 0) / (window / 1000),
        jobsInFlight: jobs.size,
        tasksSeen: total,
      }
    },
    jobs: () => [...jobs.values()],
  }
}

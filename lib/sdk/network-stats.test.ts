import { describe, expect, it } from 'vitest'
import type { JobAnnouncement, PeerPresence } from '../mesh'
import { createNetworkStats } from './network-stats'

const peer = (
  id: string,
  tasksDone: number,
  backend = 'wasm',
  role: PeerPresence['role'] = 'volunteer',
): PeerPresence => ({
  type: 'presence',
  peerId: id,
  addrs: [],
  role,
  backend: backend as PeerPresence['backend'],
  tasksDone,
  lastSeen: 0,
})

const job = (jobId: string) =>
  ({ jobId, taskCount: 10, replicas: 3, quorum: 2, policy: 'argmax' }) as JobAnnouncement

describe('network figures from gossip', () => {
  it('counts volunteers by backend and tasks per second from their announced work', () => {
    let t = 0
    const s = createNetworkStats({ now: () => t, rateWindowMs: 10_000 })
    s.presence([peer('a', 100), peer('b', 5, 'webgpu'), peer('r', 0, undefined, 'requester')])
    // Work done before we listened does not count.
    expect(s.sample()).toMatchObject({
      volunteers: 2,
      requesters: 1,
      tasksPerSecond: 0,
      tasksSeen: 0,
    })
    expect(s.sample().backends).toEqual({ wasm: 1, webgpu: 1 })
    t = 3000
    s.presence([peer('a', 130), peer('b', 15, 'webgpu')])
    t = 6000
    s.presence([peer('a', 160), peer('b', 15, 'webgpu')])
    expect(s.sample()).toMatchObject({ tasksPerSecond: 7, tasksSeen: 70 })
    // A restarted volunteer (counter back to 0) adds nothing until it works again.
    t = 9000
    s.presence([peer('a', 0), peer('b', 15, 'webgpu')])
    expect(s.sample().tasksSeen).toBe(70)
    t = 12_000
    s.presence([peer('a', 4), peer('b', 15, 'webgpu')])
    expect(s.sample().tasksSeen).toBe(74)
    // Older than the window: only the last increases count.
    t = 17_000
    expect(s.sample().tasksPerSecond).toBeCloseTo(0.4)
  })

  it('keeps jobs in flight until closed or no longer announced', () => {
    let t = 0
    const s = createNetworkStats({ now: () => t, jobExpireMs: 10_000 })
    s.job(job('0x01'))
    s.job(job('0x02'))
    expect(s.sample().jobsInFlight).toBe(2)
    s.closed('0x01')
    expect(s.jobs().map((j) => j.jobId)).toEqual(['0x02'])
    t = 11_000
    expect(s.sample().jobsInFlight).toBe(0)
  })
})

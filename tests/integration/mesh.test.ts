import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createLogger } from '../../lib/env/log'
import { createCoordinator } from '../../lib/jobs'
import {
  addressOfPeer,
  createMeshNode,
  generateIdentity,
  installGossipValidators,
  type MeshNode,
  onGossip,
  type Presence,
  publishGossip,
  request,
  serve,
  TOPICS,
  waitForReservation,
} from '../../lib/mesh'
import { startPresence } from '../../lib/mesh/presence'
import { commitInputs, encodeCbor, parseInputsJson } from '../../lib/proofs'
import { seededInputs } from '../../lib/runtime/examples'
import { openMemoryStore } from '../../lib/store/memory-node'
import { type Relay, startRelay } from '../../relay/relay'

// Real relay, real libp2p nodes over WebSockets + circuit relay + WebRTC (node-datachannel).
let relay: Relay
const nodes: MeshNode[] = []

async function peer() {
  const identity = await generateIdentity()
  const node = await createMeshNode({
    identity,
    relays: [relay.multiaddr],
    allowPrivateAddresses: true,
  })
  installGossipValidators(node)
  await waitForReservation(node)
  nodes.push(node)
  return { node, identity }
}

beforeAll(async () => {
  relay = await startRelay({ host: '127.0.0.1', port: 0, healthPort: 0 })
})
afterAll(async () => {
  await Promise.all(nodes.map((n) => n.stop()))
  await relay?.stop()
})

describe('mesh over a real relay', () => {
  it('derives the EVM address of a peer from its PeerId', async () => {
    const { identity } = await peer()
    expect(addressOfPeer(identity.peerId)).toBe(identity.address)
  })

  it('runs a request over a direct WebRTC connection, not the relay', async () => {
    const a = await peer()
    const b = await peer()
    const schema = z.object({ type: z.literal('echo'), n: z.number() })
    await serve(
      a.node,
      '/test/echo/1',
      schema,
      async (req, ctx) => ({
        type: 'echo',
        n: req.n + 1,
        from: ctx.remotePeer.toString(),
        limited: ctx.connection.limits !== undefined,
      }),
      {
        log: createLogger('test'),
      },
    )
    const addr = (await waitForReservation(a.node)).toString()
    const { multiaddr } = await import('@multiformats/multiaddr')
    const res = await request(
      b.node,
      [multiaddr(addr)],
      '/test/echo/1',
      { type: 'echo', n: 41 },
      z.object({ n: z.number(), from: z.string(), limited: z.boolean() }),
    )
    expect(res).toEqual({ n: 42, from: b.node.peerId.toString(), limited: false })
  })

  it('answers an invalid request with a reason instead of crashing', async () => {
    const a = await peer()
    const b = await peer()
    const invalid: string[] = []
    await serve(
      a.node,
      '/test/strict/1',
      z.object({ type: z.literal('x') }),
      async () => ({ type: 'ok' }),
      {
        log: createLogger('test'),
        onInvalid: (_p, e) => invalid.push(e.details ?? ''),
      },
    )
    const { multiaddr } = await import('@multiformats/multiaddr')
    const addrs = [multiaddr((await waitForReservation(a.node)).toString())]
    const res = await request(
      b.node,
      addrs,
      '/test/strict/1',
      { type: 'y' },
      z.object({ type: z.string(), code: z.string() }),
    )
    expect(res).toMatchObject({ type: 'error', code: 'invalid-message' })
    expect(invalid[0]).toMatch(/type/)
    // Still serving afterwards.
    expect(
      await request(b.node, addrs, '/test/strict/1', { type: 'x' }, z.object({ type: z.string() })),
    ).toEqual({ type: 'ok' })
  })

  it('delivers valid gossip through the relay and drops forged or malformed messages', async () => {
    const a = await peer()
    const b = await peer()
    const got: Presence[] = []
    onGossip<Presence>(b.node, TOPICS.presence, (m) => got.push(m))
    a.node.services.pubsub.subscribe(TOPICS.presence)
    await new Promise((r) => setTimeout(r, 1500))
    const good: Presence = {
      type: 'presence',
      peerId: a.node.peerId.toString(),
      addrs: [],
      role: 'volunteer',
      tasksDone: 3,
    }
    const forged: Presence = { ...good, peerId: b.node.peerId.toString(), tasksDone: 99 }
    await a.node.services.pubsub.publish(TOPICS.presence, encodeCbor({ junk: true }))
    await a.node.services.pubsub.publish(TOPICS.presence, encodeCbor(forged))
    await publishGossip(a.node, TOPICS.presence, good)
    const deadline = Date.now() + 5000
    while (got.length === 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    expect(got.map((g) => g.tasksDone)).toEqual([3])
    // The relay rejected the two bad messages too (it validates like every peer).
    expect(relay.health().gossip.rejected).toBeGreaterThanOrEqual(2)
  })

  it("answers a newly heard volunteer with its jobs' announcements, not an interval later", async () => {
    const a = await peer()
    // Announced at start, then only every 10 minutes: a volunteer that joins later hears the
    // job within seconds only through the coordinator's answer to its first presence message.
    const coordinator = createCoordinator({
      node: a.node,
      identity: a.identity,
      store: await openMemoryStore(),
      announceIntervalMs: 600_000,
    })
    await coordinator.start()
    const inputs = parseInputsJson(seededInputs(1, 2, { x: [1, 4] }))
    const jobId = `0x${'ab'.repeat(32)}` as const
    coordinator.run(
      {
        jobId,
        spec: {
          modelHash: `0x${'bb'.repeat(32)}`,
          inputsRoot: commitInputs(inputs).root,
          taskCount: 2,
          replicas: 1,
          quorum: 1,
          policy: { kind: 'exact' },
          rewardPerResult: 1n,
          deadline: Math.floor(Date.now() / 1000) + 3600,
          coordinator: a.identity.address,
        },
        chainId: 31337,
        contract: `0x${'cc'.repeat(20)}`,
        requester: `0x${'dd'.repeat(20)}`,
        createdAt: Date.now(),
        status: 'running',
      },
      inputs.map((t, taskIndex) => ({ jobId, taskIndex, status: 'open', inputs: t, results: [] })),
      new Uint8Array(8),
    )
    await new Promise((r) => setTimeout(r, 1000))
    const b = await peer()
    const heard: string[] = []
    onGossip<{ type: string; jobId?: string }>(b.node, TOPICS.jobs, (m) => {
      if (m.type === 'job' && m.jobId) heard.push(m.jobId)
    })
    const heardWithin = async (ms: number) => {
      const t0 = Date.now()
      while (heard.length === 0 && Date.now() - t0 < ms) await new Promise((r) => setTimeout(r, 50))
      return heard.splice(0)
    }
    let presence = startPresence({ node: b.node, role: 'volunteer' })
    try {
      expect(await heardWithin(15_000)).toContain(jobId)
      // The same peer id starting again (a reloaded tab) is a newcomer too: a new presence session.
      presence.stop()
      presence = startPresence({ node: b.node, role: 'volunteer' })
      expect(await heardWithin(15_000)).toContain(jobId)
    } finally {
      presence.stop()
      await coordinator.stop()
    }
  })

  it('reports reservations and peers on the health endpoint', async () => {
    const res = await fetch(relay.healthUrl)
    const h = await res.json()
    expect(h.status).toBe('ok')
    expect(h.reservations).toBeGreaterThanOrEqual(2)
  })

  it('exposes Prometheus metrics: reservations, gossip verdicts, libp2p connections', async () => {
    const res = await fetch(relay.healthUrl.replace(/\/health$/, '/metrics'))
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0.0.4/)
    const text = await res.text()
    const value = (re: RegExp) => Number(re.exec(text)?.[1])
    expect(value(/^meshwork_relay_reservations (\d+)$/m)).toBe(relay.health().reservations)
    // The forged and malformed presence messages of the gossip test, counted by verdict.
    expect(
      value(
        /^meshwork_relay_gossip_messages_total\{topic="[^"]*presence[^"]*",verdict="reject"\} (\d+)$/m,
      ),
    ).toBeGreaterThanOrEqual(2)
    // libp2p's own metrics (@libp2p/prometheus-metrics) and the process's.
    expect(text).toMatch(/^libp2p_connection_manager_connections\{/m)
    expect(text).toMatch(/^process_resident_memory_bytes \d+/m)
  })
})

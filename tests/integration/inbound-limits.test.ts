/**
 * A coordinator's inbound limits under a flood (issue 15 item 3): real libp2p nodes over
 * WebSockets on loopback (no relay, no chain: the job is made by hand), the coordinator with
 * its default INBOUND_LIMITS. Hostile peers open many result streams, push unsolicited frames
 * and declare huge outputs; the coordinator's held bytes and its process memory stay bounded,
 * the hostile streams are told `busy` or dropped, and an honest worker's results are accepted
 * meanwhile. Runs without a network namespace (loopback WebSockets only).
 */

import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Stream } from '@libp2p/interface'
import { ping } from '@libp2p/ping'
import { byteStream, lpStream } from '@libp2p/utils'
import { webSockets } from '@libp2p/websockets'
import { type Multiaddr, multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createLogger } from '../../lib/env/log'
import { type Coordinator, createCoordinator, type JobHandle } from '../../lib/jobs'
import {
  continueSchema,
  decodeMessage,
  encodeMessage,
  errorSchema,
  generateIdentity,
  type Identity,
  INBOUND_LIMITS,
  type Lease,
  LIMITS,
  type MeshNode,
  PROTOCOLS,
  request,
  resultAckSchema,
  sendResult,
  toWireTensors,
  workResponseSchema,
} from '../../lib/mesh'
import { commitInputs, parseInputsJson, resultHash, signResult } from '../../lib/proofs'
import { seededInputs } from '../../lib/runtime/examples'
import { openMemoryStore } from '../../lib/store/memory-node'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
const MiB = 1024 * 1024
const CONTRACT = `0x${'cc'.repeat(20)}` as const
const DOMAIN = { chainId: 31337, contract: CONTRACT }
const JOB_ID = `0x${'ab'.repeat(32)}` as const
const TASKS = 12
/** An honest result's outputs: 1 MiB of float32, so that the honest body is not trivial. */
const OUTPUT_FLOATS = 256 * 1024

async function peer(identity: Identity, listen: boolean): Promise<MeshNode> {
  return (await createLibp2p({
    privateKey: identity.privateKey,
    addresses: { listen: listen ? ['/ip4/127.0.0.1/tcp/0/ws'] : [] },
    transports: [webSockets()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: async () => false },
    services: {
      identify: identify(),
      ping: ping(),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true }),
    },
  })) as unknown as MeshNode
}

let coordinatorId: Identity
let coordinator: Coordinator
let coordinatorNode: MeshNode
let addr: Multiaddr
let handle: JobHandle
const peers: MeshNode[] = []

beforeAll(async () => {
  coordinatorId = await generateIdentity()
  coordinatorNode = await peer(coordinatorId, true)
  addr = multiaddr(coordinatorNode.getMultiaddrs()[0]!.toString())
  const store = await openMemoryStore()
  const inputs = parseInputsJson(seededInputs(1, TASKS, { x: [1, 4] }))
  const job = {
    jobId: JOB_ID,
    spec: {
      modelHash: `0x${'bb'.repeat(32)}` as const,
      inputsRoot: commitInputs(inputs).root,
      taskCount: TASKS,
      replicas: 1,
      quorum: 1,
      policy: { kind: 'exact' as const },
      rewardPerResult: 1n,
      deadline: Math.floor(Date.now() / 1000) + 3600,
      coordinator: coordinatorId.address,
    },
    chainId: DOMAIN.chainId,
    contract: CONTRACT,
    requester: `0x${'dd'.repeat(20)}` as const,
    createdAt: Date.now(),
    status: 'running' as const,
  }
  const tasks = inputs.map((t, taskIndex) => ({
    jobId: JOB_ID,
    taskIndex,
    status: 'open' as const,
    inputs: t,
    results: [],
  }))
  await store.putTasks(tasks)
  coordinator = createCoordinator({
    node: coordinatorNode,
    identity: coordinatorId,
    store,
    log: createLogger('coordinator'),
  })
  await coordinator.start()
  handle = coordinator.run(job, tasks, new Uint8Array(16))
})

afterAll(async () => {
  await Promise.all(peers.map((p) => p.stop()))
  await coordinator?.stop()
  await coordinatorNode?.stop()
})

const askLease = async (node: MeshNode): Promise<Lease> => {
  const res = await request(
    node,
    addr,
    PROTOCOLS.work,
    { type: 'work-request', jobId: JOB_ID, backend: 'wasm', runtime: 'test 1' },
    workResponseSchema,
  )
  if (res.type !== 'lease') throw new Error(`expected a lease, got ${JSON.stringify(res)}`)
  return res
}

/** What the coordinator's process holds, after a full collection (bytes). */
const heldMemory = () => {
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

const varint = (n: number) => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

/** The stream's answer: an `error` frame, or what went wrong reading one (or opening it). */
const answerOf = async (stream: Stream | undefined) => {
  if (!stream) return { dropped: 'not opened' }
  try {
    const frame = await lpStream(stream).read({ signal: AbortSignal.timeout(15_000) })
    return decodeMessage(frame.subarray(), errorSchema, LIMITS.controlFrameBytes)
  } catch (err) {
    return { dropped: (err as Error).name }
  }
}

describe('a coordinator under an inbound flood', () => {
  it('keeps what it holds bounded, refuses the excess with busy, and still takes honest results', async () => {
    const [h1, h2, h3, honestId] = [
      await generateIdentity(),
      await generateIdentity(),
      await generateIdentity(),
      await generateIdentity(),
    ]
    const [flooder, liar, sloth, honest] = [
      await peer(h1, false),
      await peer(h2, false),
      await peer(h3, false),
      await peer(honestId, false),
    ]
    peers.push(flooder, liar, sloth, honest)
    // Connections and the attackers' own buffers first: the baseline holds them already.
    for (const p of [flooder, liar, sloth, honest]) await p.dial(addr)
    const junk = new Uint8Array(15 * MiB).fill(7)
    const big = new Uint8Array(LIMITS.frameBytes - 1)
    const before = heldMemory()

    // The liar holds real leases: its headers pass the lease check.
    const leases = [await askLease(liar), await askLease(liar), await askLease(liar)]

    // 1. Unsolicited frames: 16 streams, each declaring a 16 MiB frame and pushing 15 MiB of it.
    // A 1.0.0 coordinator buffered all of it (240 MiB from this one connection). The first one
    // read costs the flooder its connection: later streams may fail to open at all.
    const floods = await Promise.all(
      Array.from({ length: 16 }, async () => {
        const s = await flooder.dialProtocol(addr, PROTOCOLS.result).catch(() => undefined)
        if (!s) return undefined
        const bytes = byteStream(s)
        void bytes
          .write(varint(LIMITS.frameBytes - 1))
          .then(() => bytes.write(junk))
          .catch(() => {})
        return s
      }),
    )

    // 2. Huge declared outputs under real leases: 8 headers of 16 MiB each. Two fit the liar's
    // budget and get `continue`; it sends 16 MiB less one byte and stalls, holding them.
    const headerOf = (l: Lease) => ({
      type: 'result',
      jobId: JOB_ID,
      taskIndex: l.taskIndex,
      leaseId: l.leaseId,
      resultHash: `0x${'01'.repeat(32)}`,
      signature: `0x${'02'.repeat(65)}`,
      backend: 'wasm',
      computeMs: 10,
      outputBytes: LIMITS.frameBytes,
    })
    const declared = await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const s = await liar.dialProtocol(addr, PROTOCOLS.result)
        const lp = lpStream(s)
        await lp.write(encodeMessage(headerOf(leases[i % leases.length]!)))
        const first = decodeMessage(
          (await lp.read({ signal: AbortSignal.timeout(15_000) })).subarray(),
          z.discriminatedUnion('type', [continueSchema, errorSchema, resultAckSchema]),
          LIMITS.controlFrameBytes,
        )
        if (first.type === 'continue') {
          const bytes = byteStream(lp.unwrap())
          void bytes
            .write(varint(LIMITS.frameBytes))
            .then(() => bytes.write(big))
            .catch(() => {})
        }
        return first
      }),
    )
    // 3. Streams that say nothing hold a slot each until the deadline; beyond 8 the peer's
    // streams are refused, and told so once they speak.
    const silent = await Promise.all(
      Array.from({ length: INBOUND_LIMITS.peerStreams }, () =>
        sloth.dialProtocol(addr, PROTOCOLS.work),
      ),
    )
    const late = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const lp = lpStream(await sloth.dialProtocol(addr, PROTOCOLS.work))
        await lp.write(
          encodeMessage({ type: 'work-request', jobId: JOB_ID, backend: 'wasm', runtime: 'x' }),
        )
        return lp
      }),
    )

    // Meanwhile an honest worker takes leases and delivers 1 MiB results.
    const acks: string[] = []
    let peakDuring = 0
    const sampler = setInterval(() => {
      peakDuring = Math.max(peakDuring, heldMemory() - before)
    }, 250)
    for (let i = 0; i < 5; i++) {
      const l = await askLease(honest)
      const outputs = {
        y: {
          type: 'float32' as const,
          dims: [1, OUTPUT_FLOATS],
          data: new Float32Array(OUTPUT_FLOATS).fill(l.taskIndex),
        },
      }
      const hash = resultHash(outputs, { kind: 'exact' })
      const ack = await sendResult(
        honest,
        addr,
        {
          type: 'result',
          jobId: JOB_ID,
          taskIndex: l.taskIndex,
          leaseId: l.leaseId,
          resultHash: hash,
          signature: await signResult(honestId.account, DOMAIN, {
            jobId: JOB_ID,
            taskIndex: l.taskIndex,
            resultHash: hash,
          }),
          backend: 'wasm',
          computeMs: 10,
        },
        toWireTensors(outputs),
      )
      acks.push(ack.type === 'result-ack' ? ack.status : ack.code)
    }
    await new Promise((r) => setTimeout(r, 1000))
    clearInterval(sampler)
    peakDuring = Math.max(peakDuring, heldMemory() - before)
    const stats = coordinator.stats().inbound
    const floodAnswers = await Promise.all(floods.map(answerOf))
    const lateAnswers = await Promise.all(
      late.map(async (lp) =>
        decodeMessage(
          (await lp.read({ signal: AbortSignal.timeout(15_000) })).subarray(),
          errorSchema,
          LIMITS.controlFrameBytes,
        ),
      ),
    )

    // The honest worker was served throughout.
    expect(acks).toEqual(Array(5).fill('recorded'))
    expect(handle.progress().counts.settled).toBe(5)
    // The liar got its outputs' go-ahead only within its budget; the rest were told busy.
    expect(declared.filter((d) => d.type === 'continue')).toHaveLength(2)
    for (const d of declared.filter((d) => d.type !== 'continue'))
      expect(d).toMatchObject({ type: 'error', code: 'busy' })
    // Unsolicited frames were dropped or refused, none read whole.
    for (const a of floodAnswers)
      expect('dropped' in a || (a as { code?: string }).code === 'busy').toBe(true)
    expect(stats.dropped.oversized).toBeGreaterThanOrEqual(1)
    // ...and the flooder lost its connection for sending more than a frame.
    expect(
      coordinatorNode.getConnections(flooder.peerId).filter((c) => c.status === 'open'),
    ).toHaveLength(0)
    // Silent streams beyond the stream limit were refused at once.
    for (const a of lateAnswers) expect(a).toMatchObject({ type: 'error', code: 'busy' })
    expect(silent).toHaveLength(INBOUND_LIMITS.peerStreams)
    expect(stats.refused['peer-streams']).toBeGreaterThanOrEqual(4)
    expect(stats.refused['peer-bytes']).toBeGreaterThanOrEqual(6)
    // What the coordinator held stayed within its limits...
    expect(stats.peakBytes).toBeLessThanOrEqual(INBOUND_LIMITS.totalBytes)
    expect(stats.peakStreams).toBeLessThanOrEqual(4 * INBOUND_LIMITS.peerStreams)
    // ...and so did its memory: the liar's two 16 MiB bodies, the honest results, decoding
    // copies and noise; a 1.0.0 coordinator grew by the flood's 240 MiB.
    expect(peakDuring).toBeLessThan(INBOUND_LIMITS.peerBytes + 48 * MiB)
    console.info(
      JSON.stringify({
        peakGrowthMiB: Math.round(peakDuring / MiB),
        peakHeldMiB: Math.round(stats.peakBytes / MiB),
        refused: stats.refused,
        dropped: stats.dropped,
      }),
    )
  })
})

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { lpStream } from '@libp2p/utils'
import { multiaddr } from '@multiformats/multiaddr'
import { type Hex, parseEther } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { creditedBalance, DEV_PRIVATE_KEYS } from '../../lib/chain'
import type { JobHandle } from '../../lib/jobs'
import {
  createMeshNode,
  decodeMessage,
  encodeMessage,
  errorSchema,
  generateIdentity,
  type Identity,
  INBOUND_LIMITS,
  installGossipValidators,
  type Lease,
  LIMITS,
  type MeshNode,
  PROTOCOLS,
  type ResultMessage,
  request,
  sendResult,
  toWireTensors,
  waitForReservation,
  workResponseSchema,
} from '../../lib/mesh'
import { parseInputsJson, parsePolicy, resultHash, signResult } from '../../lib/proofs'
import { seededInputs } from '../../lib/runtime'
import {
  type NodeRequester,
  type NodeVolunteer,
  startNodeRequester,
  startNodeVolunteer,
} from '../../lib/sdk/node'
import { startTestStack, type TestStack } from '../helpers/stack'

// A peer that speaks the real protocol but lies. Each attack gets its own test and a line on why
// it matters; after all of them, honest volunteers must still complete the job.
let stack: TestStack
let requester: NodeRequester
let attacker: { node: MeshNode; identity: Identity }
let handle: JobHandle
let jobId: Hex
let coordinatorAddrs: ReturnType<typeof multiaddr>[]
const volunteers: NodeVolunteer[] = []
const policy = parsePolicy('round:3')

beforeAll(async () => {
  stack = await startTestStack()
  const net = { ...stack.chain, relays: [stack.relay.multiaddr] }
  requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, net)
  const identity = await generateIdentity()
  const node = await createMeshNode({
    identity,
    relays: [stack.relay.multiaddr],
    allowPrivateAddresses: true,
  })
  installGossipValidators(node)
  await waitForReservation(node)
  attacker = { node, identity }
  const model = new Uint8Array(
    readFileSync(join(import.meta.dirname, '../../public/models/mlp-16x4.onnx')),
  )
  const job = await requester.submit({
    model,
    tasks: parseInputsJson(seededInputs(4, 4, { x: [1, 16] })),
    replicas: 2,
    quorum: 2,
    policy,
    rewardPerResult: parseEther('0.001'),
    durationSeconds: 3600,
  })
  handle = job.handle
  jobId = job.jobId
  coordinatorAddrs = [await waitForReservation(requester.node)].map((a) => multiaddr(a.toString()))
})

afterAll(async () => {
  await Promise.all(volunteers.map((v) => v.stop()))
  await attacker?.node.stop()
  await requester?.stop()
  await stack?.stop()
})

/** Sends a result as a worker does: the header, then its outputs when asked for them. */
const ask = ({ outputs, ...header }: ResultMessage) =>
  sendResult(attacker.node, coordinatorAddrs, header, outputs)
const lease = async () => {
  const res = await request(
    attacker.node,
    coordinatorAddrs,
    PROTOCOLS.work,
    { type: 'work-request', jobId, backend: 'cpu', runtime: 'evil 0' },
    workResponseSchema,
  )
  if (res.type !== 'lease') throw new Error(`expected a lease, got ${JSON.stringify(res)}`)
  return res
}
const fakeOutputs = () => ({
  y: { type: 'float32' as const, dims: [1, 4], data: Float32Array.from([0.25, 0.25, 0.25, 0.25]) },
})
const signed = async (
  l: Lease,
  outputs = fakeOutputs(),
  signer = attacker.identity.account,
): Promise<ResultMessage> => {
  const hash = resultHash(outputs, policy)
  const signature = await signResult(
    signer,
    { chainId: stack.chain.chainId, contract: stack.chain.contract },
    { jobId, taskIndex: l.taskIndex, resultHash: hash },
  )
  return {
    type: 'result',
    jobId,
    taskIndex: l.taskIndex,
    leaseId: l.leaseId,
    resultHash: hash,
    signature,
    backend: 'cpu',
    computeMs: 1,
    outputs: toWireTensors(outputs),
  }
}

describe('a coordinator facing a lying peer', () => {
  // Unsolicited results would let anyone vote on any task without doing the work.
  it('rejects a result for a task it never leased to the sender', async () => {
    const res = await ask({ ...(await signed({ taskIndex: 3, leaseId: 'x' } as Lease)) })
    expect(res).toMatchObject({ status: 'rejected', reason: 'this task was never leased to you' })
  })

  // The signed hash must be the hash of the delivered outputs, or a worker could sign one
  // result and deliver another.
  it('rejects a result whose hash does not match its outputs', async () => {
    const l = await lease()
    const msg = await signed(l)
    const res = await ask({
      ...msg,
      outputs: toWireTensors({
        y: { type: 'float32', dims: [1, 4], data: Float32Array.from([1, 0, 0, 0]) },
      }),
    })
    expect(res).toMatchObject({
      status: 'rejected',
      reason: expect.stringMatching(/resultHash does not match/),
    })
  })

  // A result signed by someone else must not count as the sender's (nor pay the other key).
  it('rejects a result signed by a key other than the sending peer', async () => {
    const l = await lease()
    const other = (await generateIdentity()).account
    const res = await ask(await signed(l, fakeOutputs(), other))
    expect(res).toMatchObject({
      status: 'rejected',
      reason: 'signature is not by the sending peer',
    })
  })

  // Tensor bytes that do not fit their declared shape must not reach hashing or storage.
  it('rejects outputs whose bytes do not match their shape', async () => {
    const l = await lease()
    const msg = await signed(l)
    const res = await ask({
      ...msg,
      outputs: { y: { type: 'float32', dims: [1, 4], data: new Uint8Array(3) } },
    })
    expect(res).toMatchObject({
      status: 'rejected',
      reason: expect.stringMatching(/malformed outputs/),
    })
  })

  // Garbage must get an error response with a reason, not kill the handler.
  it('answers schema-violating requests with invalid-message', async () => {
    const res = await request(
      attacker.node,
      coordinatorAddrs,
      PROTOCOLS.work,
      { type: 'work-request', jobId: 'not-hex', backend: 'cpu', runtime: '' },
      workResponseSchema,
    )
    expect(res).toMatchObject({ type: 'error', code: 'invalid-message' })
  })

  // Peer ids are free, and each stream held costs the coordinator a buffer: one peer's streams
  // are capped over all protocols, and the next is told why at once, not left hanging.
  it('answers busy to a stream beyond the per-peer limit, and frees the slots of closed ones', async () => {
    const held = await Promise.all(
      Array.from({ length: INBOUND_LIMITS.peerStreams }, () =>
        attacker.node.dialProtocol(coordinatorAddrs, PROTOCOLS.work),
      ),
    )
    const extra = lpStream(await attacker.node.dialProtocol(coordinatorAddrs, PROTOCOLS.work))
    await extra.write(
      encodeMessage({ type: 'work-request', jobId, backend: 'cpu', runtime: 'evil 0' }),
    )
    const frame = await extra.read({ signal: AbortSignal.timeout(10_000) })
    expect(decodeMessage(frame.subarray(), errorSchema, LIMITS.controlFrameBytes)).toMatchObject({
      type: 'error',
      code: 'busy',
    })
    const stats = requester.coordinator.stats().inbound
    expect(stats.refused['peer-streams']).toBeGreaterThanOrEqual(1)
    for (const s of held) s.abort(new Error('done'))
    // Once they are gone the peer is served again.
    for (let i = 0; ; i++) {
      const res = await request(
        attacker.node,
        coordinatorAddrs,
        PROTOCOLS.work,
        { type: 'work-request', jobId, backend: 'cpu', runtime: 'evil 0', want: 'claim' },
        workResponseSchema,
      )
      if (res.type !== 'error') break
      expect(res.code).toBe('busy')
      expect(i).toBeLessThan(20)
      await new Promise((r) => setTimeout(r, 100))
    }
  })

  // A frame larger than the limit is dropped before it is buffered (no memory exhaustion), and
  // its sender disconnected and kept out a while: no honest peer sends one, and a flooder would
  // send them as fast as it can open streams. (Last of the attacker's tests: it stays out.)
  it('drops an oversized request frame without answering, and its sender with it', async () => {
    const stream = await attacker.node.dialProtocol(coordinatorAddrs, PROTOCOLS.work)
    const lp = lpStream(stream, { maxDataLength: 1 << 30 })
    await lp.write(new Uint8Array(128 * 1024)).catch(() => {})
    await expect(lp.read({ signal: AbortSignal.timeout(10_000) })).rejects.toThrow()
    // Direct connections only: the relayed one that signalled WebRTC carries no job data.
    const open = () =>
      attacker.node
        .getConnections(requester.node.peerId)
        .filter((c) => c.status === 'open' && c.limits === undefined)
    await expect.poll(() => open().length, { timeout: 10_000 }).toBe(0)
    expect(requester.coordinator.stats().inbound.dropped.oversized).toBeGreaterThanOrEqual(1)
    // Coming straight back on the same key is refused.
    await expect(
      attacker.node.dialProtocol(coordinatorAddrs, PROTOCOLS.work, {
        signal: AbortSignal.timeout(15_000),
      }),
    ).rejects.toThrow()
  })

  it('still completes the job with honest volunteers, paying none of the lies', async () => {
    // The attacker holds leases it will never answer honestly; honest volunteers finish the rest.
    for (let i = 0; i < 2; i++)
      volunteers.push(await startNodeVolunteer({ ...stack.chain, relays: [stack.relay.multiaddr] }))
    const final = await handle.done
    expect(final.counts.settled).toBe(4)
    const attackerAddr = attacker.identity.address
    for (const r of handle.results()) expect(r.agreeing).not.toContain(attackerAddr)
    expect(await creditedBalance(requester.client, requester.contract, attackerAddr)).toBe(0n)
  })
})

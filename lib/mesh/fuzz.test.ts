/**
 * Property-based fuzzing of every decoder that reads bytes from peers: each stream protocol's
 * request and response, each gossip topic, and the tensors inside leases and results. For each,
 * at least 10,000 messages: random bytes, byte-level mutations of a valid message (flips,
 * truncations, extensions, splices) and structurally valid CBOR with wrong or hostile values.
 * Property: decoding never throws anything but InvalidMessageError, every rejection carries a
 * reason, and whatever is accepted satisfies its schema.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import type { z } from 'zod'
import { decodeMessage, encodeMessage, fromWireTensors, toWireTensors } from './codec'
import { validateGossip } from './gossip'
import {
  continueSchema,
  jobsTopicSchema,
  modelChunkSchema,
  modelRequestSchema,
  modelResponseSchema,
  presenceSchema,
  resultOutputsSchema,
  resultRequestSchema,
  resultResponseSchema,
  workRequestSchema,
  workResponseSchema,
} from './messages'
import { LIMITS, TOPICS } from './protocol'

const RUNS = 10_000
const PEER = '16Uiu2HAmUZHJRrk5pDfRB9GGoMcM3dHK1rZGNi7mqFUTxc13fdam'
const h32 = `0x${'ab'.repeat(32)}`
const tensors = toWireTensors({
  x: { type: 'float32', dims: [1, 4], data: Float32Array.from([1, 2, 3, 4]) },
})

/** One valid message per decoder, the seed for mutations. */
const VALID: Array<{ name: string; schema: z.ZodType; max: number; example: object }> = [
  {
    name: 'work request',
    schema: workRequestSchema,
    max: LIMITS.controlFrameBytes,
    example: {
      type: 'work-request',
      jobId: h32,
      backend: 'wasm',
      runtime: 'onnxruntime-web 1.30.0',
      payout: {
        payout: `0x${'12'.repeat(20)}`,
        nonce: '1796000000',
        signature: `0x${'ab'.repeat(65)}`,
      },
    },
  },
  {
    name: 'work response (lease)',
    schema: workResponseSchema,
    max: LIMITS.frameBytes,
    example: {
      type: 'lease',
      jobId: h32,
      taskIndex: 3,
      leaseId: '7-abc',
      expiresInMs: 20_000,
      inputHash: h32,
      proof: [h32, h32],
      inputs: tensors,
    },
  },
  {
    name: 'result request (header)',
    schema: resultRequestSchema,
    max: LIMITS.controlFrameBytes,
    example: {
      type: 'result',
      jobId: h32,
      taskIndex: 3,
      leaseId: '7-abc',
      resultHash: h32,
      signature: `0x${'cd'.repeat(65)}`,
      backend: 'cpu',
      computeMs: 12.5,
      outputBytes: encodeMessage(tensors).byteLength,
    },
  },
  {
    name: 'result outputs',
    schema: resultOutputsSchema,
    max: LIMITS.frameBytes,
    example: tensors,
  },
  {
    name: 'result go-ahead',
    schema: continueSchema,
    max: LIMITS.controlFrameBytes,
    example: { type: 'continue' },
  },
  {
    name: 'result response',
    schema: resultResponseSchema,
    max: LIMITS.controlFrameBytes,
    example: { type: 'result-ack', status: 'recorded' },
  },
  {
    name: 'model request',
    schema: modelRequestSchema,
    max: LIMITS.controlFrameBytes,
    example: { type: 'model-request', modelHash: h32 },
  },
  {
    name: 'model response',
    schema: modelResponseSchema,
    max: LIMITS.controlFrameBytes,
    example: { type: 'model-header', size: 1234 },
  },
  {
    name: 'model chunk',
    schema: modelChunkSchema,
    max: LIMITS.modelChunkBytes + 64,
    example: { type: 'model-chunk', data: new Uint8Array([1, 2, 3, 4, 5]) },
  },
]

const GOSSIP = [
  {
    topic: TOPICS.jobs,
    schema: jobsTopicSchema,
    example: {
      type: 'job',
      jobId: h32,
      chainId: 31337,
      contract: `0x${'11'.repeat(20)}`,
      coordinator: PEER,
      addrs: ['/ip4/127.0.0.1/tcp/1/ws/p2p-circuit/webrtc'],
      modelHash: h32,
      policy: 'round:3',
      taskCount: 10,
      replicas: 3,
      quorum: 2,
      rewardPerResult: '100000',
      deadline: 2_000_000_000,
      open: 10,
    },
  },
  {
    topic: TOPICS.presence,
    schema: presenceSchema,
    example: { type: 'presence', peerId: PEER, addrs: [], role: 'volunteer', tasksDone: 4 },
  },
]

/** Random bytes, and byte-level mutations of `valid`. */
function hostileBytes(valid: Uint8Array): fc.Arbitrary<Uint8Array> {
  const edit = fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 }))
  return fc.oneof(
    fc.uint8Array({ maxLength: 512 }),
    fc.array(edit, { minLength: 1, maxLength: 6 }).map((edits) => {
      const m = valid.slice()
      for (const [i, b] of edits) m[i] = b
      return m
    }),
    fc.nat(valid.length - 1).map((n) => valid.slice(0, n)),
    fc.uint8Array({ minLength: 1, maxLength: 64 }).map((tail) => concat(valid, tail)),
    fc
      .tuple(fc.nat(valid.length - 1), fc.uint8Array({ maxLength: 32 }))
      .map(([at, ins]) => concat(concat(valid.slice(0, at), ins), valid.slice(at))),
  )
}

/** Well-formed CBOR with the right keys but hostile values, or arbitrary values. */
function hostileValues(example: object): fc.Arbitrary<Uint8Array> {
  const keys = Object.keys(example)
  const value = fc.oneof(
    fc.anything({ maxDepth: 3, withTypedArray: false, withBigInt: false }),
    fc.string({ maxLength: 80 }),
    fc.double(),
    fc.integer(),
    fc.uint8Array({ maxLength: 64 }),
    fc.constant(null),
  )
  return fc.oneof(
    fc.tuple(fc.constantFrom(...keys), value).map(([k, v]) => safeEncode({ ...example, [k]: v })),
    fc.dictionary(fc.string({ maxLength: 12 }), value, { maxKeys: 8 }).map(safeEncode),
  )
}

function safeEncode(v: unknown): Uint8Array {
  try {
    return encodeMessage(v as object)
  } catch {
    return new Uint8Array([0xff]) // not encodable as deterministic CBOR: send a break byte instead
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}

describe('decoder fuzzing', () => {
  for (const d of VALID) {
    it(`${d.name}: ${RUNS} hostile frames, only InvalidMessageError with a reason`, {
      timeout: 120_000,
    }, () => {
      const valid = encodeMessage(d.example)
      expect(() => decodeMessage(valid, d.schema, d.max)).not.toThrow()
      let rejected = 0
      fc.assert(
        fc.property(fc.oneof(hostileBytes(valid), hostileValues(d.example)), (bytes) => {
          let msg: unknown
          try {
            msg = decodeMessage(bytes, d.schema, d.max)
            const m = msg as { inputs?: never; outputs?: never }
            if (m.inputs) fromWireTensors(m.inputs)
            if (m.outputs) fromWireTensors(m.outputs)
            if (d.schema === resultOutputsSchema) fromWireTensors(msg as never)
          } catch (err) {
            expect((err as Error).name).toBe('InvalidMessageError')
            const e = err as { shortMessage: string; details?: string }
            expect(`${e.shortMessage} ${e.details ?? ''}`.trim().length).toBeGreaterThan(10)
            rejected++
            return
          }
          expect(d.schema.safeParse(msg).success).toBe(true)
        }),
        { numRuns: RUNS },
      )
      // Most hostile frames must be refused (a few mutations land on a still-valid message).
      expect(rejected).toBeGreaterThan(RUNS * 0.8)
    })
  }

  for (const g of GOSSIP) {
    it(`gossip ${g.topic}: ${RUNS} hostile messages, each rejected with a reason, none thrown`, {
      timeout: 120_000,
    }, () => {
      const from = peerIdFromString(PEER)
      const valid = encodeMessage(g.example)
      expect(validateGossip(g.topic, valid, from).verdict).toBe('accept')
      let rejected = 0
      fc.assert(
        fc.property(fc.oneof(hostileBytes(valid), hostileValues(g.example)), (bytes) => {
          const v = validateGossip(g.topic, bytes, from)
          if (v.verdict === 'reject') {
            expect(v.reason.length).toBeGreaterThan(5)
            rejected++
          } else expect(g.schema.safeParse(v.message).success).toBe(true)
        }),
        { numRuns: RUNS },
      )
      expect(rejected).toBeGreaterThan(RUNS * 0.8)
    })
  }

  it('refuses gossip above the size limit and on unknown topics, with reasons', () => {
    const from = peerIdFromString(PEER)
    const big = new Uint8Array(LIMITS.gossipMessageBytes + 1)
    expect(validateGossip(TOPICS.jobs, big, from)).toMatchObject({ verdict: 'reject' })
    expect(validateGossip('meshwork/9/other', new Uint8Array(1), from)).toEqual({
      verdict: 'reject',
      reason: 'unknown topic meshwork/9/other',
    })
  })
})

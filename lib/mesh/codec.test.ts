import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeMessage, fromWireTensors, toWireTensors } from './codec'
import { leaseSchema, resultRequestSchema, workRequestSchema } from './messages'
import { LIMITS } from './protocol'

const lease = {
  type: 'lease',
  jobId: `0x${'11'.repeat(32)}`,
  taskIndex: 2,
  leaseId: 'l-1',
  expiresInMs: 60_000,
  inputHash: `0x${'22'.repeat(32)}`,
  proof: [`0x${'33'.repeat(32)}`],
  inputs: toWireTensors({
    x: { type: 'float32', dims: [1, 3], data: Float32Array.from([1, 2, 3]) },
  }),
}

describe('message codec', () => {
  it('round-trips a lease with its tensors as bytes', () => {
    const back = decodeMessage(encodeMessage(lease), leaseSchema, LIMITS.frameBytes)
    expect(Array.from(fromWireTensors(back.inputs).x!.data as Float32Array)).toEqual([1, 2, 3])
  })

  it('rejects frames above the limit before decoding', () => {
    expect(() => decodeMessage(new Uint8Array(100), workRequestSchema, 99)).toThrowError(
      /Message too large/,
    )
  })

  // Shapes that claim more elements than bytes delivered must not be hashed or stored.
  it('rejects tensors whose bytes do not fit their shape', () => {
    expect(() =>
      fromWireTensors({ x: { type: 'float32', dims: [2, 2], data: new Uint8Array(12) } }),
    ).toThrowError(/Tensor "x" is malformed/)
  })

  it('rejects every random or mutated frame with InvalidMessageError only', () => {
    const valid = encodeMessage(lease)
    const mutated = fc
      .array(fc.tuple(fc.nat(valid.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      })
      .map((edits) => {
        const m = valid.slice()
        for (const [i, b] of edits) m[i] = b
        return m
      })
    fc.assert(
      fc.property(fc.oneof(fc.uint8Array({ maxLength: 1024 }), mutated), (bytes) => {
        for (const schema of [leaseSchema, resultRequestSchema, workRequestSchema]) {
          try {
            const msg = decodeMessage(bytes, schema, LIMITS.frameBytes) as {
              inputs?: Parameters<typeof fromWireTensors>[0]
            }
            if (msg.inputs) fromWireTensors(msg.inputs)
          } catch (err) {
            expect((err as Error).name).toBe('InvalidMessageError')
          }
        }
      }),
      { numRuns: 3000 },
    )
  })
})

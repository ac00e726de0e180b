import { describe, expect, it } from 'vitest'
import { decodeMessage, encodeMessage, fromWireTensors, toWireTensors } from './codec'
import { leaseSchema, workRequestSchema } from './messages'
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
  // Random and mutated frames for every decoder: fuzz.test.ts.
})

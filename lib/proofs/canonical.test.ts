import fc from 'fast-check'
import { keccak256 } from 'viem'
import { describe, expect, it } from 'vitest'
import {
  canonicalResult,
  canonicalTensor,
  decodeTensorMap,
  encodeTensorMap,
  resultHash,
  tensorMapHash,
} from './canonical'
import { decodeCbor, encodeCbor } from './cbor'
import { parsePolicy } from './policy'
import type { Tensor, TensorMap } from './tensor'

const f32 = (dims: number[], values: number[]): Tensor => ({
  type: 'float32',
  dims,
  data: Float32Array.from(values),
})
const ints = (c: { b: Uint8Array }) => Array.from(new Int32Array(c.b.slice().buffer))

describe('canonicalTensor', () => {
  it('argmax picks the largest along the last axis, lowest index on ties, never NaN', () => {
    const t = f32([3, 3], [0.1, 0.7, 0.2, 5, 5, 1, Number.NaN, -1, -2])
    const c = canonicalTensor(t, { kind: 'argmax' })
    expect(c.d).toEqual([3])
    expect(ints(c)).toEqual([1, 0, 1])
  })

  it('topk returns indices largest first and clamps K to the axis', () => {
    const t = f32([2, 3], [0.1, 0.7, 0.2, 3, 1, 2])
    expect(ints(canonicalTensor(t, { kind: 'topk', k: 2 }))).toEqual([1, 2, 0, 2])
    const all = canonicalTensor(t, { kind: 'topk', k: 10 })
    expect(all.d).toEqual([2, 3])
    expect(ints(all)).toEqual([1, 2, 0, 0, 2, 1])
  })

  it('round:D makes last-bit differences agree but keeps real differences apart', () => {
    const a = f32([2], [0.123456789, -0.5])
    const b = f32([2], [0.12345679, -0.50000006]) // next float32 neighbours
    const c = f32([2], [0.1235, -0.5])
    const p = parsePolicy('round:5')
    expect(resultHash({ y: a }, p)).toBe(resultHash({ y: b }, p))
    expect(resultHash({ y: a }, p)).not.toBe(resultHash({ y: c }, p))
    expect(resultHash({ y: a }, { kind: 'exact' })).not.toBe(
      resultHash({ y: b }, { kind: 'exact' }),
    )
  })

  it('round:D writes -0 as +0 and every NaN the same way', () => {
    const nan1 = new Float32Array(new Uint32Array([0x7fc00001]).buffer)[0]!
    const x = f32([3], [-0, Number.NaN, 1])
    const y = f32([3], [0, nan1, 1])
    expect(resultHash({ o: x }, { kind: 'round', digits: 3 })).toBe(
      resultHash({ o: y }, { kind: 'round', digits: 3 }),
    )
  })

  it('is independent of output insertion order', () => {
    const a = f32([1], [1])
    const b = f32([1], [2])
    expect(resultHash({ a, b }, { kind: 'exact' })).toBe(resultHash({ b, a }, { kind: 'exact' }))
  })

  it('exact encoding decodes back to the same bytes, shape and type', () => {
    fc.assert(
      fc.property(fc.array(fc.float({ noNaN: true }), { minLength: 1, maxLength: 64 }), (vals) => {
        const t = f32([vals.length], vals)
        const decoded = decodeCbor(canonicalResult({ out: t }, { kind: 'exact' })) as Record<
          string,
          { t: string; d: number[]; b: Uint8Array }
        >
        expect(decoded.out!.t).toBe('float32')
        expect(decoded.out!.d).toEqual([vals.length])
        expect(Array.from(new Float32Array(decoded.out!.b.slice().buffer))).toEqual(
          Array.from(t.data as Float32Array),
        )
      }),
      { numRuns: 200 },
    )
  })

  it('argmax agrees exactly when the maximum does not move', () => {
    fc.assert(
      fc.property(
        fc.array(fc.float({ min: -100, max: 100, noNaN: true }), { minLength: 2, maxLength: 32 }),
        (vals) => {
          const max = Math.max(...vals)
          const perturbed = vals.map((v) => (v === max ? v : v - 1))
          const p = { kind: 'argmax' } as const
          expect(resultHash({ y: f32([vals.length], vals) }, p)).toBe(
            resultHash({ y: f32([vals.length], perturbed) }, p),
          )
        },
      ),
      { numRuns: 200 },
    )
  })
})

describe('parsePolicy', () => {
  it.each(['exact', 'argmax', 'topk:3', 'round:4'])('accepts %s', (p) => {
    expect(() => parsePolicy(p)).not.toThrow()
  })
  it.each(['', 'round', 'round:0', 'round:99', 'topk:0', 'top:3', 'exact '.repeat(3)])(
    'rejects %j with a hint',
    (p) => {
      expect(() => parsePolicy(p)).toThrowError(/Unknown agreement policy[\s\S]*Use exact/)
    },
  )
})

describe('tensor maps as on-chain bytes', () => {
  const x: TensorMap = {
    x: { type: 'float32', dims: [1, 3], data: new Float32Array([0.5, -1, 2]) },
    n: { type: 'int32', dims: [2], data: new Int32Array([7, -7]) },
  }

  it('round-trips, and the bytes hash like the tensors', () => {
    const bytes = encodeTensorMap(x)
    const back = decodeTensorMap(bytes)
    expect(tensorMapHash(back)).toBe(tensorMapHash(x))
    expect(keccak256(bytes)).toBe(tensorMapHash(x))
  })

  it('refuses bytes that are not canonical tensors, with the reason', () => {
    expect(() => decodeTensorMap(new Uint8Array([0xff]))).toThrow(/not valid CBOR/)
    expect(() => decodeTensorMap(encodeCbor([1, 2]))).toThrow(/map from names/)
    expect(() =>
      decodeTensorMap(encodeCbor({ x: { t: 'float99', d: [1], b: new Uint8Array(4) } })),
    ).toThrow(/must be \{t: type/)
    expect(() =>
      decodeTensorMap(encodeCbor({ x: { t: 'float32', d: [2], b: new Uint8Array(4) } })),
    ).toThrow(/does not match its shape/)
    expect(() => decodeTensorMap(encodeCbor({}))).toThrow(/No tensors/)
  })
})

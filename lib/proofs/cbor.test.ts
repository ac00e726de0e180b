import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { decodeCbor, encodeCbor } from './cbor'

describe('decodeCbor', () => {
  it('round-trips plain values', () => {
    const v = { a: 1, b: [1, 2, { c: 'x' }], d: new Uint8Array([1, 2, 3]) }
    expect(decodeCbor(encodeCbor(v))).toEqual(v)
  })

  // A peer can send 1 MiB of nested array headers; a recursive decoder would overflow the stack.
  it('rejects nesting deeper than the limit without recursing into it', () => {
    const deep = new Uint8Array(100_000).fill(0x81)
    expect(() => decodeCbor(deep)).toThrowError(/nesting deeper than 16/)
    expect(() => decodeCbor(encodeCbor([[[[1]]]]), { maxDepth: 3 })).toThrowError(/nesting/)
    expect(decodeCbor(encodeCbor([[[1]]]), { maxDepth: 3 })).toEqual([[[1]]])
  })

  // A 9-byte header can claim 2^32 elements; the decoder must not allocate for the claim.
  it('rejects containers that claim more items than bytes remain', () => {
    const claim = new Uint8Array([0x9a, 0xff, 0xff, 0xff, 0xff, 0x01])
    expect(() => decodeCbor(claim)).toThrowError(/claims more items/)
  })

  it('rejects indefinite lengths and duplicate keys', () => {
    expect(() => decodeCbor(new Uint8Array([0x9f, 0x01, 0xff]))).toThrowError(/Malformed CBOR/)
    expect(() =>
      decodeCbor(new Uint8Array([0xa2, 0x61, 0x61, 0x01, 0x61, 0x61, 0x02])),
    ).toThrowError(/Malformed CBOR/)
  })

  it('never throws anything but InvalidMessageError on random bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 256 }), (bytes) => {
        try {
          decodeCbor(bytes)
        } catch (err) {
          expect((err as Error).name).toBe('InvalidMessageError')
        }
      }),
      { numRuns: 5000 },
    )
  })
})

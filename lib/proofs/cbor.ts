/**
 * Deterministic CBOR, the one binary encoding of Meshwork: canonical hashes (results, inputs)
 * and wire frames both use it. Encoding is cborg's default, which is deterministic: map keys
 * sorted length-first then bytewise (RFC 7049 §3.9 canonical form), shortest-form integers and
 * definite lengths. Decoding is strict and bounded, because it reads bytes from strangers.
 */
import { decode, encode, Tokenizer } from 'cborg'
import { InvalidMessageError } from '../errors'

export interface DecodeLimits {
  /** Deepest nesting of arrays and maps accepted. Default 16. */
  maxDepth?: number
}

export function encodeCbor(value: unknown): Uint8Array {
  return encode(value)
}

/**
 * Decodes one CBOR item, rejecting indefinite lengths, undefined, duplicate map keys,
 * non-canonical integers, nesting deeper than `maxDepth`, and containers that claim more
 * items than the buffer could hold (so a 9-byte header cannot make us allocate 4 GiB).
 */
export function decodeCbor(bytes: Uint8Array, limits: DecodeLimits = {}): unknown {
  const maxDepth = limits.maxDepth ?? 16
  try {
    return decode(bytes, {
      strict: true,
      allowIndefinite: false,
      allowUndefined: false,
      allowBigInt: true,
      rejectDuplicateMapKeys: true,
      tokenizer: new BoundedTokenizer(bytes, maxDepth),
    })
  } catch (cause) {
    if (cause instanceof InvalidMessageError) throw cause
    throw new InvalidMessageError('Malformed CBOR.', {
      details: cause instanceof Error ? cause.message : String(cause),
      cause,
    })
  }
}

/** cborg's tokenizer with a depth counter: a stack of how many items each open container lacks. */
class BoundedTokenizer extends Tokenizer {
  private readonly pending: number[] = []

  constructor(
    data: Uint8Array,
    private readonly maxDepth: number,
  ) {
    super(data, { strict: true, allowIndefinite: false })
  }

  override next() {
    const token = super.next()
    const top = this.pending.length - 1
    if (top >= 0) this.pending[top] = (this.pending[top] ?? 1) - 1
    const kind = token.type.name
    if (kind === 'array' || kind === 'map') {
      const items = kind === 'map' ? Number(token.value) * 2 : Number(token.value)
      const remaining = this.data.length - this.pos()
      if (items > remaining) {
        throw new InvalidMessageError('CBOR container claims more items than the message holds.', {
          details: `${items} items, ${remaining} bytes left`,
        })
      }
      if (items > 0) {
        this.pending.push(items)
        if (this.pending.length > this.maxDepth) {
          throw new InvalidMessageError(`CBOR nesting deeper than ${this.maxDepth}.`)
        }
      }
    }
    while (this.pending.length > 0 && this.pending[this.pending.length - 1] === 0)
      this.pending.pop()
    return token
  }
}

/**
 * Encoding and decoding of every message: deterministic CBOR (lib/proofs/cbor) checked against
 * the message's zod schema. Decoding is bounded (frame size, nesting depth) and never throws
 * anything but InvalidMessageError, with the reason in `details`.
 */
import type { z } from 'zod'
import { InvalidInputError, InvalidMessageError } from '../errors'
import { decodeCbor, encodeCbor, type TensorMap, tensorBytes, tensorFromBytes } from '../proofs'
import type { WireTensorMap } from './messages'
import { LIMITS } from './protocol'

export function encodeMessage(message: object): Uint8Array {
  return encodeCbor(message)
}

export function decodeMessage<S extends z.ZodType>(
  bytes: Uint8Array,
  schema: S,
  maxBytes: number,
): z.infer<S> {
  if (bytes.byteLength > maxBytes) {
    throw new InvalidMessageError('Message too large.', {
      details: `${bytes.byteLength} bytes, limit ${maxBytes}`,
    })
  }
  const value = decodeCbor(bytes, { maxDepth: LIMITS.cborDepth })
  const parsed = schema.safeParse(value)
  if (!parsed.success) {
    throw new InvalidMessageError('Message does not match its schema.', {
      details: summarize(parsed.error),
    })
  }
  return parsed.data
}

function summarize(error: z.ZodError): string {
  return error.issues
    .slice(0, 5)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ')
}

export function toWireTensors(map: TensorMap): WireTensorMap {
  const out: WireTensorMap = {}
  for (const [name, t] of Object.entries(map)) {
    out[name] = { type: t.type, dims: [...t.dims], data: tensorBytes(t) }
  }
  return out
}

/** Rebuilds tensors, rejecting data whose length does not match type and shape. */
export function fromWireTensors(map: WireTensorMap): TensorMap {
  const out: TensorMap = {}
  for (const [name, t] of Object.entries(map)) {
    try {
      out[name] = tensorFromBytes(t.type, t.dims, t.data)
    } catch (err) {
      if (err instanceof InvalidInputError) {
        throw new InvalidMessageError(`Tensor "${name}" is malformed.`, {
          details: err.shortMessage,
          cause: err,
        })
      }
      throw err
    }
  }
  return out
}

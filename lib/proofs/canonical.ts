/**
 * Canonical result bytes: what workers hash and sign, and what agreement compares.
 *
 * The canonical form of a set of outputs is the deterministic CBOR encoding (see `cbor.ts`) of a
 * map from output name to `{ t: type, d: dims, b: little-endian bytes }`, where each tensor has
 * first been reduced under the job's policy:
 *
 * - `exact`: the tensor as computed.
 * - `argmax`: int32 indices of the largest value along the last axis; dims drop the last axis.
 *   NaN never wins; ties go to the lowest index; a scalar counts as one element.
 * - `topk:K`: int32 indices of the min(K, last-axis) largest values, largest first, ties to the
 *   lowest index; dims end in min(K, last-axis).
 * - `round:D`: float32/float64 elements become float64 `Number(x.toPrecision(D))` (ECMAScript
 *   rounding), with -0 written as +0 and every NaN as 0x7ff8000000000000. Integer and bool
 *   tensors are kept exact.
 *
 * The result hash is keccak256 over these bytes.
 */
import { type Hex, keccak256 } from 'viem'
import { InvalidInputError } from '../errors'
import { decodeCbor, encodeCbor } from './cbor'
import type { AgreementPolicy } from './policy'
import { isTensorType, type Tensor, type TensorMap, tensorBytes, tensorFromBytes } from './tensor'

export interface CanonicalTensor {
  t: string
  d: number[]
  b: Uint8Array
}

export function canonicalTensor(t: Tensor, policy: AgreementPolicy): CanonicalTensor {
  switch (policy.kind) {
    case 'exact':
      return { t: t.type, d: [...t.dims], b: tensorBytes(t) }
    case 'argmax':
      return topIndices(t, 1, false)
    case 'topk':
      return topIndices(t, policy.k, true)
    case 'round':
      return rounded(t, policy.digits)
  }
}

/** Canonical bytes of a whole output map under a policy. */
export function canonicalResult(outputs: TensorMap, policy: AgreementPolicy): Uint8Array {
  const map: Record<string, CanonicalTensor> = {}
  for (const name of Object.keys(outputs)) {
    map[name] = canonicalTensor(outputs[name]!, policy)
  }
  return encodeCbor(map)
}

export function resultHash(outputs: TensorMap, policy: AgreementPolicy): Hex {
  return keccak256(canonicalResult(outputs, policy))
}

/** The canonical encoding without a policy: inputs are hashed exactly as computed. */
export function tensorMapHash(tensors: TensorMap): Hex {
  return resultHash(tensors, { kind: 'exact' })
}

function lastAxis(t: Tensor): { rows: number; width: number; lead: number[] } {
  if (t.dims.length === 0) return { rows: 1, width: 1, lead: [] }
  const width = t.dims[t.dims.length - 1]!
  const lead = t.dims.slice(0, -1)
  const rows = width === 0 ? 0 : t.data.length / width
  return { rows, width, lead }
}

function topIndices(t: Tensor, k: number, keepAxis: boolean): CanonicalTensor {
  const { rows, width, lead } = lastAxis(t)
  const kk = Math.min(k, width)
  const out = new Int32Array(rows * kk)
  const values = t.data as ArrayLike<number | bigint>
  const order: number[] = new Array(width)
  for (let r = 0; r < rows; r++) {
    const base = r * width
    for (let i = 0; i < width; i++) order[i] = i
    // Stable sort, largest first, NaN last: equal values keep the lower index first.
    order.sort((a, b) => compareDesc(values[base + a]!, values[base + b]!))
    for (let j = 0; j < kk; j++) out[r * kk + j] = order[j]!
  }
  const dims = keepAxis ? [...lead, kk] : lead
  return { t: 'int32', d: dims, b: new Uint8Array(out.buffer) }
}

function compareDesc(a: number | bigint, b: number | bigint): number {
  const aNaN = typeof a === 'number' && Number.isNaN(a)
  const bNaN = typeof b === 'number' && Number.isNaN(b)
  if (aNaN || bNaN) return aNaN === bNaN ? 0 : aNaN ? 1 : -1
  return a > b ? -1 : a < b ? 1 : 0
}

function rounded(t: Tensor, digits: number): CanonicalTensor {
  if (t.type !== 'float32' && t.type !== 'float64') return canonicalTensor(t, { kind: 'exact' })
  const src = t.data as Float32Array | Float64Array
  const bytes = new Uint8Array(src.length * 8)
  const view = new DataView(bytes.buffer)
  for (let i = 0; i < src.length; i++) {
    const x = src[i]!
    if (Number.isNaN(x)) {
      view.setUint32(i * 8, 0, true)
      view.setUint32(i * 8 + 4, 0x7ff80000, true)
    } else {
      const r = Number.isFinite(x) ? Number(x.toPrecision(digits)) : x
      view.setFloat64(i * 8, r === 0 ? 0 : r, true)
    }
  }
  return { t: 'float64', d: [...t.dims], b: bytes }
}

/** The canonical bytes of tensors as computed: what `tensorMapHash` hashes (on-chain inputs). */
export function encodeTensorMap(tensors: TensorMap): Uint8Array {
  return canonicalResult(tensors, { kind: 'exact' })
}

/**
 * The inverse of `encodeTensorMap`, for bytes from anywhere (an on-chain request): checks the
 * structure and every tensor, and that the bytes are the canonical encoding, so that the
 * tensors hash to keccak256(bytes). Throws InvalidInputError with the reason.
 */
export function decodeTensorMap(bytes: Uint8Array): TensorMap {
  let raw: unknown
  try {
    raw = decodeCbor(bytes, { maxDepth: 4 })
  } catch (err) {
    throw new InvalidInputError('The tensors are not valid CBOR.', { cause: err })
  }
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw) || raw instanceof Uint8Array)
    throw new InvalidInputError('The tensors must be a CBOR map from names to tensors.')
  const out: TensorMap = {}
  for (const [name, v] of Object.entries(raw as Record<string, unknown>)) {
    const t = v as Partial<CanonicalTensor> | null
    if (
      t === null ||
      typeof t !== 'object' ||
      !isTensorType(t.t) ||
      !Array.isArray(t.d) ||
      !t.d.every((x) => Number.isSafeInteger(x) && x >= 0) ||
      !(t.b instanceof Uint8Array)
    )
      throw new InvalidInputError(`Tensor "${name}" must be {t: type, d: dims, b: bytes}.`)
    out[name] = tensorFromBytes(t.t, t.d, t.b)
  }
  if (Object.keys(out).length === 0) throw new InvalidInputError('No tensors.')
  const again = encodeTensorMap(out)
  if (again.length !== bytes.length || again.some((b, i) => b !== bytes[i]))
    throw new InvalidInputError('The tensors are not in canonical form (deterministic CBOR).')
  return out
}

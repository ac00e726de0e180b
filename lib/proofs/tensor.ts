/**
 * Tensors as Meshwork moves them: an element type, dimensions, and data as a typed array.
 * On the wire and in hashes the data travels as little-endian bytes.
 */
import { InvalidInputError } from '../errors'

export const TENSOR_TYPES = [
  'float32',
  'float64',
  'int8',
  'uint8',
  'int16',
  'uint16',
  'int32',
  'uint32',
  'int64',
  'uint64',
  'bool',
] as const

export type TensorType = (typeof TENSOR_TYPES)[number]

export type TensorData =
  | Float32Array
  | Float64Array
  | Int8Array
  | Uint8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array

export interface Tensor {
  type: TensorType
  dims: readonly number[]
  data: TensorData
}

/** Named tensors: the inputs of one task, or the outputs of one inference. */
export type TensorMap = Record<string, Tensor>

/** Largest tensor accepted anywhere (elements), bounding what a file or peer can make us allocate. */
export const MAX_TENSOR_ELEMENTS = 64 * 1024 * 1024

const CTORS = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  bool: Uint8Array,
} as const

export function isTensorType(value: unknown): value is TensorType {
  return typeof value === 'string' && (TENSOR_TYPES as readonly string[]).includes(value)
}

export function bytesPerElement(type: TensorType): number {
  return CTORS[type].BYTES_PER_ELEMENT
}

/** Number of elements for `dims`; throws on negative, fractional or oversized shapes. */
export function elementCount(dims: readonly number[]): number {
  let n = 1
  for (const d of dims) {
    if (!Number.isSafeInteger(d) || d < 0) {
      throw new InvalidInputError(`Invalid tensor dimension ${d}.`, {
        details: `dims ${JSON.stringify(dims)}`,
      })
    }
    n *= d
    if (n > MAX_TENSOR_ELEMENTS) {
      throw new InvalidInputError('Tensor too large.', {
        details: `dims ${JSON.stringify(dims)} exceed ${MAX_TENSOR_ELEMENTS} elements`,
      })
    }
  }
  return n
}

// Every platform that runs Meshwork (x86, ARM browsers) is little-endian; byte views rely on it.
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1
if (!LITTLE_ENDIAN) throw new Error('Meshwork requires a little-endian platform.')

/** The tensor's data as little-endian bytes (a view, not a copy). */
export function tensorBytes(t: Tensor): Uint8Array {
  return new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength)
}

/** Builds a tensor from little-endian bytes, copying them so that the data is aligned. */
export function tensorFromBytes(
  type: TensorType,
  dims: readonly number[],
  bytes: Uint8Array,
): Tensor {
  const n = elementCount(dims)
  const Ctor = CTORS[type]
  if (bytes.byteLength !== n * Ctor.BYTES_PER_ELEMENT) {
    throw new InvalidInputError('Tensor data length does not match its shape.', {
      details: `${type}${JSON.stringify(dims)} needs ${n * Ctor.BYTES_PER_ELEMENT} bytes, got ${bytes.byteLength}`,
    })
  }
  const copy = new Uint8Array(bytes.byteLength)
  copy.set(bytes)
  return { type, dims: [...dims], data: new Ctor(copy.buffer) }
}

/** Builds a tensor from plain numbers (the JSON inputs format). */
export function tensorFromNumbers(
  type: TensorType,
  dims: readonly number[],
  values: readonly unknown[],
): Tensor {
  const n = elementCount(dims)
  if (values.length !== n) {
    throw new InvalidInputError('Tensor data length does not match its shape.', {
      details: `${type}${JSON.stringify(dims)} needs ${n} values, got ${values.length}`,
    })
  }
  const Ctor = CTORS[type]
  const data = new Ctor(n)
  const big = type === 'int64' || type === 'uint64'
  for (let i = 0; i < n; i++) {
    const v = values[i]
    const ok =
      type === 'bool' ? typeof v === 'boolean' || v === 0 || v === 1 : typeof v === 'number'
    if (!ok || (typeof v === 'number' && !Number.isFinite(v) && !type.startsWith('float'))) {
      throw new InvalidInputError(`Tensor value ${i} is not a valid ${type}.`, {
        details: `got ${JSON.stringify(v)}`,
      })
    }
    if (big) {
      if (!Number.isSafeInteger(v)) {
        throw new InvalidInputError(`Tensor value ${i} is not an integer.`, {
          details: `got ${JSON.stringify(v)}`,
        })
      }
      ;(data as BigInt64Array)[i] = BigInt(v as number)
    } else {
      ;(data as Float64Array)[i] = v === true ? 1 : v === false ? 0 : (v as number)
    }
  }
  return { type, dims: [...dims], data }
}

/** Plain numbers for JSON output (bigints become numbers when safe, else strings). */
export function tensorToNumbers(t: Tensor): Array<number | string> {
  const out: Array<number | string> = new Array(t.data.length)
  for (let i = 0; i < t.data.length; i++) {
    const v = t.data[i] as number | bigint
    out[i] =
      typeof v === 'bigint'
        ? v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER)
          ? Number(v)
          : v.toString()
        : v
  }
  return out
}

/**
 * How far one result is from another, beyond "same hash or not". Two honest runs of one model
 * on different backends (WASM, WebGPU, native) differ in the last bits of their floats, and a
 * policy like `round:3` or `argmax` can still put them on different sides of a boundary. Such a
 * result is `near` the reference: nobody is punished for it. A result is `far` when a value
 * differs by more than floating-point noise could explain, or shapes, names or integers differ.
 */
import type { Tensor, TensorMap } from '../proofs'

export type Closeness = 'near' | 'far'

/** Relative tolerance per value, and absolute tolerance as a fraction of the tensor's largest |value|. */
export const RTOL = 1e-3
export const ATOL_FRACTION = 1e-4

export function closeness(result: TensorMap, reference: TensorMap): Closeness {
  const names = Object.keys(reference)
  if (Object.keys(result).length !== names.length) return 'far'
  for (const name of names) {
    const a = result[name]
    const b = reference[name]
    if (!a || !b || !tensorNear(a, b)) return 'far'
  }
  return 'near'
}

function tensorNear(a: Tensor, b: Tensor): boolean {
  if (a.type !== b.type || a.dims.length !== b.dims.length) return false
  if (a.dims.some((d, i) => d !== b.dims[i]) || a.data.length !== b.data.length) return false
  if (a.type !== 'float32' && a.type !== 'float64') {
    for (let i = 0; i < a.data.length; i++) if (a.data[i] !== b.data[i]) return false
    return true
  }
  const x = a.data as Float32Array | Float64Array
  const y = b.data as Float32Array | Float64Array
  let maxAbs = 0
  for (let i = 0; i < y.length; i++) maxAbs = Math.max(maxAbs, Math.abs(y[i]!))
  const atol = ATOL_FRACTION * maxAbs
  for (let i = 0; i < x.length; i++) {
    const u = x[i]!
    const v = y[i]!
    if (Number.isNaN(u) || Number.isNaN(v)) {
      if (Number.isNaN(u) !== Number.isNaN(v)) return false
      continue
    }
    if (!Number.isFinite(u) || !Number.isFinite(v)) {
      if (u !== v) return false
      continue
    }
    if (Math.abs(u - v) > atol + RTOL * Math.max(Math.abs(u), Math.abs(v))) return false
  }
  return true
}

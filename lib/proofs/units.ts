/**
 * Several inputs in one task. A job of small inferences can put `k` inputs in each on-chain task:
 * one lease, one signed result, one settlement per `k` inferences, so the mesh's and the chain's
 * cost per task is divided by `k`. The task's inputs are the `k` tensor maps with each name
 * prefixed by the input's position, `0.x`, `1.x`, … (a unit); its outputs likewise. Whoever runs
 * the model (`lib/runtime` engine) recognises a unit against the model's own input names, so
 * nothing else in the protocol changes: commitments, hashes, signatures and quorums cover the
 * unit as they cover any tensor map.
 */
import { InvalidInputError } from '../errors'
import type { TensorMap } from './tensor'

/** Most tensors in one task's inputs or outputs (the wire schema's limit). */
export const MAX_TENSORS_PER_TASK = 64

/** One map from `maps`, each name prefixed with the map's position: `${j}.${name}`. */
export function packUnit(maps: readonly TensorMap[]): TensorMap {
  const out: TensorMap = {}
  maps.forEach((m, j) => {
    for (const [name, t] of Object.entries(m)) out[`${j}.${name}`] = t
  })
  return out
}

/** `inputs` in units of `perTask` (the last one may hold fewer). `perTask` 1 keeps plain maps. */
export function packUnits(inputs: readonly TensorMap[], perTask: number): TensorMap[] {
  if (!Number.isInteger(perTask) || perTask < 1)
    throw new InvalidInputError(`Inputs per task must be a whole number ≥ 1; got ${perTask}.`)
  if (perTask === 1) return [...inputs]
  const widest = Math.max(0, ...inputs.map((m) => Object.keys(m).length))
  if (widest * perTask > MAX_TENSORS_PER_TASK)
    throw new InvalidInputError(
      `${perTask} inputs of ${widest} tensors each make ${widest * perTask} tensors in a task; at most ${MAX_TENSORS_PER_TASK} fit.`,
      {
        hint: `Use at most ${Math.max(1, Math.floor(MAX_TENSORS_PER_TASK / widest))} inputs per task.`,
      },
    )
  const units: TensorMap[] = []
  for (let i = 0; i < inputs.length; i += perTask)
    units.push(packUnit(inputs.slice(i, i + perTask)))
  return units
}

/**
 * The maps of a unit whose maps each have exactly the names `names` (a model's inputs, or its
 * outputs), in order; undefined when `map` is not such a unit. A map with exactly `names` is not
 * a unit: it is one input as it stands.
 */
export function unpackUnit(map: TensorMap, names: readonly string[]): TensorMap[] | undefined {
  const keys = Object.keys(map)
  if (names.length === 0 || keys.length === 0 || keys.length % names.length !== 0) return undefined
  const count = keys.length / names.length
  const maps: TensorMap[] = []
  for (let j = 0; j < count; j++) {
    const m: TensorMap = {}
    for (const name of names) {
      const t = map[`${j}.${name}`]
      if (!t) return undefined
      m[name] = t
    }
    maps.push(m)
  }
  return maps
}

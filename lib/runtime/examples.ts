/**
 * Seeded example inputs for a model: what "generate example tasks" produces on the request page
 * and in the demo. Values are float32 in [-1, 1) from a seeded generator, so the same seed,
 * count and shapes always give the same inputs (and so the same reference results).
 */
import { seededRandom } from '../env/random'
import type { JsonTensor } from '../proofs'

/** `count` tasks in the inputs-file format, each `{ [name]: float32 of dims }`. */
export function seededInputs(
  seed: number,
  count: number,
  inputs: Record<string, number[]>,
): Array<Record<string, JsonTensor>> {
  const rand = seededRandom(seed)
  return Array.from({ length: count }, () => {
    const task: Record<string, JsonTensor> = {}
    for (const [name, dims] of Object.entries(inputs)) {
      const n = dims.reduce((a, b) => a * b, 1)
      task[name] = {
        type: 'float32',
        dims,
        data: Array.from({ length: n }, () => Math.fround(rand() * 2 - 1)),
      }
    }
    return task
  })
}

/** Concrete example shapes for a model's inputs: dynamic dimensions become 1. */
export function exampleDims(
  inputs: ReadonlyArray<{ name: string; dims: ReadonlyArray<number | string> }>,
): Record<string, number[]> {
  const out: Record<string, number[]> = {}
  for (const i of inputs) out[i.name] = i.dims.map((d) => (typeof d === 'number' && d > 0 ? d : 1))
  return out
}

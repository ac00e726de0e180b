/**
 * Task inputs: the JSON inputs file, per-task input hashes, and the Merkle tree whose root
 * (`inputsRoot`) the job commits to on chain. A leaf binds a task index to its input hash, so a
 * coordinator cannot hand a worker task 5's input as task 3: `leaf = keccak256(uint32 index ||
 * inputHash)`.
 *
 * The tree binds positions too: a parent is keccak256(left ‖ right) in order (not sorted), the
 * last node of an odd level moves up unchanged, and a proof is checked against the job's task
 * count, so each task index has exactly one input under a root. With sorted pairs (OpenZeppelin's
 * SimpleMerkleTree, used before) a requester could commit two leaves for task 0 with different
 * inputs and get one worker to sign two results for it: slashable.
 */
import { concat, encodePacked, type Hex, keccak256 } from 'viem'
import { InvalidInputError } from '../errors'
import { tensorMapHash } from './canonical'
import { isTensorType, type TensorMap, tensorFromNumbers, tensorToNumbers } from './tensor'

/** One entry of the JSON inputs file: `{ "type": "float32", "dims": [...], "data": [...] }`. */
export interface JsonTensor {
  type: string
  dims: number[]
  data: Array<number | string | boolean>
}

export const MAX_TASKS_PER_JOB = 100_000

/** Parses the inputs file (a JSON array, one object per task mapping input name to tensor). */
export function parseInputsJson(json: unknown): TensorMap[] {
  if (!Array.isArray(json)) {
    throw new InvalidInputError('The inputs file must be a JSON array with one entry per task.', {
      details: `got ${json === null ? 'null' : typeof json}`,
    })
  }
  if (json.length === 0) throw new InvalidInputError('The inputs file has no tasks.')
  if (json.length > MAX_TASKS_PER_JOB) {
    throw new InvalidInputError(
      `The inputs file has ${json.length} tasks; the limit is ${MAX_TASKS_PER_JOB}.`,
    )
  }
  return json.map((entry, i) => parseTaskInputs(entry, i))
}

function parseTaskInputs(entry: unknown, task: number): TensorMap {
  if (entry === null || typeof entry !== 'object' || Array.isArray(entry)) {
    throw new InvalidInputError(`Task ${task}: expected an object mapping input names to tensors.`)
  }
  const names = Object.keys(entry)
  if (names.length === 0) throw new InvalidInputError(`Task ${task}: no inputs.`)
  const out: TensorMap = {}
  for (const name of names) {
    const t = (entry as Record<string, unknown>)[name] as Partial<JsonTensor> | null
    const where = `Task ${task}, input "${name}"`
    if (t === null || typeof t !== 'object')
      throw new InvalidInputError(`${where}: expected a tensor object.`)
    if (!isTensorType(t.type)) {
      throw new InvalidInputError(`${where}: unsupported type ${JSON.stringify(t.type)}.`, {
        hint: 'Use float32 (or int32, int64, uint8, bool, float64).',
      })
    }
    if (!Array.isArray(t.dims)) throw new InvalidInputError(`${where}: "dims" must be an array.`)
    if (!Array.isArray(t.data)) throw new InvalidInputError(`${where}: "data" must be an array.`)
    try {
      out[name] = tensorFromNumbers(t.type, t.dims, t.data)
    } catch (cause) {
      if (!(cause instanceof InvalidInputError)) throw cause
      throw new InvalidInputError(`${where}: ${cause.shortMessage}`, {
        details: cause.details,
        cause,
      })
    }
  }
  return out
}

/** The inverse of `parseInputsJson` for one tensor map (results files use the same shape). */
export function tensorMapToJson(map: TensorMap): Record<string, JsonTensor> {
  const out: Record<string, JsonTensor> = {}
  for (const [name, t] of Object.entries(map)) {
    out[name] = { type: t.type, dims: [...t.dims], data: tensorToNumbers(t) as number[] }
  }
  return out
}

export const inputHash = tensorMapHash

export function inputLeaf(taskIndex: number, hash: Hex): Hex {
  return keccak256(encodePacked(['uint32', 'bytes32'], [taskIndex, hash]))
}

export interface InputsCommitment {
  root: Hex
  hashes: Hex[]
  /** Merkle proof that task `i`'s leaf is in the tree. */
  proof(taskIndex: number): Hex[]
}

export function commitInputs(tasks: TensorMap[]): InputsCommitment {
  const hashes = tasks.map((t) => inputHash(t))
  return commitInputHashes(hashes)
}

const parent = (left: Hex, right: Hex): Hex => keccak256(concat([left, right]))

export function commitInputHashes(hashes: Hex[]): InputsCommitment {
  if (hashes.length === 0) throw new InvalidInputError('A job needs at least one task.')
  // levels[0]: the leaves; each next level pairs (2k, 2k + 1), an odd last node moves up as is.
  const levels: Hex[][] = [hashes.map((h, i) => inputLeaf(i, h))]
  while (levels.at(-1)!.length > 1) {
    const below = levels.at(-1)!
    const up: Hex[] = []
    for (let k = 0; k < below.length; k += 2)
      up.push(k + 1 < below.length ? parent(below[k]!, below[k + 1]!) : below[k]!)
    levels.push(up)
  }
  return {
    root: levels.at(-1)![0]!,
    hashes,
    proof(taskIndex) {
      const path: Hex[] = []
      let i = taskIndex
      for (const level of levels.slice(0, -1)) {
        const sibling = i ^ 1
        if (sibling < level.length) path.push(level[sibling]!)
        i >>= 1
      }
      return path
    },
  }
}

/**
 * Whether `proof` puts task `taskIndex` with input hash `hash` at its position in a tree of
 * `taskCount` leaves under `root`. Every sibling must be used, none may be left over.
 */
export function verifyInputProof(
  root: Hex,
  taskIndex: number,
  taskCount: number,
  hash: Hex,
  proof: readonly Hex[],
): boolean {
  if (!Number.isInteger(taskIndex) || taskIndex < 0 || taskIndex >= taskCount) return false
  let node = inputLeaf(taskIndex, hash)
  let i = taskIndex
  let size = taskCount
  let used = 0
  while (size > 1) {
    if (!(i === size - 1 && size % 2 === 1)) {
      const sibling = proof[used++]
      if (sibling === undefined) return false
      node = i % 2 === 0 ? parent(node, sibling) : parent(sibling, node)
    }
    i >>= 1
    size = Math.ceil(size / 2)
  }
  return used === proof.length && node.toLowerCase() === root.toLowerCase()
}

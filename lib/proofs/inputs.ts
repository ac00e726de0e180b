/**
 * Task inputs: the JSON inputs file, per-task input hashes, and the Merkle tree whose root
 * (`inputsRoot`) the job commits to on chain. A leaf binds a task index to its input hash, so a
 * coordinator cannot hand a worker task 5's input as task 3: `leaf = keccak256(uint32 index ||
 * inputHash)`; the tree is OpenZeppelin's `SimpleMerkleTree` over leaves in task order.
 */
import { SimpleMerkleTree } from '@openzeppelin/merkle-tree'
import { encodePacked, type Hex, keccak256 } from 'viem'
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

export function commitInputHashes(hashes: Hex[]): InputsCommitment {
  const tree = SimpleMerkleTree.of(
    hashes.map((h, i) => inputLeaf(i, h)),
    { sortLeaves: false },
  )
  return {
    root: tree.root as Hex,
    hashes,
    proof: (i) => tree.getProof(i) as Hex[],
  }
}

export function verifyInputProof(root: Hex, taskIndex: number, hash: Hex, proof: Hex[]): boolean {
  try {
    return SimpleMerkleTree.verify(root, inputLeaf(taskIndex, hash), proof)
  } catch {
    return false
  }
}

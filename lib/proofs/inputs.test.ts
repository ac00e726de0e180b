import { concat, keccak256, toHex } from 'viem'
import { describe, expect, it } from 'vitest'
import {
  commitInputHashes,
  commitInputs,
  inputHash,
  inputLeaf,
  parseInputsJson,
  tensorMapToJson,
  verifyInputProof,
} from './inputs'

const task = (x: number) => ({ x: { type: 'float32', dims: [1, 2], data: [x, x + 1] } })

describe('parseInputsJson', () => {
  it('parses tasks and round-trips through tensorMapToJson', () => {
    const tasks = parseInputsJson([task(1), task(2)])
    expect(tasks).toHaveLength(2)
    expect(tasks[1]!.x!.type).toBe('float32')
    expect(Array.from(tasks[1]!.x!.data as Float32Array)).toEqual([2, 3])
    expect(tensorMapToJson(tasks[0]!)).toEqual(task(1))
  })

  it.each([
    [{}, /must be a JSON array/],
    [[], /no tasks/],
    [[5], /Task 0: expected an object/],
    [[{}], /Task 0: no inputs/],
    [[{ x: { type: 'float16', dims: [1], data: [1] } }], /unsupported type "float16"/],
    [[{ x: { type: 'float32', dims: [2], data: [1] } }], /needs 2 values, got 1/],
    [[{ x: { type: 'float32', dims: [-1], data: [] } }], /Invalid tensor dimension -1/],
    [[{ x: { type: 'float32', dims: [1], data: ['a'] } }], /value 0 is not a valid float32/],
    [[{ x: { type: 'float32', dims: [65536, 65536], data: [] } }], /Tensor too large/],
  ])('rejects %j with a clear message', (json, message) => {
    expect(() => parseInputsJson(json)).toThrowError(message)
  })
})

describe('commitInputs', () => {
  const tasks = parseInputsJson([task(1), task(2), task(3), task(4), task(5)])
  const c = commitInputs(tasks)

  it('proves every task at its own index only', () => {
    for (let i = 0; i < tasks.length; i++) {
      expect(verifyInputProof(c.root, i, tasks.length, inputHash(tasks[i]!), c.proof(i))).toBe(true)
    }
    // Task 1's input presented as task 0 (a coordinator swapping tasks) does not verify.
    expect(verifyInputProof(c.root, 0, tasks.length, inputHash(tasks[1]!), c.proof(1))).toBe(false)
    expect(verifyInputProof(c.root, 0, tasks.length, inputHash(tasks[1]!), c.proof(0))).toBe(false)
  })

  it('changes the root when any input changes', () => {
    const other = commitInputs(parseInputsJson([task(1), task(2), task(3), task(4), task(6)]))
    expect(other.root).not.toBe(c.root)
  })

  it('works for a single task: the root is its leaf (as MeshworkRequests computes it)', () => {
    const one = commitInputs(tasks.slice(0, 1))
    expect(verifyInputProof(one.root, 0, 1, one.hashes[0]!, one.proof(0))).toBe(true)
    expect(one.root).toBe(inputLeaf(0, one.hashes[0]!))
  })

  // The red team's slash trap: with sorted pairs (OpenZeppelin's SimpleMerkleTree) a requester
  // could commit leaf(0, A) and leaf(0, B) in one tree and prove either as task 0, so one worker
  // signed two results for task 0. Positions are bound now: only the leaf at position 0 is task 0.
  it('proves one input per task index, even when the tree holds a second leaf claiming it', () => {
    const [a, b] = [inputHash(tasks[0]!), inputHash(tasks[1]!)]
    // Leaves: task 0 with A, and "task 0" again with B at position 1.
    const forged = commitInputHashes([a, b])
    const leaves = [inputLeaf(0, a), inputLeaf(0, b)]
    const root = keccak256(concat(leaves))
    expect(verifyInputProof(root, 0, 2, a, [leaves[1]!])).toBe(true)
    expect(verifyInputProof(root, 0, 2, b, [leaves[0]!])).toBe(false)
    expect(verifyInputProof(root, 1, 2, b, [leaves[0]!])).toBe(false)
    expect(forged.root).not.toBe(root)
  })

  it('refuses a proof with siblings left over, missing, or for another task count', () => {
    const h = inputHash(tasks[4]!)
    const p = c.proof(4)
    expect(verifyInputProof(c.root, 4, 5, h, p)).toBe(true)
    expect(verifyInputProof(c.root, 4, 5, h, [...p, c.root])).toBe(false)
    expect(verifyInputProof(c.root, 2, 5, inputHash(tasks[2]!), c.proof(2).slice(1))).toBe(false)
    expect(verifyInputProof(c.root, 4, 6, h, p)).toBe(false)
    expect(verifyInputProof(c.root, 5, 5, h, p)).toBe(false)
  })

  it('verifies every task of trees of 1 to 33 leaves', () => {
    for (let n = 1; n <= 33; n++) {
      const hashes = Array.from({ length: n }, (_, i) => keccak256(toHex(i)))
      const t = commitInputHashes(hashes)
      for (let i = 0; i < n; i++)
        expect(verifyInputProof(t.root, i, n, hashes[i]!, t.proof(i)), `${i} of ${n}`).toBe(true)
    }
  })
})

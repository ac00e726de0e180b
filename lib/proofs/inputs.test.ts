import { describe, expect, it } from 'vitest'
import {
  commitInputs,
  inputHash,
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
      expect(verifyInputProof(c.root, i, inputHash(tasks[i]!), c.proof(i))).toBe(true)
    }
    // Task 1's input presented as task 0 (a coordinator swapping tasks) does not verify.
    expect(verifyInputProof(c.root, 0, inputHash(tasks[1]!), c.proof(1))).toBe(false)
    expect(verifyInputProof(c.root, 0, inputHash(tasks[1]!), c.proof(0))).toBe(false)
  })

  it('changes the root when any input changes', () => {
    const other = commitInputs(parseInputsJson([task(1), task(2), task(3), task(4), task(6)]))
    expect(other.root).not.toBe(c.root)
  })

  it('works for a single task', () => {
    const one = commitInputs(tasks.slice(0, 1))
    expect(verifyInputProof(one.root, 0, one.hashes[0]!, one.proof(0))).toBe(true)
  })
})

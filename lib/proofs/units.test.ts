import { describe, expect, it } from 'vitest'
import type { TensorMap } from './tensor'
import { packUnit, packUnits, unpackUnit } from './units'

const t = (v: number) => ({ type: 'float32' as const, dims: [1], data: new Float32Array([v]) })
const map = (v: number): TensorMap => ({ a: t(v), b: t(-v) })

describe('units: several inputs in one task', () => {
  it('packs and unpacks by position, against the model’s names', () => {
    const unit = packUnit([map(1), map(2)])
    expect(Object.keys(unit)).toEqual(['0.a', '0.b', '1.a', '1.b'])
    expect(unpackUnit(unit, ['a', 'b'])).toEqual([map(1), map(2)])
    // Names the maps do not have, a count that does not divide, a gap: not a unit.
    expect(unpackUnit(unit, ['a', 'c'])).toBeUndefined()
    expect(unpackUnit(unit, ['a', 'b', 'c'])).toBeUndefined()
    const { '0.a': _a, '0.b': _b, ...gap } = packUnit([map(1), map(2), map(3)])
    expect(unpackUnit(gap, ['a', 'b'])).toBeUndefined()
  })

  it('groups inputs per task, the last task holding the rest', () => {
    const inputs = [1, 2, 3, 4, 5].map(map)
    const units = packUnits(inputs, 2)
    expect(units.map((u) => unpackUnit(u, ['a', 'b'])!.length)).toEqual([2, 2, 1])
    expect(unpackUnit(units[2]!, ['a', 'b'])).toEqual([map(5)])
    expect(packUnits(inputs, 1)).toEqual(inputs)
  })

  it('refuses a count that is not a whole number, or tasks over the wire limit', () => {
    expect(() => packUnits([map(1)], 0)).toThrow(/whole number ≥ 1; got 0/)
    expect(() => packUnits([map(1)], 1.5)).toThrow(/whole number/)
    expect(() => packUnits([map(1)], 33)).toThrow(/66 tensors in a task; at most 64 fit/)
  })
})

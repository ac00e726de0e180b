import { describe, expect, it } from 'vitest'
import type { TensorMap } from '../proofs'
import {
  applyEvent,
  closeness,
  DEFAULT_REPLICATION,
  emptyRecord,
  reputation,
  verifyProbability,
  type WorkerRecord,
} from '.'

const f32 = (...v: number[]): TensorMap => ({
  y: { type: 'float32', dims: [v.length], data: new Float32Array(v) },
})

const established = (n: number): WorkerRecord => {
  const r = emptyRecord()
  for (let i = 0; i < n; i++) applyEvent(r, 'agreed')
  return r
}

describe('reputation', () => {
  it('starts at 0, rises slowly with agreement, falls fast with a failed canary', () => {
    const r = emptyRecord()
    expect(reputation(r)).toBe(0)
    for (let i = 0; i < 30; i++) applyEvent(r, 'agreed')
    expect(reputation(r)).toBeCloseTo(30 / 40)
    applyEvent(r, 'canary-failed')
    expect(reputation(r)).toBeCloseTo(30 / 65)
    expect(r.consecutiveValid).toBe(0)
  })

  it('does not count divergence (another backend rounding) against a worker', () => {
    const r = established(20)
    const before = reputation(r)
    applyEvent(r, 'divergent')
    expect(reputation(r)).toBe(before)
    expect(r.consecutiveValid).toBe(20)
  })
})

describe('verifyProbability', () => {
  const V = 10n ** 15n
  it('always verifies new workers, whatever the rule', () => {
    const w = { record: established(DEFAULT_REPLICATION.minVerified - 1), stake: 0n }
    for (const rule of ['always', 'boinc', 'pverify'] as const)
      expect(verifyProbability(rule, w, V)).toBe(1)
    // Staked: half as many.
    const staked = {
      record: established(DEFAULT_REPLICATION.minVerified / 2 - 1),
      stake: 10n ** 20n,
    }
    for (const rule of ['always', 'boinc', 'pverify'] as const)
      expect(verifyProbability(rule, staked, V)).toBe(1)
  })

  it('BOINC: verifies until N consecutive valid results, then with probability 1/consecutive', () => {
    const w = (n: number) => ({ record: established(n), stake: 0n })
    expect(verifyProbability('boinc', w(10), V)).toBeCloseTo(1 / 10)
    expect(verifyProbability('boinc', w(40), V)).toBeCloseTo(1 / 40)
    const lapsed = established(40)
    applyEvent(lapsed, 'timeout')
    expect(verifyProbability('boinc', { record: lapsed, stake: 0n }, V)).toBe(1)
  })

  it('P_verify = (V/S)^a (1-R)^b: needs stake, falls with stake and reputation', () => {
    const r = established(90) // R = 0.9
    expect(verifyProbability('pverify', { record: r, stake: 0n }, V)).toBe(1)
    expect(verifyProbability('pverify', { record: r, stake: V / 2n }, V)).toBeCloseTo(2 * 0.01)
    expect(verifyProbability('pverify', { record: r, stake: V / 1000n }, V)).toBe(1)
    expect(verifyProbability('pverify', { record: r, stake: 10n * V }, V)).toBeCloseTo(0.1 * 0.01)
    expect(
      verifyProbability('pverify', { record: established(10), stake: 10n * V }, V),
    ).toBeCloseTo(0.1 * 0.25)
  })

  it('lets staked workers earn trust in half the results', () => {
    const r = established(6)
    expect(verifyProbability('boinc', { record: r, stake: 0n }, V)).toBe(1)
    expect(verifyProbability('boinc', { record: r, stake: 99n * V }, V)).toBe(1)
    expect(verifyProbability('boinc', { record: r, stake: 100n * V }, V)).toBeCloseTo(1 / 6)
  })

  it('verifies an excluded worker always', () => {
    const r = { ...established(100), excluded: 'failed a canary' }
    expect(verifyProbability('boinc', { record: r, stake: 0n }, V)).toBe(1)
  })
})

describe('closeness', () => {
  it('calls last-bit differences near and real differences far', () => {
    expect(closeness(f32(0.5, -2, 1e-9), f32(0.50000006, -2.0000002, 0))).toBe('near')
    expect(closeness(f32(0.5, -2), f32(0.51, -2))).toBe('far')
    expect(closeness(f32(0.5, -2), f32(0.5))).toBe('far')
    expect(closeness(f32(Number.NaN), f32(Number.NaN))).toBe('near')
    expect(closeness(f32(Number.POSITIVE_INFINITY), f32(1e30))).toBe('far')
  })

  it('requires integer outputs and names to match exactly', () => {
    const ints = (v: number): TensorMap => ({
      k: { type: 'int32', dims: [1], data: new Int32Array([v]) },
    })
    expect(closeness(ints(3), ints(3))).toBe('near')
    expect(closeness(ints(3), ints(4))).toBe('far')
    expect(closeness({ z: f32(1).y! }, f32(1))).toBe('far')
  })
})

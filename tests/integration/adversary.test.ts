import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import {
  ADVERSARY_SCENARIOS,
  type AdversaryResult,
  collusionWinRate,
  wilson,
} from '../../scripts/lib/adversary'
import { ensureModels } from '../../scripts/models'

const ROOT = join(import.meta.dirname, '../..')

/** `npm run adversary -- --quick --only NAME --json`, as a user runs it (one process each). */
function runScenario(name: string): AdversaryResult {
  const child = spawnSync(
    join(ROOT, 'node_modules/.bin/tsx'),
    [join(ROOT, 'scripts/adversary.ts'), '--quick', '--json', '--only', name],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  )
  const last = child.stdout.trim().split('\n').at(-1) ?? ''
  try {
    return (JSON.parse(last) as { scenarios: AdversaryResult[] }).scenarios[0]!
  } catch {
    throw new Error(`no result (exit ${child.status}): ${child.stderr.slice(-2000)}`)
  }
}

// Each scenario starts its own chain and relay and runs Node peers in their roles against a real
// coordinator. Full sizes: `npm run adversary`.
describe('adversary harness (short configurations)', () => {
  ensureModels()
  for (const scenario of ADVERSARY_SCENARIOS) {
    it(`${scenario.name}: ${scenario.description}`, { timeout: 400_000 }, () => {
      const r = runScenario(scenario.name)
      expect(r.name).toBe(scenario.name)
      expect(r.reasons, JSON.stringify(r.details)).toEqual([])
      expect(r.pass).toBe(true)
      if (scenario.name !== 'colluding-undefended') expect(r.wrongAccepted).toBe(0)
      expect(r.honestPunished).toBe(0)
    })
  }
})

describe('adversary statistics', () => {
  it('predicts the undefended collusion rate (3 of 10 colluders, quorum 2 of 3)', () => {
    // Hypergeometric: (C(3,2)·C(7,1) + C(3,3)) / C(10,3) = 22/120.
    expect(collusionWinRate(0.3, 3, 2, 10)).toBeCloseTo(22 / 120, 10)
    // Binomial: 3p²(1−p) + p³.
    expect(collusionWinRate(0.3, 3, 2)).toBeCloseTo(3 * 0.09 * 0.7 + 0.027, 10)
  })

  it('gives Wilson intervals that contain the observed rate and narrow with n', () => {
    const [lo, hi] = wilson(18, 100, 1.96)
    expect(lo).toBeLessThan(0.18)
    expect(hi).toBeGreaterThan(0.18)
    const [lo2, hi2] = wilson(180, 1000, 1.96)
    expect(hi2 - lo2).toBeLessThan(hi - lo)
    expect(wilson(0, 50, 1.96)[0]).toBe(0)
  })
})

import { describe, expect, it } from 'vitest'
import { TAB_SCENARIOS } from '../../scripts/lib/chaos-tabs'

// The tab scenarios of `npm run chaos -- --quick` (the Node ones run in tests/integration).
describe('chaos in tabs (short configurations)', () => {
  for (const scenario of TAB_SCENARIOS) {
    it(`${scenario.name}: ${scenario.description}`, { timeout: 400_000 }, async () => {
      const r = await scenario.run('short', () => {})
      expect(r.reasons, JSON.stringify(r.details)).toEqual([])
      expect(r.lost).toBe(0)
      expect(r.doublePaid).toBe(0)
      expect(r.completed).toBe(r.tasks)
    })
  }
})

import { describe, expect, it } from 'vitest'
import { NODE_SCENARIOS } from '../../scripts/lib/chaos'
import { ensureModels } from '../../scripts/models'

// `npm run chaos -- --quick`, scenario by scenario: each starts its own chain and relay, injects
// its fault into a live job, and audits the chain afterwards. Full sizes: `npm run chaos`.
describe('chaos (short configurations)', () => {
  ensureModels()
  for (const scenario of NODE_SCENARIOS) {
    it(`${scenario.name}: ${scenario.description}`, { timeout: 300_000 }, async () => {
      const r = await scenario.run('short', () => {})
      expect(r.reasons, JSON.stringify(r.details)).toEqual([])
      expect(r.pass).toBe(true)
      expect(r.lost).toBe(0)
      expect(r.doublePaid).toBe(0)
      expect(r.completed).toBe(r.tasks)
    })
  }
})

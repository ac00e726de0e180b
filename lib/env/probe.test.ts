import { describe, expect, it } from 'vitest'
import { probeCapability } from './probe'

describe('capability probe', () => {
  it('scores this machine in multiply-adds per microsecond, in well under a second', () => {
    const t0 = performance.now()
    const c = probeCapability({ memoryGb: 7.77, cores: 3 })
    expect(performance.now() - t0).toBeLessThan(1000)
    expect(c.score).toBeGreaterThan(0)
    expect(c.memoryGb).toBe(7.8)
    expect(c.cores).toBe(3)
  })
})

import { describe, expect, it } from 'vitest'
import { simulate } from './simulate'

const SMALL = { volunteers: 300, tasks: 3000 }
const CALM = { onlineMeanMs: 0, wrongShare: 0, speeds: [{ share: 1, factor: 1 }] }

describe('the scale simulation', () => {
  it('decides every task, and cannot beat the ideal makespan', () => {
    const r = simulate(SMALL)
    expect(r.accepted + r.failed).toBe(SMALL.tasks)
    expect(r.makespanRatio).toBeGreaterThan(0.95)
    expect(r.computePerTask).toBeGreaterThanOrEqual(r.resultsPerTask)
    expect(r.leases).toBeGreaterThanOrEqual(SMALL.tasks * 2)
  })

  it('repeats exactly for a seed', () => {
    const { wallMs: _a, ...one } = simulate({ ...SMALL, seed: 7 })
    const { wallMs: _b, ...two } = simulate({ ...SMALL, seed: 7 })
    expect(two).toEqual(one)
    const { wallMs: _c, ...other } = simulate({ ...SMALL, seed: 8 })
    expect(other.makespanMs).not.toBe(one.makespanMs)
  })

  it('without churn, faults or mixed speeds: r results per task, nothing expires, near ideal', () => {
    const r = simulate({ ...SMALL, ...CALM })
    expect(r.accepted).toBe(SMALL.tasks)
    expect(r.resultsPerTask).toBe(2)
    expect(r.expiredLeases).toBe(0)
    expect(r.makespanRatio).toBeLessThan(1.2)
  })

  it('never accepts a wrong answer when wrong volunteers disagree with each other', () => {
    const r = simulate({ ...SMALL, wrongShare: 0.1 })
    expect(r.acceptedWrong).toBe(0)
    // Their results split tasks: some need a third replica.
    expect(r.resultsPerTask).toBeGreaterThan(2)
  })

  it('churn costs work: leases of volunteers who left expire, their tasks are done again', () => {
    const calm = simulate({ ...SMALL, ...CALM })
    const churny = simulate({ ...SMALL, ...CALM, onlineMeanMs: 60_000, offlineMeanMs: 30_000 })
    expect(churny.expiredLeases).toBeGreaterThan(0)
    expect(churny.computePerTask).toBeGreaterThan(calm.computePerTask)
    expect(churny.accepted + churny.failed).toBe(SMALL.tasks)
  })

  it("BOINC's adaptive replication needs fewer results per task once volunteers are trusted", () => {
    const always = simulate({ ...SMALL, ...CALM, tasks: 20_000 })
    const boinc = simulate({ ...SMALL, ...CALM, tasks: 20_000, rule: 'boinc' })
    expect(boinc.acceptedSingle).toBeGreaterThan(0)
    expect(boinc.resultsPerTask).toBeLessThan(always.resultsPerTask)
  })

  it('both placements finish the job', () => {
    for (const placement of ['first-come', 'attractor'] as const) {
      const r = simulate({ ...SMALL, placement })
      expect(r.accepted + r.failed).toBe(SMALL.tasks)
    }
  })
})

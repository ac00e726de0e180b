import { type Hex, keccak256, toHex } from 'viem'
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest'
import { createJobIdCheck, type JobIdVerdict } from './job-ids'

const id = (n: number) => keccak256(toHex(n)) as Hex

/** A chain that knows `real` and counts the calls made to it. */
function chain(real: Hex[]) {
  const calls: number[] = []
  return {
    calls,
    created: async (ids: Hex[]) => {
      calls.push(ids.length)
      return new Set(ids.filter((i) => real.includes(i)))
    },
  }
}

beforeEach(() => vi.useFakeTimers())
afterEach(() => vi.useRealTimers())

describe('job id check', () => {
  it('answers 2,000 made-up ids with a bounded number of calls, whatever their count', async () => {
    const c = chain([])
    const check = createJobIdCheck({ created: c.created })
    const answers: Promise<JobIdVerdict>[] = []
    for (let i = 0; i < 2000; i++) answers.push(check.exists(id(i)))
    expect(check.stats().pending).toBe(1024)
    await vi.runAllTimersAsync()
    const verdicts = await Promise.all(answers)
    // 1,024 waited for the one batch (4 calls of 256); the rest were dropped as the queue filled.
    expect(c.calls).toEqual([256, 256, 256, 256])
    expect(verdicts.filter((v) => v === 'missing')).toHaveLength(1024)
    expect(verdicts.filter((v) => v === 'dropped')).toHaveLength(976)
    expect(check.stats().dropped.evicted).toBe(976)
    // A missing one asked again: answered from memory, no call.
    const seen = verdicts.indexOf('missing')
    expect(await check.exists(id(seen))).toBe('missing')
    expect(c.calls).toHaveLength(4)
  })

  it('finds a real job announced every 2 s, through a flood of 500 new ids a second', async () => {
    const real = id(1_000_000)
    const c = chain([real])
    const check = createJobIdCheck({ created: c.created })
    let found: JobIdVerdict | undefined
    let n = 0
    let ms = 0
    for (; ms < 30_000 && !found; ms += 100) {
      for (let i = 0; i < 50; i++) void check.exists(id(n++))
      // The flood runs for 4 s before the job is first announced.
      if (ms >= 4000 && ms % 2000 === 1000)
        void check.exists(real).then((v) => {
          if (v === 'created') found = v
        })
      await vi.advanceTimersByTimeAsync(100)
    }
    expect(found).toBe('created')
    // One batch per 2 s at most, each at most 4 calls: bounded by time, not by the flood.
    expect(c.calls.length).toBeLessThanOrEqual(4 * (Math.floor(ms / 2000) + 1))
  })

  it('answers known ids at once, and asks again for a missing id after its time', async () => {
    const real = id(1)
    const c = chain([real])
    const check = createJobIdCheck({ created: c.created, missingTtlMs: 10_000 })
    const a = check.exists(real)
    const b = check.exists(id(2))
    const b2 = check.exists(id(2))
    await vi.runAllTimersAsync()
    expect([await a, await b, await b2]).toEqual(['created', 'missing', 'missing'])
    expect(c.calls).toEqual([2])
    expect(await check.exists(real)).toBe('created')
    expect(await check.exists(id(2))).toBe('missing')
    expect(c.calls).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(10_001)
    const again = check.exists(id(2))
    await vi.runAllTimersAsync()
    expect(await again).toBe('missing')
    expect(c.calls).toHaveLength(2)
  })

  it('waits the interval between batches', async () => {
    const c = chain([])
    const check = createJobIdCheck({ created: c.created, intervalMs: 2000 })
    void check.exists(id(1))
    await vi.advanceTimersByTimeAsync(0)
    expect(c.calls).toHaveLength(1)
    void check.exists(id(2))
    await vi.advanceTimersByTimeAsync(1900)
    expect(c.calls).toHaveLength(1)
    await vi.advanceTimersByTimeAsync(100)
    expect(c.calls).toHaveLength(2)
  })

  it('a failed call drops its ids (counted) and remembers nothing, so they are asked again', async () => {
    let fail = true
    let calls = 0
    const check = createJobIdCheck({
      created: async (ids) => {
        calls++
        if (fail) throw new Error('rpc down')
        return new Set(ids)
      },
    })
    const first = check.exists(id(1))
    await vi.runAllTimersAsync()
    expect(await first).toBe('dropped')
    expect(check.stats().dropped['check-failed']).toBe(1)
    fail = false
    const second = check.exists(id(1))
    await vi.runAllTimersAsync()
    expect(await second).toBe('created')
    expect(calls).toBe(2)
  })

  it('remembers a missing id per announcer: a stranger announcing a job before it exists does not keep its coordinator out', async () => {
    const real = id(7)
    const onChain: Hex[] = []
    const c = chain(onChain)
    const check = createJobIdCheck({ created: c.created, intervalMs: 100 })
    const early = check.exists(real, 'stranger')
    await vi.runAllTimersAsync()
    expect(await early).toBe('missing')
    onChain.push(real)
    // The stranger's own guess stays missing for a while; the coordinator's is asked at once.
    expect(await check.exists(real, 'stranger')).toBe('missing')
    const mine = check.exists(real, 'coordinator')
    await vi.runAllTimersAsync()
    expect(await mine).toBe('created')
  })

  it('stop answers every waiting id and makes no call', async () => {
    const c = chain([])
    const check = createJobIdCheck({ created: c.created })
    const a = check.exists(id(1))
    check.stop()
    expect(await a).toBe('dropped')
    expect(await check.exists(id(2))).toBe('dropped')
    await vi.runAllTimersAsync()
    expect(c.calls).toHaveLength(0)
  })
})

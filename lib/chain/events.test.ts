import type { PublicClient } from 'viem'
import { describe, expect, it } from 'vitest'
import { LOG_BLOCK_RANGE, logsInRanges, MIN_LOG_BLOCK_RANGE } from './events'

/** A chain at block `latest` whose provider refuses ranges over `cap` blocks and the queries `flaky` names. */
function provider(latest: bigint, cap: bigint, flaky: (n: number) => boolean = () => false) {
  const asked: Array<[bigint, bigint]> = []
  const read: Array<[bigint, bigint]> = []
  const client = { getBlockNumber: async () => latest } as unknown as PublicClient
  const query = async (from: bigint, to: bigint) => {
    asked.push([from, to])
    if (to - from + 1n > cap) throw new Error(`query exceeds max block range ${cap}`)
    if (flaky(asked.length)) throw new Error('429 Too Many Requests')
    read.push([from, to])
    return [{ blockNumber: from }]
  }
  return { client, query, asked, read }
}

/** Every block from `from` to `latest` read exactly once, in order. */
function coversOnce(read: Array<[bigint, bigint]>, from: bigint, latest: bigint) {
  let next = from
  for (const [a, b] of read) {
    if (a !== next || b < a) return false
    next = b + 1n
  }
  return next === latest + 1n
}

describe('logsInRanges', () => {
  it('reads a provider that caps a query between MIN_LOG_BLOCK_RANGE and half of it', async () => {
    const p = provider(20_000n, MIN_LOG_BLOCK_RANGE + 20n)
    const { logs, latest } = await logsInRanges(p.client, 'Reading', 1_000n, undefined, p.query)
    expect(latest).toBe(20_000n)
    expect(coversOnce(p.read, 1_000n, 20_000n)).toBe(true)
    expect(logs.length).toBe(p.read.length)
  })

  it('recovers its range after passing errors, and reads every block once', async () => {
    // One query in 40 fails whatever its range, as a rate limit does.
    const p = provider(400_000n, LOG_BLOCK_RANGE, (n) => n % 40 === 0)
    await logsInRanges(p.client, 'Reading', 0n, undefined, p.query)
    expect(coversOnce(p.read, 0n, 400_000n)).toBe(true)
    // Near the full range most of the time: far fewer queries than at the smallest range.
    expect(p.asked.length).toBeLessThan(Number(400_000n / MIN_LOG_BLOCK_RANGE) / 10)
  })

  it('names what it was reading once the smallest range is refused again and again', async () => {
    const p = provider(10_000n, LOG_BLOCK_RANGE, () => true)
    await expect(
      logsInRanges(p.client, 'Reading past requests', 0n, undefined, p.query),
    ).rejects.toThrow(/Reading past requests/)
  })
})

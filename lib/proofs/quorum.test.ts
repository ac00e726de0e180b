import type { Address, Hex } from 'viem'
import { describe, expect, it } from 'vitest'
import { type SignedResult, sortBySigner, tally } from './quorum'

const H1 = `0x${'aa'.repeat(32)}` as Hex
const H2 = `0x${'bb'.repeat(32)}` as Hex
const w = (n: number) => `0x${n.toString(16).padStart(40, '0')}` as Address
const r = (worker: number, hash: Hex): SignedResult => ({
  worker: w(worker),
  resultHash: hash,
  signature: `0x0${worker}`,
})
const opts = { quorum: 2, replicas: 3, maxResults: 6 }

describe('tally', () => {
  it('stays pending until quorum results agree', () => {
    expect(tally([r(1, H1)], opts)).toEqual({ status: 'pending', received: 1, leading: 1 })
    expect(tally([r(1, H1), r(2, H2)], opts)).toMatchObject({ status: 'pending', leading: 1 })
  })

  it('accepts the agreeing group and names dissenters', () => {
    const v = tally([r(9, H1), r(2, H2), r(3, H1)], opts)
    expect(v.status).toBe('accepted')
    if (v.status !== 'accepted') return
    expect(v.resultHash).toBe(H1)
    expect(v.agreeing.map((x) => x.worker)).toEqual([w(3), w(9)])
    expect(v.dissenting.map((x) => x.worker)).toEqual([w(2)])
  })

  // A worker that submits twice must not count as two votes.
  it('counts one result per worker', () => {
    expect(tally([r(1, H1), r(1, H1)], opts).status).toBe('pending')
    expect(
      tally([r(1, H1), { ...r(1, H1), worker: w(1).toUpperCase() as Address }], opts).status,
    ).toBe('pending')
  })

  it('caps certificate signers at replicas, lowest addresses first', () => {
    const v = tally([r(5, H1), r(4, H1), r(3, H1), r(2, H1)], { ...opts, replicas: 3 })
    expect(v.status === 'accepted' && v.agreeing.map((x) => x.worker)).toEqual([w(2), w(3), w(4)])
  })

  it('gives up after maxResults without a quorum', () => {
    expect(tally([r(1, H1), r(2, H2)], { ...opts, maxResults: 2 })).toEqual({
      status: 'no-quorum',
      received: 2,
      groups: 2,
    })
  })
})

describe('sortBySigner', () => {
  it('orders addresses numerically, not by checksum case', () => {
    const a = { worker: '0xAbc0000000000000000000000000000000000000' as Address }
    const b = { worker: '0x0fff000000000000000000000000000000000000' as Address }
    expect(sortBySigner([a, b])).toEqual([b, a])
  })
})

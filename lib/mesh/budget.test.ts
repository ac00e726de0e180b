import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { createInboundBudget, type InboundGrant } from './budget'
import { INBOUND_LIMITS, LIMITS } from './protocol'

const small = { peerStreams: 2, totalStreams: 3, peerBytes: 100, totalBytes: 150 }
const granted = (g: ReturnType<ReturnType<typeof createInboundBudget>['open']>): InboundGrant => {
  if ('refused' in g) throw new Error(`refused: ${g.refused}`)
  return g
}

describe('inbound budget', () => {
  // Peer ids are free: one peer's streams must be capped however many it opens.
  it('refuses a peer its stream beyond peerStreams, and counts the refusal', () => {
    const b = createInboundBudget(small)
    granted(b.open('a', 10))
    granted(b.open('a', 10))
    expect(b.open('a', 10)).toEqual({ refused: 'peer-streams' })
    expect(b.stats()).toMatchObject({ streams: 2, bytes: 20, peers: 1 })
    expect(b.stats().refused['peer-streams']).toBe(1)
  })

  // Many identities together must stay under one total, whatever each holds.
  it('refuses any peer beyond totalStreams and totalBytes', () => {
    const b = createInboundBudget(small)
    granted(b.open('a', 50))
    granted(b.open('b', 50))
    expect(b.open('c', 60)).toEqual({ refused: 'total-bytes' })
    granted(b.open('c', 50))
    expect(b.open('d', 0)).toEqual({ refused: 'total-streams' })
    expect(b.stats()).toMatchObject({ streams: 3, bytes: 150, peers: 3, peakBytes: 150 })
    expect(b.stats().refused).toEqual({
      'peer-streams': 0,
      'total-streams': 1,
      'peer-bytes': 0,
      'total-bytes': 1,
    })
  })

  // A result's outputs are taken after its header: the growth is what must be refused.
  it('grows a stream within its peer and total bytes, and refuses more without changing it', () => {
    const b = createInboundBudget(small)
    const g = granted(b.open('a', 10))
    expect(g.resize(90)).toBeUndefined()
    expect(b.stats().bytes).toBe(90)
    expect(g.resize(101)).toBe('peer-bytes')
    expect(g.bytes).toBe(90)
    granted(b.open('b', 50))
    const h = granted(b.open('b', 0))
    expect(h.resize(11)).toBe('total-bytes')
    expect(b.stats()).toMatchObject({ bytes: 140, streams: 3 })
    // Shrinking always succeeds.
    expect(g.resize(5)).toBeUndefined()
    expect(b.stats().bytes).toBe(55)
    expect(b.stats().peakBytes).toBe(140)
  })

  // A double release (a stream ending twice) must not hand out capacity that is still held.
  it('releases once, whatever calls it again, and forgets idle peers', () => {
    const b = createInboundBudget(small)
    const g = granted(b.open('a', 40))
    granted(b.open('a', 40))
    g.release()
    g.release()
    expect(g.resize(1000)).toBeUndefined()
    expect(b.stats()).toMatchObject({ streams: 1, bytes: 40, peers: 1 })
    expect(g.bytes).toBe(0)
    granted(b.open('a', 60))
    expect(b.open('a', 0)).toEqual({ refused: 'peer-streams' })
  })

  it('counts dropped streams by reason', () => {
    const b = createInboundBudget()
    b.drop('oversized')
    b.drop('oversized')
    b.drop('timeout')
    expect(b.stats().dropped).toEqual({
      'invalid-message': 0,
      oversized: 2,
      timeout: 1,
      closed: 0,
    })
  })

  // The defaults must admit what honest peers need: two of the largest results from one worker
  // with its other streams' request frames, and four of them in all.
  it('defaults fit two of the largest results per peer and four in all', () => {
    const b = createInboundBudget()
    expect(b.limits).toEqual(INBOUND_LIMITS)
    const frame = LIMITS.controlFrameBytes + 16
    const grants = Array.from({ length: INBOUND_LIMITS.peerStreams }, () =>
      granted(b.open('a', frame)),
    )
    expect(grants[0]!.resize(LIMITS.frameBytes + 16)).toBeUndefined()
    expect(grants[1]!.resize(LIMITS.frameBytes + 16)).toBeUndefined()
    expect(grants[2]!.resize(LIMITS.frameBytes + 16)).toBe('peer-bytes')
    const other = granted(b.open('b', frame))
    expect(other.resize(LIMITS.frameBytes + 16)).toBeUndefined()
    const third = granted(b.open('c', frame))
    // Four full results do not fit beside the request frames held: the total refuses.
    expect(third.resize(LIMITS.frameBytes + 16)).toBe('total-bytes')
  })

  // Whatever sequence of opens, resizes and releases: held bytes and streams never pass a limit,
  // and they return to zero when everything is released.
  it('never holds more than its limits under random use', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.tuple(
            fc.constantFrom('open', 'resize', 'release'),
            fc.constantFrom('a', 'b', 'c', 'd'),
            fc.nat(120),
            fc.nat(),
          ),
          { maxLength: 200 },
        ),
        (ops) => {
          const b = createInboundBudget(small)
          const held: Array<{ g: InboundGrant; peer: string; live: boolean }> = []
          for (const [op, peer, bytes, pick] of ops) {
            if (op === 'open') {
              const g = b.open(peer, bytes)
              if (!('refused' in g)) held.push({ g, peer, live: true })
            } else if (held.length > 0) {
              const h = held[pick % held.length]!
              if (op === 'resize') h.g.resize(bytes)
              else {
                h.g.release()
                h.live = false
              }
            }
            const s = b.stats()
            const live = held.filter((h) => h.live)
            expect(s.streams).toBe(live.length)
            expect(s.streams).toBeLessThanOrEqual(small.totalStreams)
            expect(s.bytes).toBe(live.reduce((n, h) => n + h.g.bytes, 0))
            expect(s.bytes).toBeLessThanOrEqual(small.totalBytes)
            for (const p of ['a', 'b', 'c', 'd']) {
              const mine = live.filter((h) => h.peer === p)
              expect(mine.length).toBeLessThanOrEqual(small.peerStreams)
              expect(mine.reduce((n, h) => n + h.g.bytes, 0)).toBeLessThanOrEqual(small.peerBytes)
            }
          }
          for (const h of held) h.g.release()
          expect(b.stats()).toMatchObject({ streams: 0, bytes: 0, peers: 0 })
        },
      ),
      { numRuns: 500 },
    )
  })
})

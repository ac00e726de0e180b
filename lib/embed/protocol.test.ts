import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import {
  EMBED_DEFAULTS,
  frameQuery,
  parseFrameQuery,
  parseFromFrame,
  parseThrottle,
  parseToFrame,
} from './protocol'

const RELAY = '/ip4/127.0.0.1/tcp/9090/ws/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo'

describe('embed frame query', () => {
  it('round-trips every setting', () => {
    const p = {
      consent: 'host' as const,
      threads: 2,
      dutyCycle: 0.25,
      hiddenDutyCycle: 0.1,
      pauseOnBattery: false,
      relays: [RELAY],
      payout: '0x1111111111111111111111111111111111111111' as const,
    }
    expect(parseFrameQuery(frameQuery(p))).toEqual(p)
  })

  it('defaults to asking in the frame, half the time, nothing while hidden, pause on battery', () => {
    expect(parseFrameQuery('')).toEqual({ ...EMBED_DEFAULTS, consent: 'frame', relays: [] })
  })

  it.each([
    ['consent=always', /consent/],
    ['threads=0', /threads/],
    ['threads=1.5', /threads/],
    ['duty=0', /dutyCycle/],
    ['duty=2', /dutyCycle/],
    ['hiddenDuty=-1', /hiddenDutyCycle/],
    ['battery=maybe', /battery/],
    ['relay=/ip4/1.2.3.4/tcp/1', /relay/],
    ['relay=javascript:alert(1)', /relay/],
    ['payout=0x1234', /payout/],
    ['payout=treasury.eth', /payout/],
  ])('refuses %s with an error naming the parameter', (q, message) => {
    expect(() => parseFrameQuery(q)).toThrow(message)
  })
})

describe('embed messages', () => {
  it('accepts the messages the loader sends', () => {
    expect(parseToFrame({ type: 'meshwork:consent', granted: true })).toEqual({
      type: 'meshwork:consent',
      granted: true,
    })
    expect(parseToFrame({ type: 'meshwork:stop' })).toEqual({ type: 'meshwork:stop' })
    expect(parseToFrame({ type: 'meshwork:throttle', throttle: { dutyCycle: 0.3 } })).toEqual({
      type: 'meshwork:throttle',
      throttle: { dutyCycle: 0.3 },
    })
  })

  it('ignores messages that are not for it or are malformed', () => {
    expect(parseToFrame('meshwork:stop')).toBeUndefined()
    expect(parseToFrame({ type: 'meshwork:consent', granted: 'yes' })).toBeUndefined()
    expect(parseToFrame({ type: 'meshwork:throttle', throttle: { dutyCycle: 5 } })).toBeUndefined()
    expect(parseToFrame({ type: 'other-library', x: 1 })).toBeUndefined()
    expect(parseFromFrame({ type: 'meshwork:status', status: { state: 'hacked' } })).toBeUndefined()
  })

  it('the handshake: the frame says ready (nothing else), the loader says hello', () => {
    expect(parseFromFrame({ type: 'meshwork:ready', status: { state: 'running' } })).toEqual({
      type: 'meshwork:ready',
    })
    expect(parseToFrame({ type: 'meshwork:hello', origin: 'https://forged.example' })).toEqual({
      type: 'meshwork:hello',
    })
  })

  it('a pause names its reason, including a frame too small to be seen', () => {
    for (const pausedBy of ['hidden', 'battery', 'too-small'] as const) {
      const m = parseFromFrame({ type: 'meshwork:status', status: { state: 'paused', pausedBy } })
      expect(m?.type === 'meshwork:status' && m.status.pausedBy).toBe(pausedBy)
    }
  })

  it('keeps only well-formed status fields', () => {
    const m = parseFromFrame({
      type: 'meshwork:status',
      status: { state: 'running', tasksDone: -3, credited: '12abc', pausedBy: 'cat', extra: 1 },
    })
    expect(m?.type === 'meshwork:status' && m.status).toEqual({
      state: 'running',
      pausedBy: undefined,
      address: undefined,
      peerId: undefined,
      backend: undefined,
      tasksDone: 0,
      credited: undefined,
      error: undefined,
    })
  })

  it('never throws on anything another script may post (10,000 random values)', () => {
    fc.assert(
      fc.property(fc.anything(), (v) => {
        parseToFrame(v)
        parseFromFrame(v)
        parseToFrame({ type: 'meshwork:throttle', throttle: v })
        parseFromFrame({ type: 'meshwork:status', status: v })
      }),
      { numRuns: 10_000 },
    )
  })

  it('throttle changes outside their range are refused with a reason', () => {
    expect(() => parseThrottle({ pauseOnBattery: 'no' })).toThrow(/pauseOnBattery/)
    expect(parseThrottle({ hiddenDutyCycle: 0 })).toEqual({ hiddenDutyCycle: 0 })
  })
})

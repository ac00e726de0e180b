import { describe, expect, it } from 'vitest'
import { DEFAULT_THROTTLE, effectiveDuty, restAfter, validateThrottle } from './throttle'

describe('volunteer throttle', () => {
  it('rests so that computing takes the chosen share of the time', () => {
    expect(restAfter(100, 1)).toBe(0)
    expect(restAfter(100, 0.5)).toBe(100)
    expect(restAfter(100, 0.25)).toBe(300)
    expect(restAfter(100, 0)).toBe(Number.POSITIVE_INFINITY)
  })

  it('uses the hidden share when the tab is hidden', () => {
    const s = { dutyCycle: 0.8, hiddenDutyCycle: 0.2 }
    expect(effectiveDuty(s, false, [])).toBe(0.8)
    expect(effectiveDuty(s, true, [])).toBe(0.2)
  })

  it('halves the share after a measured slowdown, and only then', () => {
    const steady = [100, 110, 95, 105, 100]
    expect(effectiveDuty(DEFAULT_THROTTLE, false, steady)).toBe(1)
    expect(effectiveDuty(DEFAULT_THROTTLE, false, [...steady, 400])).toBe(0.5)
  })

  it('refuses shares outside their range with a clear message', () => {
    expect(() => validateThrottle({ dutyCycle: 0 })).toThrow(/dutyCycle must be in \(0, 1\]/)
    expect(() => validateThrottle({ hiddenDutyCycle: 2 })).toThrow(/hiddenDutyCycle/)
    expect(validateThrottle({})).toEqual(DEFAULT_THROTTLE)
  })
})

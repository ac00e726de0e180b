/**
 * How much of a machine a volunteer gives. After each task the worker rests so that computing
 * takes at most `dutyCycle` of its time; a hidden tab uses `hiddenDutyCycle`; and a measured
 * slowdown (the last task took over three times the recent median: the machine is busy with
 * something else, or the browser throttles the tab) halves the share until times recover.
 */
export interface ThrottleSettings {
  /** Share of time spent computing while the tab is visible, in (0, 1]. Default 1. */
  dutyCycle: number
  /** Share while the tab is hidden, in [0, 1]; 0 pauses a hidden tab. Default 0.5. */
  hiddenDutyCycle: number
}

export const DEFAULT_THROTTLE: ThrottleSettings = { dutyCycle: 1, hiddenDutyCycle: 0.5 }

export function validateThrottle(t: Partial<ThrottleSettings>): ThrottleSettings {
  const out = { ...DEFAULT_THROTTLE, ...t }
  if (!(out.dutyCycle > 0 && out.dutyCycle <= 1))
    throw new RangeError(`dutyCycle must be in (0, 1], got ${out.dutyCycle}`)
  if (!(out.hiddenDutyCycle >= 0 && out.hiddenDutyCycle <= 1))
    throw new RangeError(`hiddenDutyCycle must be in [0, 1], got ${out.hiddenDutyCycle}`)
  return out
}

/** Effective share of time to compute, given visibility and recent compute times (ms). */
export function effectiveDuty(
  settings: ThrottleSettings,
  hidden: boolean,
  recentMs: readonly number[],
): number {
  let duty = hidden ? settings.hiddenDutyCycle : settings.dutyCycle
  if (recentMs.length >= 5) {
    const sorted = [...recentMs.slice(0, -1)].sort((a, b) => a - b)
    const median = sorted[sorted.length >> 1]!
    if (recentMs.at(-1)! > 3 * median) duty /= 2
  }
  return duty
}

/** Rest after a task of `computeMs` so that computing is `duty` of the time (Infinity: paused). */
export function restAfter(computeMs: number, duty: number): number {
  if (duty <= 0) return Number.POSITIVE_INFINITY
  if (duty >= 1) return 0
  return Math.round(computeMs * (1 / duty - 1))
}

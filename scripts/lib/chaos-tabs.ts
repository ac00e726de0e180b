/** Chaos scenarios about browser tabs (headless Chromium). */
import type { Scenario } from './chaos'

export const TAB_SCENARIOS: Scenario[] = []

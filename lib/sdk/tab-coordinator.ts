/**
 * Browser: the stats of this tab's coordinator, if the tab runs one (requester-browser.ts sets
 * it when its session opens), for pages that show them without opening a session or bundling
 * the coordinator (the network page). Imports types only.
 */
import type { CoordinatorStats } from '../jobs'

let current: (() => CoordinatorStats) | undefined

export function setTabCoordinator(stats: () => CoordinatorStats): void {
  current = stats
}

/** Undefined while this tab coordinates nothing. */
export function tabCoordinatorStats(): CoordinatorStats | undefined {
  return current?.()
}

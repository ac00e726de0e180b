'use client'
import type { InboundStats } from '../../lib/mesh'

const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`

/** What a reason's counters add up to, listed "name n" for those above zero. */
const listed = (counts: Record<string, number>) =>
  Object.entries(counts)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k} ${n}`)
    .join(', ')

/**
 * This tab's coordinator's inbound limits (lib/mesh/budget.ts): what peers' streams hold now
 * and at most, and what it refused (by limit) or dropped (by reason).
 */
export function InboundStatsView({ stats }: { stats: InboundStats }) {
  const refused = listed(stats.refused)
  const dropped = listed(stats.dropped)
  return (
    <div
      className="grid"
      data-testid="inbound-stats"
      data-refused={Object.values(stats.refused).reduce((a, b) => a + b, 0)}
      data-dropped={Object.values(stats.dropped).reduce((a, b) => a + b, 0)}
    >
      <div className="stat">
        <b>
          {stats.streams} / {stats.limits.totalStreams}
        </b>
        <span>inbound streams (peak {stats.peakStreams})</span>
      </div>
      <div className="stat">
        <b>{mib(stats.bytes)}</b>
        <span>
          held of {mib(stats.limits.totalBytes)} (peak {mib(stats.peakBytes)})
        </span>
      </div>
      <div className="stat">
        <b>{refused || 'none'}</b>
        <span>refused busy, by limit</span>
      </div>
      <div className="stat">
        <b>{dropped || 'none'}</b>
        <span>streams dropped, by reason</span>
      </div>
    </div>
  )
}

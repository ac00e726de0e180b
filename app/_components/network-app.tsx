'use client'
import { useEffect, useRef, useState } from 'react'
import {
  Bar,
  BarChart,
  CartesianGrid,
  Legend,
  Line,
  LineChart,
  ResponsiveContainer,
  Tooltip,
  XAxis,
  YAxis,
} from 'recharts'
import type { AppConfig } from '../../lib/env/app-config'
import { errorMessage } from '../../lib/errors'
import type { InboundStats } from '../../lib/mesh'
import type { JobSeen, NetworkSample } from '../../lib/sdk/network-stats'
import { type NetworkObserver, startObserver } from '../../lib/sdk/observer-browser'
import { tabCoordinatorStats } from '../../lib/sdk/tab-coordinator'
import { InboundStatsView } from './inbound-stats'

interface Health {
  peerId: string
  reservations: number
  connections: number
  peers: number
  topics: Record<string, number>
  gossip: { accepted: number; rejected: number }
  uptimeSeconds: number
}

/** Five minutes of samples, one every two seconds. */
const KEEP = 150
const SAMPLE_MS = 2000

type Point = NetworkSample & { time: string; relayPeers: number }

export function NetworkApp({ config }: { config: AppConfig }) {
  const [health, setHealth] = useState<Record<string, Health | string>>({})
  const [observer, setObserver] = useState<NetworkObserver | 'joining' | { error: string }>(
    'joining',
  )
  const [series, setSeries] = useState<Point[]>([])
  const [jobs, setJobs] = useState<JobSeen[]>([])
  const [inbound, setInbound] = useState<InboundStats>()
  const healthNow = useRef(health)
  healthNow.current = health

  useEffect(() => {
    const poll = () => {
      for (const url of config.relayHealth) {
        fetch(url)
          .then((r) => r.json())
          .then((h: Health) => setHealth((x) => ({ ...x, [url]: h })))
          .catch((err) => setHealth((x) => ({ ...x, [url]: String(err) })))
      }
    }
    poll()
    const t = setInterval(poll, SAMPLE_MS)
    return () => clearInterval(t)
  }, [config])

  // A listen-only peer on the mesh: what volunteers and coordinators announce.
  useEffect(() => {
    let stopped = false
    let obs: NetworkObserver | undefined
    startObserver(config).then(
      (o) => {
        obs = o
        if (stopped) void o.stop()
        else setObserver(o)
      },
      (err) => setObserver({ error: errorMessage(err) }),
    )
    return () => {
      stopped = true
      void obs?.stop()
    }
  }, [config])

  // A tab that coordinates jobs (it opened /request or a job page) shows its inbound limits.
  useEffect(() => {
    const poll = () => setInbound(tabCoordinatorStats()?.inbound)
    poll()
    const t = setInterval(poll, SAMPLE_MS)
    return () => clearInterval(t)
  }, [])

  useEffect(() => {
    if (typeof observer !== 'object' || 'error' in observer) return
    const tick = () => {
      const s = observer.stats.sample()
      const relayPeers = Object.values(healthNow.current).reduce(
        (n, h) => n + (typeof h === 'object' ? h.peers : 0),
        0,
      )
      const point = { ...s, relayPeers, time: new Date(s.at).toLocaleTimeString() }
      setSeries((xs) => [...xs.slice(-(KEEP - 1)), point])
      setJobs(observer.stats.jobs())
    }
    tick()
    const t = setInterval(tick, SAMPLE_MS)
    return () => clearInterval(t)
  }, [observer])

  const now = series.at(-1)
  const backends = Object.entries(now?.backends ?? {}).map(([backend, volunteers]) => ({
    backend,
    volunteers,
  }))
  return (
    <>
      <h1>Network</h1>
      <div className="card">
        <div>
          Chain {config.chainId} · escrow <span className="mono">{config.contract}</span>
        </div>
        <div className="muted">RPC {config.rpcUrl}</div>
      </div>

      <h2>Live</h2>
      {observer === 'joining' ? (
        <p className="muted" data-testid="network-joining">
          Joining the mesh to listen…
        </p>
      ) : 'error' in observer ? (
        <p className="bad">Cannot join the mesh: {observer.error}</p>
      ) : (
        <div
          data-testid="network-live"
          data-volunteers={now?.volunteers ?? 0}
          data-jobs={now?.jobsInFlight ?? 0}
          data-tasks-seen={now?.tasksSeen ?? 0}
        >
          <div className="grid">
            <div className="stat">
              <b>{now?.volunteers ?? 0}</b>
              <span>volunteers online</span>
            </div>
            <div className="stat">
              <b>{(now?.tasksPerSecond ?? 0).toFixed(1)}</b>
              <span>tasks per second</span>
            </div>
            <div className="stat">
              <b>{now?.jobsInFlight ?? 0}</b>
              <span>jobs in flight</span>
            </div>
            <div className="stat">
              <b>{now?.relayPeers ?? 0}</b>
              <span>peers on the relays</span>
            </div>
            <div className="stat">
              <b>{now?.tasksSeen ?? 0}</b>
              <span>tasks done since this page opened</span>
            </div>
          </div>
          <div className="card chart">
            <h3>Volunteers and throughput, last 5 minutes</h3>
            <ResponsiveContainer width="100%" height={220}>
              <LineChart data={series} margin={{ top: 8, right: 16, bottom: 0, left: 0 }}>
                <CartesianGrid strokeDasharray="3 3" />
                <XAxis dataKey="time" minTickGap={40} />
                <YAxis yAxisId="v" allowDecimals={false} />
                <YAxis yAxisId="t" orientation="right" />
                <Tooltip />
                <Legend />
                <Line
                  yAxisId="v"
                  type="stepAfter"
                  dataKey="volunteers"
                  name="volunteers online"
                  stroke="#2457d6"
                  dot={false}
                  isAnimationActive={false}
                />
                <Line
                  yAxisId="v"
                  type="stepAfter"
                  dataKey="jobsInFlight"
                  name="jobs in flight"
                  stroke="#9a6700"
                  dot={false}
                  isAnimationActive={false}
                />
                <Line
                  yAxisId="t"
                  type="monotone"
                  dataKey="tasksPerSecond"
                  name="tasks / s"
                  stroke="#1a7f37"
                  dot={false}
                  isAnimationActive={false}
                />
              </LineChart>
            </ResponsiveContainer>
          </div>
          <div className="card chart">
            <h3>Volunteers by backend</h3>
            {backends.length === 0 ? (
              <p className="muted">No volunteer heard yet.</p>
            ) : (
              <ResponsiveContainer width="100%" height={160}>
                <BarChart data={backends} layout="vertical" margin={{ left: 24, right: 16 }}>
                  <XAxis type="number" allowDecimals={false} />
                  <YAxis type="category" dataKey="backend" />
                  <Tooltip />
                  <Bar dataKey="volunteers" fill="#2457d6" isAnimationActive={false} />
                </BarChart>
              </ResponsiveContainer>
            )}
          </div>
          <h3>Jobs in flight</h3>
          {jobs.length === 0 ? (
            <p className="muted">None announced right now.</p>
          ) : (
            <table>
              <thead>
                <tr>
                  <th>job</th>
                  <th>tasks</th>
                  <th>replicas / quorum</th>
                  <th>policy</th>
                </tr>
              </thead>
              <tbody>
                {jobs.map((j) => (
                  <tr key={j.jobId}>
                    <td className="mono">{`${j.jobId.slice(0, 10)}…`}</td>
                    <td>{j.taskCount}</td>
                    <td>
                      {j.replicas} / {j.quorum}
                    </td>
                    <td>{j.policy}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      )}

      {inbound && (
        <>
          <h2>This tab's coordinator</h2>
          <div className="card">
            <InboundStatsView stats={inbound} />
          </div>
        </>
      )}

      <h2>Relays</h2>
      {config.relays.map((r, i) => {
        const url = config.relayHealth[i]
        const h = url ? health[url] : undefined
        return (
          <div className="card" key={r}>
            <div className="mono">{r}</div>
            {typeof h === 'object' ? (
              <div className="grid" style={{ marginTop: '.5rem' }}>
                <div className="stat">
                  <b>{h.reservations}</b>
                  <span>reservations (tabs reachable)</span>
                </div>
                <div className="stat">
                  <b>{h.peers}</b>
                  <span>connected peers</span>
                </div>
                <div className="stat">
                  <b>{h.topics['meshwork/1/jobs'] ?? 0}</b>
                  <span>subscribed to jobs</span>
                </div>
                <div className="stat">
                  <b>{h.gossip.rejected}</b>
                  <span>gossip messages rejected</span>
                </div>
                <div className="stat">
                  <b>{Math.round(h.uptimeSeconds / 60)} min</b>
                  <span>uptime</span>
                </div>
              </div>
            ) : (
              <p className="muted">
                {h
                  ? `health endpoint unreachable: ${h}`
                  : url
                    ? 'checking…'
                    : 'no health endpoint configured'}
              </p>
            )}
          </div>
        )
      })}
    </>
  )
}

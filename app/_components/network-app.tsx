'use client'
import { useEffect, useState } from 'react'
import type { AppConfig } from '../../lib/env/app-config'

interface Health {
  peerId: string
  reservations: number
  connections: number
  peers: number
  topics: Record<string, number>
  gossip: { accepted: number; rejected: number }
  uptimeSeconds: number
}

export function NetworkApp({ config }: { config: AppConfig }) {
  const [health, setHealth] = useState<Record<string, Health | string>>({})
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
    const t = setInterval(poll, 2000)
    return () => clearInterval(t)
  }, [config])
  return (
    <>
      <h1>Network</h1>
      <div className="card">
        <div>
          Chain {config.chainId} · escrow <span className="mono">{config.contract}</span>
        </div>
        <div className="muted">RPC {config.rpcUrl}</div>
      </div>
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

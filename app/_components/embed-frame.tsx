'use client'
/**
 * /embed: the frame that lib/embed/loader.ts puts into another site's page. It asks the visitor
 * (or waits for the host page's answer), runs a volunteer session like /volunteer does, and
 * reports its state to the host page. Nothing starts before consent.
 */
import { useCallback, useEffect, useRef, useState } from 'react'
import { formatEther } from 'viem'
import {
  type EmbedStatus,
  type FrameParams,
  type FromFrame,
  parseFrameQuery,
  parseToFrame,
} from '../../lib/embed/protocol'
import type { AppConfig } from '../../lib/env/app-config'
import { errorMessage } from '../../lib/errors'
import { startVolunteer, type VolunteerSession } from '../../lib/sdk/volunteer-browser'

/** Remembered per embedding site (the browser partitions a frame's storage by top-level site). */
const CONSENT_KEY = 'meshwork-embed-consent'

interface BatteryLike extends EventTarget {
  charging: boolean
}

export function EmbedFrame({ config }: { config: AppConfig }) {
  const [params] = useState<{ ok: true; p: FrameParams } | { ok: false; error: string }>(() => {
    try {
      return { ok: true, p: parseFrameQuery(location.search) }
    } catch (err) {
      return { ok: false, error: errorMessage(err) }
    }
  })
  const [status, setStatus] = useState<EmbedStatus>({ state: 'starting', tasksDone: 0 })
  const session = useRef<VolunteerSession | undefined>(undefined)
  const onBattery = useRef(false)
  const stopping = useRef<Promise<void> | undefined>(undefined)

  const report = useCallback((s: EmbedStatus) => {
    setStatus(s)
    if (window.parent !== window) {
      const m: FromFrame = { type: 'meshwork:status', status: s }
      window.parent.postMessage(m, '*')
    }
  }, [])

  const snapshot = useCallback(
    (credited?: bigint): EmbedStatus => {
      const s = session.current
      if (!s) return { state: 'stopped', tasksDone: 0 }
      const snap = s.snapshot()
      const hidden = document.visibilityState === 'hidden'
      const pausedBy = onBattery.current
        ? 'battery'
        : snap.worker.duty <= 0 && hidden
          ? 'hidden'
          : undefined
      return {
        state: pausedBy ? 'paused' : 'running',
        pausedBy,
        address: snap.address,
        peerId: snap.peerId,
        backend: snap.backend,
        tasksDone: snap.worker.tasksDone,
        credited: credited?.toString(),
        payout: params.ok ? params.p.payout : undefined,
      }
    },
    [params],
  )

  const start = useCallback(async () => {
    if (!params.ok || session.current) return
    report({ state: 'starting', tasksDone: 0 })
    try {
      const p = params.p
      session.current = await startVolunteer({
        config: { ...config, relays: p.relays.length > 0 ? p.relays : config.relays },
        threads: p.threads,
        throttle: { dutyCycle: p.dutyCycle, hiddenDutyCycle: p.hiddenDutyCycle },
        payout: p.payout,
      })
      const nav = navigator as Navigator & { getBattery?: () => Promise<BatteryLike> }
      if (p.pauseOnBattery && nav.getBattery) {
        const battery = await nav.getBattery().catch(() => undefined)
        const check = () => {
          onBattery.current = battery ? !battery.charging : false
          if (onBattery.current) session.current?.worker.pause()
          else session.current?.worker.resume()
        }
        battery?.addEventListener('chargingchange', check)
        check()
      }
      report(snapshot())
    } catch (err) {
      report({ state: 'error', tasksDone: 0, error: errorMessage(err) })
    }
  }, [config, params, report, snapshot])

  const stop = useCallback(async () => {
    stopping.current ??= (async () => {
      const s = session.current
      const last = s ? snapshot() : undefined
      session.current = undefined
      await s?.stop().catch(() => {})
      report({ ...(last ?? { tasksDone: 0 }), state: 'stopped', pausedBy: undefined })
    })()
    return stopping.current
  }, [report, snapshot])

  // First state, and the host page's messages.
  useEffect(() => {
    if (!params.ok) {
      report({ state: 'error', tasksDone: 0, error: params.error })
      return
    }
    const onMessage = (e: MessageEvent) => {
      if (e.source !== window.parent || window.parent === window) return
      const m = parseToFrame(e.data)
      if (!m) return
      if (m.type === 'meshwork:consent' && params.p.consent === 'host') {
        if (m.granted) void start()
        else report({ state: 'declined', tasksDone: 0 })
      } else if (m.type === 'meshwork:throttle') {
        session.current?.setThrottle(m.throttle)
        if (m.throttle.pauseOnBattery === false && onBattery.current) {
          onBattery.current = false
          session.current?.worker.resume()
        }
      } else if (m.type === 'meshwork:stop') void stop()
    }
    window.addEventListener('message', onMessage)
    if (params.p.consent === 'host') report({ state: 'waiting-for-consent', tasksDone: 0 })
    else if (localStorage.getItem(CONSENT_KEY) === 'granted') void start()
    else report({ state: 'asking', tasksDone: 0 })
    return () => window.removeEventListener('message', onMessage)
  }, [params, report, start, stop])

  // While running: the state about once a second, what it earned every few seconds.
  const running = status.state === 'running' || status.state === 'paused'
  useEffect(() => {
    if (!running) return
    let credited: bigint | undefined
    const tick = () => session.current && report(snapshot(credited))
    const chain = () =>
      session.current
        ?.credited()
        .then((c) => {
          credited = c
        })
        .catch(() => {})
    void chain()
    const t1 = setInterval(tick, 1000)
    const t2 = setInterval(chain, 5000)
    return () => {
      clearInterval(t1)
      clearInterval(t2)
    }
  }, [running, report, snapshot])

  useEffect(() => () => void session.current?.stop(), [])

  const allow = () => {
    localStorage.setItem(CONSENT_KEY, 'granted')
    void start()
  }
  const decline = () => report({ state: 'declined', tasksDone: 0 })
  const stopByVisitor = () => {
    localStorage.removeItem(CONSENT_KEY)
    void stop()
  }

  return (
    <div className="embed" data-testid="embed" data-state={status.state}>
      <strong>Meshwork</strong>
      {status.state === 'asking' && (
        <>
          <p>
            Lend this page’s spare computing power to run AI models for others? It runs only while
            this page is open{params.ok && params.p.hiddenDutyCycle === 0 ? ' and visible' : ''}, at
            most {params.ok ? Math.round(params.p.dutyCycle * 100) : 0} % of the time.
          </p>
          <button type="button" data-testid="embed-allow" onClick={allow}>
            Allow
          </button>{' '}
          <button type="button" className="secondary" data-testid="embed-decline" onClick={decline}>
            No thanks
          </button>
        </>
      )}
      {status.state === 'waiting-for-consent' && <p className="muted">Waiting for your answer…</p>}
      {status.state === 'declined' && <p className="muted">Nothing is computed here.</p>}
      {status.state === 'starting' && <p className="muted">Connecting…</p>}
      {running && (
        <>
          <p
            data-testid="embed-status"
            data-peer-id={status.peerId}
            data-address={status.address}
            data-payout={status.payout}
            data-direct-peers={session.current?.snapshot().directPeerIds.join(',')}
          >
            {status.state === 'paused'
              ? `Paused (${status.pausedBy === 'battery' ? 'on battery' : 'page hidden'})`
              : `Computing on ${status.backend}`}{' '}
            · {status.tasksDone} tasks
            {status.credited ? ` · ${formatEther(BigInt(status.credited))} ETH earned` : ''}
            {status.payout
              ? ` · paid to ${status.payout.slice(0, 6)}…${status.payout.slice(-4)}`
              : ''}
          </p>
          <button
            type="button"
            className="secondary"
            data-testid="embed-stop"
            onClick={stopByVisitor}
          >
            Stop
          </button>
        </>
      )}
      {status.state === 'stopped' && <p className="muted">Stopped. Nothing more is computed.</p>}
      {status.state === 'error' && (
        <p className="bad" data-testid="embed-error">
          {status.error}
        </p>
      )}
    </div>
  )
}

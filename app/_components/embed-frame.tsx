'use client'
/**
 * /embed: the frame that lib/embed/loader.ts puts into another site's page. It asks the visitor
 * (or waits for the host page's answer), runs a volunteer session like /volunteer does, and
 * reports its state to the host page. Nothing starts before consent.
 *
 * Who embeds it decides what it does (lib/embed/origins.ts): it learns the embedding page's
 * origin from the browser (`location.ancestorOrigins`, or the `event.origin` of the loader's
 * hello), posts its status to that origin only, takes the host page's consent only from a site
 * the operator trusts, and for a site that may not embed it does nothing but say so.
 *
 * The visitor can always see and stop the work: it computes only while the frame is at least
 * MIN_FRAME_SIZE (a host page that shrinks or hides it pauses it), and the frame itself shows
 * what runs with a Stop button, whoever asked for consent.
 */
import { useCallback, useEffect, useRef, useState } from 'react'
import { formatEther } from 'viem'
import {
  type EmbedAccess,
  type EmbedPolicyResult,
  effectiveConsent,
  embedAccess,
  frameMessageTarget,
  statusTarget,
} from '../../lib/embed/origins'
import {
  type EmbedStatus,
  type FrameParams,
  type FromFrame,
  MIN_FRAME_SIZE,
  parseFrameQuery,
  parseToFrame,
} from '../../lib/embed/protocol'
import type { AppConfig } from '../../lib/env/app-config'
import { errorMessage } from '../../lib/errors'
import { startVolunteer, type VolunteerSession } from '../../lib/sdk/volunteer-browser'

/** Remembered per embedding site (the browser partitions a frame's storage by top-level site). */
const CONSENT_KEY = 'meshwork-embed-consent'

const PAUSED_BY = {
  battery: 'on battery',
  hidden: 'page hidden',
  'too-small': 'this box is too small to show you what runs',
} as const

interface BatteryLike extends EventTarget {
  charging: boolean
}

/** What the browser says about the frame's ancestors, parent first (Chromium, Safari). */
function ancestorOrigins(): string[] | undefined {
  const list = (location as Location & { ancestorOrigins?: DOMStringList }).ancestorOrigins
  return list ? Array.from(list) : undefined
}

export function EmbedFrame({ config, embed }: { config: AppConfig; embed: EmbedPolicyResult }) {
  const [params] = useState<{ ok: true; p: FrameParams } | { ok: false; error: string }>(() => {
    if (!embed.ok) return { ok: false, error: embed.error }
    try {
      return { ok: true, p: parseFrameQuery(location.search) }
    } catch (err) {
      return { ok: false, error: errorMessage(err) }
    }
  })
  const framed = window.parent !== window
  const [access, setAccess] = useState<EmbedAccess>(() =>
    embed.ok
      ? embedAccess({
          policy: embed.policy,
          appOrigin: location.origin,
          framed,
          ancestors: ancestorOrigins(),
        })
      : { status: 'refused', origin: '', reason: embed.error },
  )
  /** The same, for message handlers that must see a hello's answer at once. */
  const accessRef = useRef(access)
  const [status, setStatus] = useState<EmbedStatus>({ state: 'starting', tasksDone: 0 })
  const session = useRef<VolunteerSession | undefined>(undefined)
  const onBattery = useRef(false)
  /** The frame is too small to show the visitor what runs (see MIN_FRAME_SIZE). */
  const tooSmall = useRef(false)
  const stopping = useRef<Promise<void> | undefined>(undefined)

  const report = useCallback((s: EmbedStatus) => {
    setStatus(s)
    // Only to the embedding page's own origin, and only to a page allowed to embed the frame:
    // the status names the volunteer's address, peer id, payout and earnings.
    const target = frameMessageTarget('meshwork:status', accessRef.current)
    if (window.parent !== window && target) {
      const m: FromFrame = { type: 'meshwork:status', status: s }
      window.parent.postMessage(m, target)
    }
  }, [])

  /** Computes only while neither the battery nor the frame's size says pause. */
  const applyPause = useCallback(() => {
    const s = session.current
    if (!s) return
    if (onBattery.current || tooSmall.current) s.worker.pause()
    else s.worker.resume()
  }, [])

  const snapshot = useCallback(
    (credited?: bigint): EmbedStatus => {
      const s = session.current
      if (!s) return { state: 'stopped', tasksDone: 0 }
      const snap = s.snapshot()
      const hidden = document.visibilityState === 'hidden'
      const pausedBy = onBattery.current
        ? 'battery'
        : tooSmall.current
          ? 'too-small'
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
          applyPause()
        }
        battery?.addEventListener('chargingchange', check)
        check()
      }
      applyPause()
      report(snapshot())
    } catch (err) {
      report({ state: 'error', tasksDone: 0, error: errorMessage(err) })
    }
  }, [applyPause, config, params, report, snapshot])

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

  // First state, once the frame knows who embeds it, and the host page's messages.
  useEffect(() => {
    if (!params.ok) {
      report({ state: 'error', tasksDone: 0, error: params.error })
      return
    }
    const p = params.p
    let begun = false
    const begin = () => {
      const a = accessRef.current
      if (begun || a.status === 'pending') return
      begun = true
      setAccess(a)
      if (a.status === 'refused') return
      if (effectiveConsent(p.consent, a) === 'host')
        report({ state: 'waiting-for-consent', tasksDone: 0 })
      else if (localStorage.getItem(CONSENT_KEY) === 'granted') void start()
      else report({ state: 'asking', tasksDone: 0 })
    }
    const onMessage = (e: MessageEvent) => {
      if (e.source !== window.parent || window.parent === window) return
      const m = parseToFrame(e.data)
      if (!m) return
      if (m.type === 'meshwork:hello') {
        // The browser stamped this with the parent's origin: it cannot be forged by the page.
        if (accessRef.current.status === 'pending' && embed.ok) {
          accessRef.current = embedAccess({
            policy: embed.policy,
            appOrigin: location.origin,
            framed: true,
            ancestors: [e.origin],
          })
          begin()
        }
        return
      }
      // Everything else only from the origin the frame reports to (never from a refused one).
      if (e.origin !== statusTarget(accessRef.current)) return
      if (
        m.type === 'meshwork:consent' &&
        effectiveConsent(p.consent, accessRef.current) === 'host'
      ) {
        if (m.granted) void start()
        else report({ state: 'declined', tasksDone: 0 })
      } else if (m.type === 'meshwork:throttle') {
        session.current?.setThrottle(m.throttle)
        if (m.throttle.pauseOnBattery === false && onBattery.current) {
          onBattery.current = false
          applyPause()
        }
      } else if (m.type === 'meshwork:stop') void stop()
    }
    window.addEventListener('message', onMessage)
    // Ask the page who it is (its loader answers with a hello), unless the browser already said
    // it may not embed the frame. `ready` carries nothing, so it may go to '*' while the
    // parent's origin is unknown; once it is known, to that origin only.
    const target = frameMessageTarget('meshwork:ready', accessRef.current)
    if (framed && target) {
      const ready: FromFrame = { type: 'meshwork:ready' }
      window.parent.postMessage(ready, target)
    }
    begin()
    return () => window.removeEventListener('message', onMessage)
  }, [applyPause, embed, framed, params, report, start, stop])

  // The frame's own size: a host page that shrinks or hides it pauses the work.
  useEffect(() => {
    const check = () => {
      tooSmall.current =
        window.innerWidth < MIN_FRAME_SIZE.width || window.innerHeight < MIN_FRAME_SIZE.height
      applyPause()
    }
    check()
    window.addEventListener('resize', check)
    return () => window.removeEventListener('resize', check)
  }, [applyPause])

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

  if (access.status === 'refused')
    return (
      <div className="embed" data-testid="embed" data-state="refused">
        <strong>Meshwork</strong>
        <p className="bad" data-testid="embed-refused">
          Not started: {access.reason}. Nothing is computed here and nothing is sent to this page.
        </p>
      </div>
    )

  const downgraded = params.ok && params.p.consent === 'host' && access.status === 'open'
  return (
    <div
      className="embed"
      data-testid="embed"
      data-state={status.state}
      data-access={access.status}
    >
      <strong>Meshwork</strong>
      {status.state === 'asking' && (
        <>
          {downgraded && (
            <p className="muted" data-testid="embed-downgraded">
              {access.origin} wanted to ask you in its own page, but it is not among the sites this
              Meshwork app trusts to do that, so Meshwork asks you here.
            </p>
          )}
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
              ? `Paused (${PAUSED_BY[status.pausedBy ?? 'hidden']})`
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

/**
 * The embed loader: what another site's page runs. Served as /embed.mjs (an ES module exporting
 * `startVolunteer`) and as /embed.js (a classic script that reads its `data-*` attributes and
 * starts one volunteer; see script-tag.ts). No dependencies: it only makes the frame and talks
 * to it (protocol.ts). docs/embedding.md lists the options.
 */
import {
  EMBED_DEFAULTS,
  type EmbedStatus,
  type EmbedThrottle,
  frameQuery,
  parseFromFrame,
  parsePayout,
  parseThrottle,
  type ToFrame,
} from './protocol'

export type { EmbedStatus, EmbedThrottle }

export interface EmbedOptions {
  /** Share of time computing while the page is visible, in (0, 1]. Default 0.5. */
  dutyCycle?: number | undefined
  /** Share while the page is hidden, in [0, 1]. Default 0: nothing while hidden. */
  hiddenDutyCycle?: number | undefined
  /** Pause while the device runs on battery (where the browser tells). Default true. */
  pauseOnBattery?: boolean | undefined
  /** The Meshwork app's origin, e.g. "https://meshwork.example". Default: where this script came from. */
  host?: string | undefined
  /**
   * Who asks the visitor. 'frame' (default): the frame shows its own short question with Allow
   * and No thanks. A function: your page asks in its own UI and resolves true to consent;
   * nothing computes before it does.
   */
  consent?: 'frame' | (() => boolean | Promise<boolean>) | undefined
  /** Relay multiaddrs to use instead of the app's configured ones. */
  relays?: string[] | undefined
  /** Inference threads (more than 1 only where the page is cross-origin isolated). Default 1. */
  threads?: number | undefined
  /**
   * Where the visitor's pay goes, e.g. your site's treasury. Default: the volunteer's own key,
   * which lives in the visitor's browser storage for your site. The volunteer signs this address
   * once; the requesters that pay it record it on chain, and withdrawals then go there.
   */
  payout?: string | undefined
  /** Element (or CSS selector) to put the frame in. Default: a small box fixed at the bottom right. */
  container?: HTMLElement | string | undefined
  /** Called on every change of state and about once a second while running. */
  onStatus?: ((status: EmbedStatus) => void) | undefined
}

export interface EmbeddedVolunteer {
  /** The latest status from the frame. */
  readonly status: EmbedStatus
  /** The frame element (styled by the host page as it likes). */
  readonly frame: HTMLIFrameElement
  /** Changes how much of the machine is given, from the next task on. */
  setThrottle(t: Partial<EmbedThrottle>): void
  /**
   * Stops computing (results already computed are delivered first, up to a few seconds),
   * closes the mesh connection and removes the frame. Resolves when done.
   */
  stop(): Promise<void>
}

/**
 * Where the loader itself was served from: the app's origin. Read when the script runs, since
 * document.currentScript is null later (and in modules, which have import.meta.url instead).
 */
const loadedFrom = (() => {
  const script = typeof document !== 'undefined' ? document.currentScript : null
  if (script instanceof HTMLScriptElement && script.src) return new URL(script.src).origin
  if (typeof import.meta !== 'undefined' && import.meta.url?.startsWith('http'))
    return new URL(import.meta.url).origin
  return undefined
})()

const STOP_WAIT_MS = 8000
/** How long after the frame loaded its silence is worth a console warning. */
const SILENT_WARN_MS = 15_000

export function startVolunteer(opts: EmbedOptions = {}): EmbeddedVolunteer {
  const from = opts.host ?? loadedFrom
  if (!from) throw new Error('Meshwork embed: pass `host` (the Meshwork app origin).')
  const host = new URL(from).origin
  const throttle = parseThrottle({
    dutyCycle: opts.dutyCycle ?? EMBED_DEFAULTS.dutyCycle,
    hiddenDutyCycle: opts.hiddenDutyCycle ?? EMBED_DEFAULTS.hiddenDutyCycle,
    pauseOnBattery: opts.pauseOnBattery ?? EMBED_DEFAULTS.pauseOnBattery,
  })
  const threads = opts.threads ?? EMBED_DEFAULTS.threads
  if (!(Number.isInteger(threads) && threads >= 1))
    throw new RangeError(`Meshwork embed: threads must be a whole number ≥ 1, got ${threads}`)
  let payout: `0x${string}` | undefined
  try {
    payout = opts.payout === undefined ? undefined : parsePayout(opts.payout)
  } catch (err) {
    throw new TypeError(`Meshwork embed: ${(err as Error).message}`)
  }
  const askHost = typeof opts.consent === 'function' ? opts.consent : undefined
  const frame = document.createElement('iframe')
  frame.title = 'Meshwork volunteer'
  frame.src = `${host}/embed?${frameQuery({
    ...throttle,
    threads,
    consent: askHost ? 'host' : 'frame',
    relays: opts.relays ?? [],
    payout,
  })}`
  frame.setAttribute('data-meshwork', 'volunteer')
  const container =
    typeof opts.container === 'string' ? document.querySelector(opts.container) : opts.container
  if (opts.container !== undefined && !container)
    throw new Error(`Meshwork embed: no element matches ${String(opts.container)}`)
  if (!container) {
    Object.assign(frame.style, {
      position: 'fixed',
      right: '12px',
      bottom: '12px',
      width: '320px',
      height: '132px',
      border: '1px solid #ccc',
      borderRadius: '8px',
      background: '#fff',
      zIndex: '2147483000',
      boxShadow: '0 2px 12px rgba(0,0,0,.15)',
    })
  } else {
    Object.assign(frame.style, { width: '100%', height: '132px', border: '0' })
  }
  let status: EmbedStatus = { state: askHost ? 'waiting-for-consent' : 'asking', tasksDone: 0 }
  let stopped: (() => void) | undefined
  /** Messages wait until the frame has said something: before that it may not listen yet. */
  let queue: ToFrame[] | undefined = []
  const post = (m: ToFrame) => {
    if (queue) queue.push(m)
    else frame.contentWindow?.postMessage(m, host)
  }
  let asked = false
  /** Whether the frame has said anything (a frame refused by frame-ancestors never does). */
  let heard = false

  const onMessage = (e: MessageEvent) => {
    if (e.source !== frame.contentWindow || e.origin !== host) return
    const m = parseFromFrame(e.data)
    if (!m) return
    heard = true
    // The frame asks who embeds it; this answer reaches it stamped with this page's origin.
    if (m.type === 'meshwork:ready') {
      frame.contentWindow?.postMessage({ type: 'meshwork:hello' } satisfies ToFrame, host)
      return
    }
    status = m.status
    if (queue) {
      const q = queue
      queue = undefined
      for (const x of q) post(x)
    }
    opts.onStatus?.(status)
    if (status.state === 'stopped' || status.state === 'declined') stopped?.()
    // The host page's own question, once the frame is there to hear the answer.
    if (status.state === 'waiting-for-consent' && askHost && !asked) {
      asked = true
      Promise.resolve()
        .then(askHost)
        .then(
          (granted) => post({ type: 'meshwork:consent', granted: granted === true }),
          () => post({ type: 'meshwork:consent', granted: false }),
        )
    }
  }
  window.addEventListener('message', onMessage)
  // A frame that the app refuses to be framed by this site (frame-ancestors) never says a word:
  // tell the site's developer why, once, instead of leaving them with a silent box.
  const silence = () => {
    if (!heard && frame.isConnected)
      console.warn(
        `Meshwork embed: the frame from ${host} has not answered ${SILENT_WARN_MS / 1000} s after loading. ` +
          `If the console shows a frame-ancestors error, this site (${location.origin}) is not among the sites ` +
          'that Meshwork app may be embedded in: its operator lists them in MESHWORK_EMBED_ORIGINS.',
      )
  }
  frame.addEventListener('load', () => setTimeout(silence, SILENT_WARN_MS), { once: true })
  ;(container ?? document.body).appendChild(frame)

  const remove = () => {
    window.removeEventListener('message', onMessage)
    frame.remove()
  }
  return {
    get status() {
      return status
    },
    frame,
    setThrottle(t) {
      post({ type: 'meshwork:throttle', throttle: parseThrottle(t) })
    },
    stop() {
      if (!frame.isConnected) return Promise.resolve()
      return new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer)
          remove()
          resolve()
        }
        // The frame delivers what it holds, then says 'stopped'; removing the frame ends it anyway.
        const timer = setTimeout(done, STOP_WAIT_MS)
        stopped = done
        if (status.state === 'stopped' || status.state === 'declined') done()
        else post({ type: 'meshwork:stop' })
      })
    },
  }
}

/**
 * The embed: another site's page runs a Meshwork volunteer through one script. The script (the
 * loader, lib/embed/loader.ts, served as /embed.js and /embed.mjs) puts a small frame of the
 * Meshwork app (/embed) into the page; the frame asks the visitor (or waits for the host page's
 * consent), runs the volunteer session and reports its state. The two talk by postMessage only,
 * in the messages below; either side checks what it receives and drops anything else.
 *
 * Why a frame: the inference Web Worker, IndexedDB (the volunteer's key, models, outbox) and
 * ONNX Runtime's files must come from the Meshwork origin, and the frame keeps the volunteer's
 * storage apart from the host page's (the browser partitions it per embedding site).
 */

/** How much of the machine to give; the frame also pauses while the device is on battery. */
export interface EmbedThrottle {
  /** Share of time computing while the page is visible, in (0, 1]. Embed default 0.5. */
  dutyCycle: number
  /** Share while the page is hidden, in [0, 1]. Embed default 0: pause when hidden. */
  hiddenDutyCycle: number
  /** Pause while the device runs on battery (where the browser tells). Default true. */
  pauseOnBattery: boolean
}

export const EMBED_DEFAULTS: EmbedThrottle & { threads: number } = {
  dutyCycle: 0.5,
  hiddenDutyCycle: 0,
  pauseOnBattery: true,
  threads: 1,
}

/**
 * The smallest frame (CSS pixels) that shows the visitor what runs and its Stop button. A smaller
 * frame (a host page that hides it: width or height 0, display: none) computes nothing.
 */
export const MIN_FRAME_SIZE = { width: 150, height: 50 } as const

export type EmbedState =
  /** The frame shows its consent question. */
  | 'asking'
  /** Waiting for the host page's consent (consent: 'host'). */
  | 'waiting-for-consent'
  | 'declined'
  | 'starting'
  | 'running'
  /** Consented, but not computing now (page hidden with nothing to give, or on battery). */
  | 'paused'
  | 'stopped'
  | 'error'

export interface EmbedStatus {
  state: EmbedState
  /**
   * Why paused: 'hidden' (page hidden), 'battery', or 'too-small' (the frame is smaller than
   * MIN_FRAME_SIZE, so the visitor cannot see it or its Stop button).
   */
  pausedBy?: 'hidden' | 'battery' | 'too-small' | undefined
  /** This volunteer's address (it is paid there) and peer id, once running. */
  address?: string | undefined
  peerId?: string | undefined
  backend?: string | undefined
  tasksDone: number
  /** Wei credited on chain and not yet withdrawn, as a decimal string. */
  credited?: string | undefined
  /** Where withdrawn pay goes (the embed's `payout`); absent: to `address`. */
  payout?: string | undefined
  error?: string | undefined
}

/**
 * Loader → frame. `hello` answers the frame's `ready`: the browser stamps it with the host page's
 * origin (`event.origin`), which tells the frame where it is embedded in browsers without
 * `location.ancestorOrigins`. The frame posts its status to that origin only (origins.ts).
 */
export type ToFrame =
  | { type: 'meshwork:hello' }
  | { type: 'meshwork:consent'; granted: boolean }
  | { type: 'meshwork:throttle'; throttle: Partial<EmbedThrottle> }
  | { type: 'meshwork:stop' }

/**
 * Frame → loader. `ready` carries nothing: the frame may post it before it knows who embeds it
 * (to '*'), and posts everything else only to an embedding origin it allows.
 */
export type FromFrame =
  | { type: 'meshwork:ready' }
  | { type: 'meshwork:status'; status: EmbedStatus }

const STATES: readonly EmbedState[] = [
  'asking',
  'waiting-for-consent',
  'declined',
  'starting',
  'running',
  'paused',
  'stopped',
  'error',
]

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null

/** A throttle change, checked: out-of-range or mistyped fields are an error, unknown ones ignored. */
export function parseThrottle(v: unknown): Partial<EmbedThrottle> {
  if (!isObject(v)) throw new TypeError('throttle must be an object')
  const out: Partial<EmbedThrottle> = {}
  if (v.dutyCycle !== undefined) {
    const d = Number(v.dutyCycle)
    if (!(d > 0 && d <= 1)) throw new RangeError(`dutyCycle must be in (0, 1], got ${v.dutyCycle}`)
    out.dutyCycle = d
  }
  if (v.hiddenDutyCycle !== undefined) {
    const d = Number(v.hiddenDutyCycle)
    if (!(d >= 0 && d <= 1))
      throw new RangeError(`hiddenDutyCycle must be in [0, 1], got ${v.hiddenDutyCycle}`)
    out.hiddenDutyCycle = d
  }
  if (v.pauseOnBattery !== undefined) {
    if (typeof v.pauseOnBattery !== 'boolean')
      throw new TypeError(`pauseOnBattery must be true or false, got ${v.pauseOnBattery}`)
    out.pauseOnBattery = v.pauseOnBattery
  }
  return out
}

/** A message for the frame, or undefined if it is not one (other scripts post messages too). */
export function parseToFrame(data: unknown): ToFrame | undefined {
  if (!isObject(data) || typeof data.type !== 'string') return undefined
  switch (data.type) {
    case 'meshwork:consent':
      return typeof data.granted === 'boolean'
        ? { type: data.type, granted: data.granted }
        : undefined
    case 'meshwork:hello':
    case 'meshwork:stop':
      return { type: data.type }
    case 'meshwork:throttle':
      try {
        return { type: data.type, throttle: parseThrottle(data.throttle) }
      } catch {
        return undefined
      }
    default:
      return undefined
  }
}

const ADDRESS = /^0x[0-9a-fA-F]{40}$/

/** A payout address, checked: the loader refuses a bad one before anything starts. */
export function parsePayout(v: unknown): `0x${string}` {
  if (typeof v !== 'string' || !ADDRESS.test(v))
    throw new TypeError(
      `payout must be an address (0x followed by 40 hex digits), got ${String(v)}`,
    )
  return v as `0x${string}`
}

const optString = (v: unknown) => (typeof v === 'string' ? v.slice(0, 200) : undefined)

/** A message from the frame (its ready, or a status), or undefined if the message is not one. */
export function parseFromFrame(data: unknown): FromFrame | undefined {
  if (isObject(data) && data.type === 'meshwork:ready') return { type: 'meshwork:ready' }
  if (!isObject(data) || data.type !== 'meshwork:status' || !isObject(data.status)) return undefined
  const s = data.status
  if (!STATES.includes(s.state as EmbedState)) return undefined
  const tasksDone = Number(s.tasksDone)
  return {
    type: 'meshwork:status',
    status: {
      state: s.state as EmbedState,
      pausedBy:
        s.pausedBy === 'hidden' || s.pausedBy === 'battery' || s.pausedBy === 'too-small'
          ? s.pausedBy
          : undefined,
      address: optString(s.address),
      peerId: optString(s.peerId),
      backend: optString(s.backend),
      tasksDone: Number.isSafeInteger(tasksDone) && tasksDone >= 0 ? tasksDone : 0,
      credited:
        typeof s.credited === 'string' && /^\d{1,78}$/.test(s.credited) ? s.credited : undefined,
      payout: typeof s.payout === 'string' && ADDRESS.test(s.payout) ? s.payout : undefined,
      error: optString(s.error),
    },
  }
}

/** The frame's settings travel in its URL's query. */
export interface FrameParams extends EmbedThrottle {
  threads: number
  /** 'frame': the frame asks the visitor; 'host': the host page asks and posts its answer. */
  consent: 'frame' | 'host'
  /** Relays to use instead of the app's configured ones. */
  relays: string[]
  /** Where the volunteer's pay goes (the site's treasury); default: its own key's address. */
  payout?: `0x${string}` | undefined
}

export function frameQuery(p: Partial<FrameParams>): string {
  const q = new URLSearchParams()
  if (p.consent) q.set('consent', p.consent)
  if (p.threads !== undefined) q.set('threads', String(p.threads))
  if (p.dutyCycle !== undefined) q.set('duty', String(p.dutyCycle))
  if (p.hiddenDutyCycle !== undefined) q.set('hiddenDuty', String(p.hiddenDutyCycle))
  if (p.pauseOnBattery !== undefined) q.set('battery', p.pauseOnBattery ? 'pause' : 'run')
  for (const r of p.relays ?? []) q.append('relay', r)
  if (p.payout) q.set('payout', p.payout)
  return q.toString()
}

/** Reads the frame's query; throws a RangeError naming the bad parameter. */
export function parseFrameQuery(search: string): FrameParams {
  const q = new URLSearchParams(search)
  const consent = q.get('consent') ?? 'frame'
  if (consent !== 'frame' && consent !== 'host')
    throw new RangeError(`consent must be "frame" or "host", got "${consent}"`)
  const threads = Number(q.get('threads') ?? EMBED_DEFAULTS.threads)
  if (!(Number.isInteger(threads) && threads >= 1 && threads <= 64))
    throw new RangeError(`threads must be a whole number from 1 to 64, got "${q.get('threads')}"`)
  const battery = q.get('battery') ?? 'pause'
  if (battery !== 'pause' && battery !== 'run')
    throw new RangeError(`battery must be "pause" or "run", got "${battery}"`)
  const throttle = parseThrottle({
    dutyCycle: q.get('duty') ?? EMBED_DEFAULTS.dutyCycle,
    hiddenDutyCycle: q.get('hiddenDuty') ?? EMBED_DEFAULTS.hiddenDutyCycle,
  })
  const relays = q.getAll('relay')
  for (const r of relays)
    if (!/^\/(ip4|ip6|dns|dns4|dns6)\/[^/]+\/tcp\/\d+\/(ws|wss|tls\/ws)\/p2p\/\w+$/.test(r))
      throw new RangeError(`relay must be a WebSocket multiaddr ending in /p2p/ID, got "${r}"`)
  const payout = q.get('payout')
  return {
    ...(payout !== null ? { payout: parsePayout(payout) } : {}),
    consent,
    threads,
    dutyCycle: throttle.dutyCycle!,
    hiddenDutyCycle: throttle.hiddenDutyCycle!,
    pauseOnBattery: battery === 'pause',
    relays,
  }
}

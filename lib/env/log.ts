/**
 * One logger with levels for every subsystem. Output goes to the console by default; tests and
 * the CLI can swap the sink. The level comes from `MESHWORK_LOG` (Node) or
 * `localStorage.meshworkLog` (browser), default `info`. `MESHWORK_LOG_FORMAT=json` (Node) writes
 * one JSON object per line to stderr instead, for log collectors: time, level, scope, msg and
 * the fields.
 */

export type LogLevel = 'debug' | 'info' | 'warn' | 'error' | 'silent'

const ORDER: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 99 }

export interface LogRecord {
  level: Exclude<LogLevel, 'silent'>
  scope: string
  message: string
  fields?: Record<string, unknown> | undefined
  time: number
}

export type LogSink = (record: LogRecord) => void

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void
  info(message: string, fields?: Record<string, unknown>): void
  warn(message: string, fields?: Record<string, unknown>): void
  error(message: string, fields?: Record<string, unknown>): void
  child(scope: string): Logger
}

function initialLevel(): LogLevel {
  const raw =
    typeof process !== 'undefined' && process.env?.MESHWORK_LOG
      ? process.env.MESHWORK_LOG
      : typeof localStorage !== 'undefined'
        ? (localStorage.getItem('meshworkLog') ?? undefined)
        : undefined
  return raw && raw in ORDER ? (raw as LogLevel) : 'info'
}

const IS_NODE = typeof process !== 'undefined' && !!process.versions?.node

const consoleSink: LogSink = (r) => {
  const extra = r.fields && Object.keys(r.fields).length > 0 ? ` ${safeJson(r.fields)}` : ''
  const line = `[${r.scope}] ${r.message}${extra}`
  if (r.level === 'error') console.error(line)
  else if (r.level === 'warn' || IS_NODE) console.warn(line)
  // In Node everything goes to stderr (stdout is program output: results JSON, --json lines);
  // in a browser, info and debug go to the console's own levels.
  else if (r.level === 'info') console.info(line)
  else console.debug(line)
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, (_k, x) => (typeof x === 'bigint' ? x.toString() : x))
  } catch {
    return String(v)
  }
}

/** One JSON object per line on stderr (Node). */
export const jsonSink: LogSink = (r) => {
  process.stderr.write(
    `${safeJson({ time: new Date(r.time).toISOString(), level: r.level, scope: r.scope, msg: r.message, ...r.fields })}\n`,
  )
}

const state: { level: LogLevel; sink: LogSink } = {
  level: initialLevel(),
  sink: IS_NODE && process.env.MESHWORK_LOG_FORMAT === 'json' ? jsonSink : consoleSink,
}

export function setLogLevel(level: LogLevel): void {
  state.level = level
}

export function setLogSink(sink: LogSink): void {
  state.sink = sink
}

export function createLogger(scope: string): Logger {
  const emit =
    (level: LogRecord['level']) => (message: string, fields?: Record<string, unknown>) => {
      if (ORDER[level] < ORDER[state.level]) return
      state.sink({ level, scope, message, fields, time: Date.now() })
    }
  return {
    debug: emit('debug'),
    info: emit('info'),
    warn: emit('warn'),
    error: emit('error'),
    child: (sub) => createLogger(`${scope}:${sub}`),
  }
}

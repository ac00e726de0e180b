/**
 * Getting a model's bytes by hash: from the IndexedDB cache, else from each source in turn (the
 * app origin, then peers). Bytes are checked against the sha256 before they are cached or used;
 * a source that sends the wrong bytes or too many is skipped with a reason.
 */
import { bytesToHex, type Hex } from 'viem'
import { errorMessage, ModelError } from '../errors'
import type { Store } from '../store'

/** Largest model accepted by default: 64 MiB. */
export const DEFAULT_MAX_MODEL_BYTES = 64 * 1024 * 1024

export interface ModelSource {
  /** Shown in errors: "app origin", "peer 12D3…". */
  name: string
  fetch(hash: Hex, maxBytes: number, signal?: AbortSignal): Promise<Uint8Array | undefined>
}

export async function sha256Hex(bytes: Uint8Array): Promise<Hex> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)
  return bytesToHex(new Uint8Array(digest))
}

export interface GetModelOptions {
  store?: Store | undefined
  sources: readonly ModelSource[]
  maxBytes?: number
  signal?: AbortSignal | undefined
  /** Reports download progress (bytes so far, total when known). */
  onProgress?: ((loaded: number, total: number | undefined) => void) | undefined
}

export async function getModel(hash: Hex, opts: GetModelOptions): Promise<Uint8Array> {
  const want = hash.toLowerCase() as Hex
  const cached = await opts.store?.getModel(want)
  if (cached && (await sha256Hex(cached.bytes)) === want) return cached.bytes
  const maxBytes = opts.maxBytes ?? DEFAULT_MAX_MODEL_BYTES
  const problems: string[] = []
  for (const source of opts.sources) {
    let bytes: Uint8Array | undefined
    try {
      bytes = await source.fetch(want, maxBytes, opts.signal)
    } catch (err) {
      if (err instanceof ModelError && err.reason === 'too-large') throw err
      problems.push(`${source.name}: ${errorMessage(err)}`)
      continue
    }
    if (!bytes) {
      problems.push(`${source.name}: not available`)
      continue
    }
    const got = await sha256Hex(bytes)
    if (got !== want) {
      problems.push(`${source.name}: sent bytes with sha256 ${got}`)
      continue
    }
    await opts.store?.putModel({ hash: want, bytes, storedAt: Date.now() })
    return bytes
  }
  const corrupt = problems.some((p) => p.includes('sent bytes with sha256'))
  throw new ModelError(
    corrupt
      ? `Model ${short(want)} failed its hash check.`
      : `Model ${short(want)} could not be fetched.`,
    corrupt ? 'hash-mismatch' : 'fetch-failed',
    { details: problems.join('; ') || 'no sources configured' },
  )
}

function short(h: Hex) {
  return `${h.slice(0, 10)}…`
}

/** Reads a fetch Response body with a size cap, so a hostile server cannot exhaust memory. */
export async function readCapped(
  res: Response,
  maxBytes: number,
  onProgress?: (loaded: number, total: number | undefined) => void,
): Promise<Uint8Array> {
  const declared = Number(res.headers.get('content-length') ?? Number.NaN)
  const total = Number.isFinite(declared) ? declared : undefined
  if (total !== undefined && total > maxBytes) {
    throw new ModelError(`Model is ${total} bytes; the limit is ${maxBytes}.`, 'too-large')
  }
  if (!res.body) return new Uint8Array(await res.arrayBuffer())
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let loaded = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    loaded += value.byteLength
    if (loaded > maxBytes) {
      await reader.cancel()
      throw new ModelError(`Model exceeds the limit of ${maxBytes} bytes.`, 'too-large')
    }
    chunks.push(value)
    onProgress?.(loaded, total)
  }
  const out = new Uint8Array(loaded)
  let offset = 0
  for (const c of chunks) {
    out.set(c, offset)
    offset += c.byteLength
  }
  return out
}

/** Models served by the app: `<base>/<file>` for catalogue entries, looked up by hash. */
export function originSource(
  base: string,
  fileForHash: (hash: Hex) => string | undefined,
): ModelSource {
  return {
    name: 'app origin',
    async fetch(hash, maxBytes, signal) {
      const file = fileForHash(hash)
      if (!file) return undefined
      const res = await fetch(`${base.replace(/\/$/, '')}/${file}`, signal ? { signal } : {})
      if (!res.ok) throw new ModelError(`HTTP ${res.status} for ${file}`, 'not-found')
      return readCapped(res, maxBytes)
    },
  }
}

/**
 * One request, one response per stream: the shape of every Meshwork stream protocol. Frames are
 * varint length-prefixed with a maximum length, bodies are CBOR checked against a schema, and
 * every read has a deadline, so a silent or hostile peer costs a bounded amount of memory and time.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import type { z } from 'zod'
import type { Logger } from '../env/log'
import { errorMessage, InvalidMessageError } from '../errors'
import { decodeMessage, encodeMessage } from './codec'
import type { ErrorMessage } from './messages'
import { LIMITS } from './protocol'

export interface RequestOptions {
  signal?: AbortSignal | undefined
  /** Largest response frame accepted. Default LIMITS.frameBytes. */
  maxResponseBytes?: number
}

export async function request<S extends z.ZodType>(
  node: Libp2p,
  target: PeerId | Multiaddr | Multiaddr[],
  protocol: string,
  message: object,
  responseSchema: S,
  opts: RequestOptions = {},
): Promise<z.infer<S>> {
  const stream = await dialWithRetry(node, target, protocol, opts.signal)
  const scope = scopedSignal(opts.signal, LIMITS.streamTimeoutMs)
  const signal = scope.signal
  try {
    const maxBytes = opts.maxResponseBytes ?? LIMITS.frameBytes
    const lp = lpStream(stream, { maxDataLength: maxBytes, maxBufferSize: maxBytes + 16 })
    await lp.write(encodeMessage(message), { signal })
    const frame = await lp.read({ signal })
    const response = decodeMessage(frame.subarray(), responseSchema, maxBytes)
    await stream.close({ signal }).catch(() => stream.abort(new Error('close failed')))
    return response
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  } finally {
    scope.release()
  }
}

/**
 * A signal for one operation: aborted when `parent` aborts or after `ms`. `release()` detaches
 * it from `parent` and stops its timer. Composing with `AbortSignal.any` instead leaks: a
 * derived signal that still has abort listeners (libp2p leaves some on the signals it is given)
 * stays alive as long as its long-lived source can abort, and with it every closed stream those
 * listeners reach (a volunteer tab's heap grew by ~17 KB per task; it stays flat now).
 */
export function scopedSignal(parent: AbortSignal | undefined, ms: number) {
  const ctrl = new AbortController()
  const onAbort = () => ctrl.abort(parent?.reason)
  if (parent?.aborted) ctrl.abort(parent.reason)
  else parent?.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(
    () => ctrl.abort(new DOMException('The operation timed out.', 'TimeoutError')),
    ms,
  )
  return {
    signal: ctrl.signal,
    release() {
      clearTimeout(timer)
      parent?.removeEventListener('abort', onAbort)
    },
  }
}

/**
 * Limits of the two attempts of a dial (ms). A WebRTC dial takes ~0.1–1 s, p95 2.5 s and rarely
 * 6 s with 36 peers on two busy cores (bench §5); now and then one stalls where a second attempt
 * succeeds at once (a reloaded tab's first work request waited out a whole 15 s attempt). The
 * first attempt is cut short; the second has time for a slow network.
 */
const DIAL_ATTEMPT_MS = [5_000, 15_000]

/**
 * Dials with one retry: a WebRTC dial (relayed signalling, ICE, DTLS, SCTP, Noise) now and then
 * stalls where a second attempt succeeds at once, and a caller should not lose a whole backoff
 * period to that.
 */
async function dialWithRetry(
  node: Libp2p,
  target: PeerId | Multiaddr | Multiaddr[],
  protocol: string,
  signal: AbortSignal | undefined,
): Promise<Stream> {
  for (let attempt = 1; ; attempt++) {
    const scope = scopedSignal(signal, DIAL_ATTEMPT_MS[attempt - 1]!)
    try {
      return await node.dialProtocol(target, protocol, { signal: scope.signal })
    } catch (err) {
      if (attempt >= 2 || signal?.aborted) throw err
    } finally {
      scope.release()
    }
  }
}

export interface RequestContext {
  remotePeer: PeerId
  connection: Connection
  stream: Stream
}

export interface ServeOptions {
  /** Largest request frame accepted. Default LIMITS.controlFrameBytes. */
  maxRequestBytes?: number
  /** Largest response frame the handler may write. Default LIMITS.frameBytes. */
  maxResponseBytes?: number
  /** Concurrent inbound streams per connection. Default 8. */
  maxInboundStreams?: number
  log: Logger
  /** Called for every request that failed decoding or validation (for peer scoring). */
  onInvalid?(peer: PeerId, error: InvalidMessageError): void
}

/**
 * Registers `protocol`: reads one request, answers with the handler's response. Invalid input
 * gets an `error` response with the reason; a throwing handler gets an `internal` error. Nothing
 * escapes to crash the node.
 */
export async function serve<S extends z.ZodType>(
  node: Libp2p,
  protocol: string,
  requestSchema: S,
  handler: (req: z.infer<S>, ctx: RequestContext) => Promise<object>,
  opts: ServeOptions,
): Promise<void> {
  const maxReq = opts.maxRequestBytes ?? LIMITS.controlFrameBytes
  const maxRes = opts.maxResponseBytes ?? LIMITS.frameBytes
  await node.handle(
    protocol,
    async (stream, connection) => {
      const scope = scopedSignal(undefined, LIMITS.streamTimeoutMs)
      const signal = scope.signal
      const lp = lpStream(stream, {
        maxDataLength: Math.max(maxReq, maxRes),
        maxBufferSize: maxReq + 16,
      })
      const reply = async (msg: object) => {
        await lp.write(encodeMessage(msg), { signal })
        await stream.close({ signal })
      }
      try {
        const frame = await lp.read({ signal })
        let req: z.infer<S>
        try {
          req = decodeMessage(frame.subarray(), requestSchema, maxReq)
        } catch (err) {
          const invalid =
            err instanceof InvalidMessageError
              ? err
              : new InvalidMessageError('Undecodable request.', { cause: err })
          opts.onInvalid?.(connection.remotePeer, invalid)
          opts.log.debug('invalid request', {
            protocol,
            peer: connection.remotePeer.toString(),
            reason: invalid.details,
          })
          await reply(
            errorResponse('invalid-message', `${invalid.shortMessage} ${invalid.details ?? ''}`),
          )
          return
        }
        let res: object
        try {
          res = await handler(req, { remotePeer: connection.remotePeer, connection, stream })
        } catch (err) {
          opts.log.warn('handler failed', { protocol, error: errorMessage(err) })
          res = errorResponse('internal', errorMessage(err))
        }
        await reply(res)
      } catch (err) {
        // The peer went away, sent an oversized frame, or timed out: drop the stream, keep the node.
        opts.log.debug('stream dropped', { protocol, error: errorMessage(err) })
        stream.abort(err instanceof Error ? err : new Error(String(err)))
      } finally {
        scope.release()
      }
    },
    { maxInboundStreams: opts.maxInboundStreams ?? 8 },
  )
}

export function errorResponse(code: string, message: string): ErrorMessage {
  return { type: 'error', code, message: message.slice(0, 512) }
}

/**
 * One request, one response per stream: the shape of every Meshwork stream protocol. Frames are
 * varint length-prefixed with a maximum length, bodies are CBOR checked against a schema, and
 * every read has a deadline, so a silent or hostile peer costs a bounded amount of memory and time.
 */
import type { Connection, PeerId, Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { z } from 'zod'
import type { Logger } from '../env/log'
import { BaseError, errorMessage, InvalidMessageError } from '../errors'
import type { DropReason, InboundBudget, InboundGrant, InboundLimit } from './budget'
import { decodeMessage, encodeMessage } from './codec'
import { continueSchema, type ErrorMessage } from './messages'
import { blockPeer } from './node'
import { LIMITS } from './protocol'

/**
 * Bytes a read buffer may hold beyond its frame: the frame's varint length prefix (at most 4
 * bytes below 256 MiB) and slack. A peer that sends more than its frame is dropped.
 */
const LP_SLACK = 16

export interface RequestOptions {
  signal?: AbortSignal | undefined
  /** Largest response frame accepted. Default LIMITS.frameBytes. */
  maxResponseBytes?: number
  /**
   * A body that follows the request once the server answers `{ type: "continue" }` (the
   * result protocol's outputs): sent as a second frame, and the answer after it is the
   * response. Any other first answer is the response, and the body is not sent.
   */
  body?: Uint8Array | undefined
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
    const lp = lpStream(stream, { maxDataLength: maxBytes, maxBufferSize: maxBytes + LP_SLACK })
    await lp.write(encodeMessage(message), { signal })
    let response: z.infer<S>
    if (opts.body) {
      const first = decodeMessage(
        (await lp.read({ signal })).subarray(),
        z.union([continueSchema, responseSchema]),
        maxBytes,
      )
      if ((first as { type?: unknown }).type === 'continue') {
        await lp.write(opts.body, { signal })
        response = decodeMessage((await lp.read({ signal })).subarray(), responseSchema, maxBytes)
      } else response = first as z.infer<S>
    } else {
      response = decodeMessage((await lp.read({ signal })).subarray(), responseSchema, maxBytes)
    }
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
  /**
   * Reads the request's body: a second frame of exactly `bytes` bytes, decoded with `schema`.
   * It first takes `bytes` from the peer's budget (a refusal throws InboundLimitError and the
   * peer is answered `busy`), then answers `{ type: "continue" }`; only then may the peer send
   * it. Call it at most once, after the request (the header) passed the handler's checks. An
   * undecodable body throws InvalidMessageError (answered `invalid-message`).
   */
  readBody<B extends z.ZodType>(bytes: number, schema: B): Promise<z.infer<B>>
}

export interface ServeOptions {
  /** Largest request frame accepted. Default LIMITS.controlFrameBytes. */
  maxRequestBytes?: number
  /** Largest body (`readBody`) accepted. Default LIMITS.frameBytes. */
  maxBodyBytes?: number
  /** Concurrent inbound streams per connection. Default 8. */
  maxInboundStreams?: number
  /**
   * Streams and buffered bytes per peer and in all, shared by every protocol the node serves
   * (budget.ts); refusals and drops are counted there. Without one, only the frame limits and
   * `maxInboundStreams` per connection hold.
   */
  budget?: InboundBudget | undefined
  log: Logger
  /** Called for every request that failed decoding or validation (for peer scoring). */
  onInvalid?(peer: PeerId, error: InvalidMessageError): void
}

/** A stream or a body refused by the inbound budget: answered `busy`. */
export class InboundLimitError extends BaseError {
  override name = 'InboundLimitError' as const
  constructor(
    readonly limit: InboundLimit,
    limits: InboundBudget['limits'],
  ) {
    super(refusalText(limit, limits))
  }
}

function refusalText(limit: InboundLimit, l: InboundBudget['limits']): string {
  const mib = (n: number) => `${Math.round((n / 1024 / 1024) * 10) / 10} MiB`
  switch (limit) {
    case 'peer-streams':
      return `This peer already has ${l.peerStreams} streams open here (the limit); retry later.`
    case 'total-streams':
      return `This node is serving ${l.totalStreams} streams (the limit); retry later.`
    case 'peer-bytes':
      return `That would hold more than ${mib(l.peerBytes)} for this peer (the limit); retry later.`
    case 'total-bytes':
      return `That would hold more than ${mib(l.totalBytes)} in all (the limit); retry later.`
  }
}

/** A stream that failed while its body was read: dropped, like a failed request read. */
class BodyReadError extends Error {}

/** Why a stream read failed, for the drop counters. */
export function dropReason(err: unknown): DropReason {
  const name = err instanceof Error ? err.name : ''
  if (
    name === 'InvalidDataLengthError' ||
    name === 'InvalidDataLengthLengthError' ||
    name === 'InvalidMessageLengthError' ||
    name === 'StreamBufferError'
  )
    return 'oversized'
  if (name === 'TimeoutError' || name === 'AbortError') return 'timeout'
  return 'closed'
}

/**
 * What a refused stream may send: an honest request is a few hundred bytes (a result header, a
 * work request with its payout, a task error); a peer that sends more is dropped unanswered.
 */
const REFUSED_READ_BYTES = 4096

/** The grant of a node without a budget: holds nothing, refuses nothing. */
const UNBUDGETED: InboundGrant = { bytes: 0, resize: () => undefined, release() {} }

/**
 * Takes a stream holding `bytes` of read buffer from the budget. A refused stream is answered
 * `busy` once its request has arrived (answered before, the peer may still be negotiating the
 * protocol, and an answer that comes with the stream's end can be lost there), reading at most
 * REFUSED_READ_BYTES of it; undefined is returned.
 */
export async function admitStream(
  budget: InboundBudget | undefined,
  stream: Stream,
  connection: Connection,
  bytes: number,
): Promise<InboundGrant | undefined> {
  if (!budget) return UNBUDGETED
  const grant = budget.open(connection.remotePeer.toString(), bytes)
  if (!('refused' in grant)) {
    // The stream's own buffer, used while nothing listens to it, is held to the same bound.
    stream.maxReadBufferLength = bytes
    return grant
  }
  // A peer that sends more than this, now or later, is reset: it cannot make a refused stream
  // cost more than a few KiB however long it keeps it.
  stream.maxReadBufferLength = REFUSED_READ_BYTES
  const lp = lpStream(stream, {
    maxDataLength: REFUSED_READ_BYTES - LP_SLACK,
    maxBufferSize: REFUSED_READ_BYTES,
  })
  const signal = AbortSignal.timeout(5_000)
  try {
    await lp.read({ signal })
    const message = new InboundLimitError(grant.refused, budget.limits).shortMessage
    await lp.write(encodeMessage(errorResponse('busy', message)), { signal })
    await stream.close({ signal })
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
  }
  return undefined
}

/**
 * More than a frame's limit is never an honest mistake: the sender loses its connection, and
 * every stream on it, and may not connect again for a while (blockPeer), rather than being read
 * (and refused) as fast as it can send.
 */
export function disconnect(
  node: object,
  connection: Connection,
  budget: InboundBudget,
  err: Error,
): void {
  blockPeer(node, connection.remotePeer, budget.limits.blockMs)
  connection.abort(err)
}

/**
 * Registers `protocol`: reads one request, answers with the handler's response. Invalid input
 * gets an `error` response with the reason; a throwing handler gets an `internal` error; a
 * stream or body beyond the budget gets `busy`. Nothing escapes to crash the node.
 */
export async function serve<S extends z.ZodType>(
  node: Libp2p,
  protocol: string,
  requestSchema: S,
  handler: (req: z.infer<S>, ctx: RequestContext) => Promise<object>,
  opts: ServeOptions,
): Promise<void> {
  const maxReq = opts.maxRequestBytes ?? LIMITS.controlFrameBytes
  const maxBody = opts.maxBodyBytes ?? LIMITS.frameBytes
  const budget = opts.budget
  await node.handle(
    protocol,
    async (stream, connection) => {
      const grant = await admitStream(budget, stream, connection, maxReq + LP_SLACK)
      if (grant === undefined) return
      const scope = scopedSignal(undefined, LIMITS.streamTimeoutMs)
      const signal = scope.signal
      // The read buffer's limit is what the budget holds for this stream.
      let lp = lpStream(stream, { maxDataLength: maxReq, maxBufferSize: maxReq + LP_SLACK })
      const reply = async (msg: object) => {
        await lp.write(encodeMessage(msg), { signal })
        await stream.close({ signal })
      }
      const invalid = async (err: unknown) => {
        const e =
          err instanceof InvalidMessageError
            ? err
            : new InvalidMessageError('Undecodable request.', { cause: err })
        budget?.drop('invalid-message')
        opts.onInvalid?.(connection.remotePeer, e)
        opts.log.debug('invalid request', {
          protocol,
          peer: connection.remotePeer.toString(),
          reason: e.details,
        })
        await reply(errorResponse('invalid-message', `${e.shortMessage} ${e.details ?? ''}`))
      }
      let bodyAsked = false
      const readBody = async <B extends z.ZodType>(bytes: number, schema: B) => {
        if (bodyAsked) throw new Error('readBody may be called once per request')
        bodyAsked = true
        if (!Number.isSafeInteger(bytes) || bytes < 0 || bytes > maxBody)
          throw new InvalidMessageError('Body too large.', {
            details: `${bytes} bytes declared, limit ${maxBody}`,
          })
        const refused = grant.resize(bytes + LP_SLACK)
        if (refused && budget) throw new InboundLimitError(refused, budget.limits)
        stream.maxReadBufferLength = Math.max(maxReq, bytes) + LP_SLACK
        let frame: Awaited<ReturnType<typeof lp.read>>
        try {
          // A new reader whose buffer fits the body (what was read past the request moves to it).
          lp.unwrap()
          lp = lpStream(stream, { maxDataLength: bytes, maxBufferSize: bytes + LP_SLACK })
          await lp.write(encodeMessage({ type: 'continue' }), { signal })
          frame = await lp.read({ signal })
        } catch (err) {
          throw new BodyReadError('body read failed', { cause: err })
        }
        if (frame.byteLength !== bytes)
          throw new InvalidMessageError('Body length differs from the declared one.', {
            details: `${frame.byteLength} bytes, ${bytes} declared`,
          })
        return decodeMessage(frame.subarray(), schema, bytes) as z.infer<B>
      }
      try {
        const frame = await lp.read({ signal })
        let req: z.infer<S>
        try {
          req = decodeMessage(frame.subarray(), requestSchema, maxReq)
        } catch (err) {
          await invalid(err)
          return
        }
        let res: object
        try {
          res = await handler(req, {
            remotePeer: connection.remotePeer,
            connection,
            stream,
            readBody,
          })
        } catch (err) {
          if (err instanceof BodyReadError) throw err.cause
          if (err instanceof InvalidMessageError) {
            await invalid(err)
            return
          }
          if (err instanceof InboundLimitError) {
            opts.log.debug('body refused', { protocol, limit: err.limit })
            res = errorResponse('busy', err.shortMessage)
          } else {
            opts.log.warn('handler failed', { protocol, error: errorMessage(err) })
            res = errorResponse('internal', errorMessage(err))
          }
        }
        await reply(res)
      } catch (err) {
        // The peer went away, sent an oversized frame, or timed out: drop the stream, keep the node.
        const reason = dropReason(err)
        budget?.drop(reason)
        opts.log.debug('stream dropped', { protocol, error: errorMessage(err) })
        const e = err instanceof Error ? err : new Error(String(err))
        stream.abort(e)
        if (reason === 'oversized' && budget) disconnect(node, connection, budget, e)
      } finally {
        scope.release()
        grant.release()
      }
    },
    { maxInboundStreams: opts.maxInboundStreams ?? 8 },
  )
}

export function errorResponse(code: string, message: string): ErrorMessage {
  return { type: 'error', code, message: message.slice(0, 512) }
}

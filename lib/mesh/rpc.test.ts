import type { Connection, Stream, StreamHandler } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { lpStream, streamPair } from '@libp2p/utils'
import type { Libp2p } from 'libp2p'
import { describe, expect, it } from 'vitest'
import { z } from 'zod'
import { createLogger } from '../env/log'
import { createInboundBudget, type InboundBudget } from './budget'
import { decodeMessage, encodeMessage } from './codec'
import { errorSchema } from './messages'
import { LIMITS } from './protocol'
import { request, serve } from './rpc'

const PROTOCOL = '/test/1.0.0'
const PEERS = [
  peerIdFromString('16Uiu2HAmUZHJRrk5pDfRB9GGoMcM3dHK1rZGNi7mqFUTxc13fdam'),
  peerIdFromString('12D3KooWJWoaqZhDaoEFshF7Rh1bpY9ohihFhzcW6d69Lr2NASuq'),
]
const askSchema = z.object({ type: z.literal('ask'), bodyBytes: z.number().int().optional() })
const bodySchema = z.object({ payload: z.custom<Uint8Array>((v) => v instanceof Uint8Array) })
const answerSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('answer'), got: z.number() }),
  errorSchema,
])

/**
 * `serve` on a stand-in node whose streams are in-memory pairs (@libp2p/utils streamPair): each
 * `open` is one inbound stream from `peer`, `client` its other end.
 */
async function server(budget: InboundBudget, onBody?: () => void) {
  let handler: StreamHandler | undefined
  const node = {
    handle: async (_p: string, h: StreamHandler) => {
      handler = h
    },
  } as unknown as Libp2p
  const calls: number[] = []
  await serve(
    node,
    PROTOCOL,
    askSchema,
    async (req, ctx) => {
      calls.push(req.bodyBytes ?? 0)
      if (req.bodyBytes === undefined) return { type: 'answer', got: 0 }
      const body = await ctx.readBody(req.bodyBytes, bodySchema)
      onBody?.()
      return { type: 'answer', got: body.payload.byteLength }
    },
    { log: createLogger('test'), budget, maxBodyBytes: 1024 * 1024 },
  )
  /** Connections the server aborted. */
  const aborted: string[] = []
  const open = async (peer = PEERS[0]!) => {
    const [client, inbound] = await streamPair()
    const connection = { remotePeer: peer, abort: () => aborted.push(peer.toString()) }
    const done = Promise.resolve(handler!(inbound, connection as unknown as Connection))
    return { client, done }
  }
  /** A stand-in client node whose one dial returns `stream`. */
  const dialer = (stream: Stream) => ({ dialProtocol: async () => stream }) as unknown as Libp2p
  return { open, dialer, calls, aborted }
}

const body = (n: number) => encodeMessage({ payload: new Uint8Array(n) })

describe('serve with an inbound budget', () => {
  it('reads a body only after answering continue, and holds its declared size meanwhile', async () => {
    const budget = createInboundBudget()
    let heldDuringBody = 0
    const s = await server(budget, () => {
      heldDuringBody = budget.stats().bytes
    })
    const { client, done } = await s.open()
    const b = body(5000)
    const res = await request(
      s.dialer(client),
      PEERS[1]!,
      PROTOCOL,
      { type: 'ask', bodyBytes: b.byteLength },
      answerSchema,
      { body: b },
    )
    await done
    expect(res).toEqual({ type: 'answer', got: 5000 })
    expect(heldDuringBody).toBe(b.byteLength + 16)
    expect(budget.stats()).toMatchObject({ streams: 0, bytes: 0 })
  })

  // One peer, however many streams it opens, holds at most peerStreams; the rest are told why.
  it('answers busy to a peer beyond its stream limit, without reading its request', async () => {
    const budget = createInboundBudget({ peerStreams: 2 })
    const s = await server(budget)
    // Two streams held open: their requests never arrive.
    await s.open()
    await s.open()
    const { client, done } = await s.open()
    const lp = lpStream(client)
    await lp.write(encodeMessage({ type: 'ask' }))
    const res = decodeMessage((await lp.read()).subarray(), answerSchema, 4096)
    await done
    expect(res).toMatchObject({ type: 'error', code: 'busy' })
    expect((res as { message: string }).message).toMatch(/2 streams open here/)
    expect(s.calls).toEqual([])
    expect(budget.stats()).toMatchObject({ streams: 2 })
    expect(budget.stats().refused['peer-streams']).toBe(1)
    // Another peer is not affected.
    const other = await s.open(PEERS[1]!)
    const ok = await request(
      s.dialer(other.client),
      PEERS[0]!,
      PROTOCOL,
      { type: 'ask' },
      answerSchema,
    )
    expect(ok).toEqual({ type: 'answer', got: 0 })
  })

  // A header declaring more than the peer may hold is refused before any of its body is sent.
  it('answers busy instead of continue when the declared body does not fit the budget', async () => {
    const budget = createInboundBudget({ peerBytes: 100_000 })
    let bodies = 0
    const s = await server(budget, () => bodies++)
    const { client, done } = await s.open()
    const b = body(200_000)
    const res = await request(
      s.dialer(client),
      PEERS[0]!,
      PROTOCOL,
      { type: 'ask', bodyBytes: b.byteLength },
      answerSchema,
      { body: b },
    )
    await done
    expect(res).toMatchObject({ type: 'error', code: 'busy' })
    expect((res as { message: string }).message).toMatch(/for this peer/)
    expect(bodies).toBe(0)
    expect(budget.stats().refused['peer-bytes']).toBe(1)
    expect(budget.stats().peakBytes).toBeLessThanOrEqual(100_000)
  })

  // Bytes pushed before the go-ahead must not pile up: the request buffer is one control frame.
  it('drops a stream that pushes more than its request frame before continue', async () => {
    const budget = createInboundBudget()
    let bodies = 0
    const s = await server(budget, () => bodies++)
    const { client, done } = await s.open()
    const lp = lpStream(client)
    // A well-formed header and body, but the body sent with the header, before the go-ahead.
    // (A body that arrives after the header was checked is within what was granted: fine.)
    const b = body(500_000)
    await lp.writeV([encodeMessage({ type: 'ask', bodyBytes: b.byteLength }), b]).catch(() => {})
    await done
    const st = budget.stats()
    expect(bodies).toBe(0)
    expect(st.dropped.oversized).toBe(1)
    expect(st.peakBytes).toBeLessThanOrEqual(LIMITS.controlFrameBytes + 16)
    // Sending more than a frame is no honest mistake: the connection goes, with its other streams.
    expect(s.aborted).toEqual([PEERS[0]!.toString()])
    expect(st).toMatchObject({ streams: 0, bytes: 0 })
  })

  // The body frame must be exactly what the header declared: no more is buffered, no less accepted.
  it('refuses a body of another length than declared', async () => {
    const budget = createInboundBudget()
    const s = await server(budget)
    const short = await s.open()
    const lp = lpStream(short.client)
    await lp.write(encodeMessage({ type: 'ask', bodyBytes: 1000 }))
    expect(decodeMessage((await lp.read()).subarray(), z.object({ type: z.string() }), 64)).toEqual(
      {
        type: 'continue',
      },
    )
    await lp.write(body(10))
    const res = decodeMessage((await lp.read()).subarray(), answerSchema, 4096)
    await short.done
    expect(res).toMatchObject({ type: 'error', code: 'invalid-message' })
    expect((res as { message: string }).message).toMatch(/differs from the declared/)

    const long = await s.open()
    const lp2 = lpStream(long.client)
    await lp2.write(encodeMessage({ type: 'ask', bodyBytes: 1000 }))
    await lp2.read()
    await lp2.write(body(5000)).catch(() => {})
    await long.done
    expect(budget.stats().dropped).toMatchObject({ 'invalid-message': 1, oversized: 1 })
    // The short body was a wrong answer, not a flood: only the long one cost the connection.
    expect(s.aborted).toHaveLength(1)
  })

  it('refuses a declared body above maxBodyBytes as invalid', async () => {
    const budget = createInboundBudget()
    const s = await server(budget)
    const { client, done } = await s.open()
    const res = await request(
      s.dialer(client),
      PEERS[0]!,
      PROTOCOL,
      { type: 'ask', bodyBytes: LIMITS.frameBytes },
      answerSchema,
      { body: new Uint8Array(1) },
    )
    await done
    expect(res).toMatchObject({ type: 'error', code: 'invalid-message' })
    expect(budget.stats().peakBytes).toBeLessThanOrEqual(LIMITS.controlFrameBytes + 16)
  })
})

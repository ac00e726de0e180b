/**
 * A flooding stranger for the result-flood scenario (adversary-flood.ts, scripts/flood.ts): a
 * fresh key and a real libp2p node that keeps result streams open on a coordinator, each either
 * an unsolicited result (a header for a task never leased to it, with 16 MiB of outputs sent at
 * once without waiting for `continue`) or a bare frame declaring 16 MiB and pushing junk into it.
 * It counts how each stream ended.
 */
import type { Stream } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Hex } from 'viem'
import {
  createMeshNode,
  decodeMessage,
  encodeMessage,
  generateIdentity,
  LIMITS,
  type MeshNode,
  PROTOCOLS,
  resultResponseSchema,
  waitForReservation,
} from '../../lib/mesh'

const varint = (n: number) => {
  const out: number[] = []
  while (n >= 0x80) {
    out.push((n & 0x7f) | 0x80)
    n = Math.floor(n / 128)
  }
  out.push(n)
  return Uint8Array.from(out)
}

const concat = (...parts: Uint8Array[]) => {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.byteLength, 0))
  let at = 0
  for (const p of parts) {
    out.set(p, at)
    at += p.byteLength
  }
  return out
}

export async function startFlooder(relayAddr: string, target: Multiaddr[], junk: Uint8Array) {
  const identity = await generateIdentity()
  const node: MeshNode = await createMeshNode({
    identity,
    relays: [relayAddr],
    allowPrivateAddresses: true,
  })
  await waitForReservation(node, 60_000)
  // Connected before the flood starts (a failed dial is retried by each stream's own dial).
  await node.dial(target, { signal: AbortSignal.timeout(30_000) }).catch(() => {})
  const stats = { streams: 0, busy: 0, rejected: 0, invalid: 0, dropped: 0, dialFailed: 0 }
  let jobId: Hex = `0x${'00'.repeat(32)}`
  const header = (taskIndex: number) =>
    encodeMessage({
      type: 'result',
      jobId,
      taskIndex,
      leaseId: 'never-leased',
      resultHash: `0x${'01'.repeat(32)}`,
      signature: `0x${'02'.repeat(65)}`,
      backend: 'wasm',
      computeMs: 10,
      outputBytes: LIMITS.frameBytes,
    })
  let flooding = false
  let stopped = false
  const once = async (i: number) => {
    let s: Stream
    try {
      s = await node.dialProtocol(target, PROTOCOLS.result, { signal: AbortSignal.timeout(10_000) })
    } catch {
      stats.dialFailed++
      await new Promise((r) => setTimeout(r, 200))
      return
    }
    stats.streams++
    try {
      const h = header(i % 8)
      // Unsolicited: the header, then the outputs at once; oversized: a bare 16 MiB frame.
      const first =
        i % 2 === 0
          ? concat(varint(h.byteLength), h, varint(LIMITS.frameBytes))
          : varint(LIMITS.frameBytes - 1)
      s.send(first)
      s.send(junk)
      const frame = await lpStream(s).read({ signal: AbortSignal.timeout(15_000) })
      const res = decodeMessage(frame.subarray(), resultResponseSchema, LIMITS.controlFrameBytes)
      if (res.type === 'error' && res.code === 'busy') stats.busy++
      else if (res.type === 'error') stats.invalid++
      else stats.rejected++
    } catch {
      stats.dropped++
    } finally {
      s.abort(new Error('flood stream done'))
    }
  }
  let loops: Array<Promise<void>> = []
  return {
    stats,
    /** Floods `job` on `streams` streams at once until stopped. */
    start(job: Hex, streams: number) {
      jobId = job
      flooding = true
      loops = Array.from({ length: streams }, async (_, i) => {
        while (flooding && !stopped) await once(i)
      })
    },
    async stop() {
      flooding = false
      stopped = true
      await Promise.all(loops)
      await node.stop()
    },
  }
}

/**
 * `/meshwork/model/1.0.0`: fetching a model's bytes from a peer (usually the job's coordinator)
 * when the app origin does not serve it, e.g. a requester's own ONNX file. The response is a
 * header with the size, then chunks of at most LIMITS.modelChunkBytes. The receiver checks the
 * sha256 itself (lib/runtime); here the size is bounded before anything is buffered. A serving
 * peer reads one control frame per stream and holds it in its inbound budget like any request.
 */
import type { PeerId } from '@libp2p/interface'
import { lpStream } from '@libp2p/utils'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Hex } from 'viem'
import type { Logger } from '../env/log'
import { errorMessage, InvalidMessageError, ModelError } from '../errors'
import type { InboundBudget } from './budget'
import { decodeMessage, encodeMessage } from './codec'
import { modelChunkSchema, modelRequestSchema, modelResponseSchema } from './messages'
import type { MeshNode } from './node'
import { LIMITS, PROTOCOLS } from './protocol'
import { admitStream, disconnect, dropReason, errorResponse, scopedSignal } from './rpc'

/** The request frame's read buffer: one control frame and its length prefix. */
const REQUEST_BUFFER = LIMITS.controlFrameBytes + 16

export async function serveModels(
  node: MeshNode,
  lookup: (hash: Hex) => Uint8Array | undefined,
  log: Logger,
  budget?: InboundBudget,
): Promise<void> {
  await node.handle(
    PROTOCOLS.model,
    async (stream, connection) => {
      const grant = await admitStream(budget, stream, connection, REQUEST_BUFFER)
      if (!grant) return
      const signal = AbortSignal.timeout(LIMITS.streamTimeoutMs * 4)
      const lp = lpStream(stream, {
        maxDataLength: LIMITS.controlFrameBytes,
        maxBufferSize: REQUEST_BUFFER,
      })
      try {
        const req = decodeMessage(
          (await lp.read({ signal })).subarray(),
          modelRequestSchema,
          LIMITS.controlFrameBytes,
        )
        const bytes = lookup(req.modelHash.toLowerCase() as Hex)
        if (!bytes) {
          await lp.write(
            encodeMessage(errorResponse('unknown-model', 'This peer does not serve that model.')),
            { signal },
          )
        } else {
          await lp.write(encodeMessage({ type: 'model-header', size: bytes.byteLength }), {
            signal,
          })
          for (let at = 0; at < bytes.byteLength; at += LIMITS.modelChunkBytes) {
            await lp.write(
              encodeMessage({
                type: 'model-chunk',
                data: bytes.subarray(at, at + LIMITS.modelChunkBytes),
              }),
              { signal },
            )
          }
        }
        await stream.close({ signal })
      } catch (err) {
        const reason = err instanceof InvalidMessageError ? 'invalid-message' : dropReason(err)
        budget?.drop(reason)
        log.debug('model stream dropped', { error: errorMessage(err) })
        const e = err instanceof Error ? err : new Error(String(err))
        stream.abort(e)
        // As for any stream served with a budget (rpc.ts): more than a frame is a disconnect.
        if (reason === 'oversized' && budget) disconnect(node, connection, budget, e)
      } finally {
        grant.release()
      }
    },
    { maxInboundStreams: 4 },
  )
}

export async function fetchModelFromPeer(
  node: MeshNode,
  target: PeerId | Multiaddr[],
  hash: Hex,
  maxBytes: number,
  signal?: AbortSignal,
): Promise<Uint8Array> {
  const scope = scopedSignal(signal, LIMITS.streamTimeoutMs * 4)
  const sig = scope.signal
  const stream = await node.dialProtocol(target, PROTOCOLS.model, { signal: sig }).catch((err) => {
    scope.release()
    throw err
  })
  try {
    const lp = lpStream(stream, { maxDataLength: LIMITS.modelChunkBytes + 64 })
    await lp.write(encodeMessage({ type: 'model-request', modelHash: hash }), { signal: sig })
    const header = decodeMessage(
      (await lp.read({ signal: sig })).subarray(),
      modelResponseSchema,
      LIMITS.controlFrameBytes,
    )
    if (header.type === 'error')
      throw header.code === 'busy'
        ? new ModelError(`Peer is busy: ${header.message}`, 'fetch-failed')
        : new ModelError(`Peer has no such model: ${header.message}`, 'not-found')
    if (header.size > maxBytes) {
      throw new ModelError(`Model is ${header.size} bytes; the limit is ${maxBytes}.`, 'too-large')
    }
    const out = new Uint8Array(header.size)
    let at = 0
    while (at < header.size) {
      const chunk = decodeMessage(
        (await lp.read({ signal: sig })).subarray(),
        modelChunkSchema,
        LIMITS.modelChunkBytes + 64,
      )
      if (at + chunk.data.byteLength > header.size)
        throw new InvalidMessageError('Peer sent more model bytes than announced.')
      out.set(chunk.data, at)
      at += chunk.data.byteLength
    }
    await stream.close({ signal: sig }).catch(() => {})
    return out
  } catch (err) {
    stream.abort(err instanceof Error ? err : new Error(String(err)))
    throw err
  } finally {
    scope.release()
  }
}

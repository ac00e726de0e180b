/**
 * Sending a result on `/meshwork/result/2.0.0`: the header first, the outputs only once the
 * coordinator has checked it and answered `continue` (docs/protocol.md §5). A coordinator that
 * refuses the header, or already holds the result, answers at once and the outputs stay here.
 */
import type { PeerId } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import type { Libp2p } from 'libp2p'
import { encodeMessage } from './codec'
import {
  type ResultHeader,
  type ResultResponse,
  resultResponseSchema,
  type WireTensorMap,
} from './messages'
import { PROTOCOLS } from './protocol'
import { request } from './rpc'

export async function sendResult(
  node: Libp2p,
  target: PeerId | Multiaddr | Multiaddr[],
  header: Omit<ResultHeader, 'outputBytes'>,
  outputs: WireTensorMap,
  opts: { signal?: AbortSignal | undefined } = {},
): Promise<ResultResponse> {
  const body = encodeMessage(outputs)
  return request(
    node,
    target,
    PROTOCOLS.result,
    { ...header, outputBytes: body.byteLength },
    resultResponseSchema,
    { signal: opts.signal, body },
  )
}

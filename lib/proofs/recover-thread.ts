/**
 * The work of one recovery thread (recover-pool-node.ts): batches of (digest, signature) in,
 * the signers out, by the chain's rule (`recoverStrict`); null for a signature it refuses.
 */
import { parentPort } from 'node:worker_threads'
import type { Hex } from 'viem'
import { recoverStrict } from './ecdsa'

export interface RecoverRequest {
  id: number
  digest: Hex
  signature: Hex
}

export interface RecoverReply {
  id: number
  signer: string | null
}

parentPort?.on('message', (batch: RecoverRequest[]) => {
  const out: RecoverReply[] = batch.map(({ id, digest, signature }) => {
    try {
      return { id, signer: recoverStrict(digest, signature) }
    } catch {
      return { id, signer: null }
    }
  })
  parentPort?.postMessage(out)
})

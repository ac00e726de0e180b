/**
 * Signature recovery by the chain's rule, shared by every signature type (lib/proofs/eip712.ts)
 * and by the Node coordinator's recovery threads (recover-pool-node.ts).
 */
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { type Address, bytesToHex, type Hex, hexToBytes, isHex, size } from 'viem'
import { publicKeyToAddress } from 'viem/accounts'
import { InvalidInputError } from '../errors'

/**
 * The signer of `digest`, recovered only from a signature the escrow would also take (OpenZeppelin
 * ECDSA): 65 bytes r ‖ s ‖ v with v 27 or 28 and a low s; throws on anything else. viem's recovery
 * accepts a high s and v 0 or 1, which the chain refuses: a worker's result signature is its
 * equivocation evidence (one `slash` refuses let it sign two results for one task unslashably),
 * and a claim, record or payout authorisation the chain refuses is worth nothing to whoever holds
 * it. noble's recovery directly, without viem's import of it on every call.
 */
export function recoverStrict(digest: Hex, signature: Hex): Address {
  if (!isHex(signature, { strict: true }) || size(signature) !== 65)
    throw new InvalidInputError('a signature is 65 bytes of hex')
  const bytes = hexToBytes(signature)
  const v = bytes[64]!
  if (v !== 27 && v !== 28) throw new InvalidInputError(`signature v must be 27 or 28, not ${v}`)
  const recovered = new Uint8Array(65)
  recovered[0] = v - 27
  recovered.set(bytes.subarray(0, 64), 1)
  const sig = secp256k1.Signature.fromBytes(recovered, 'recovered')
  if (sig.hasHighS()) throw new InvalidInputError('signature s is in the upper half of the order')
  const point = sig.recoverPublicKey(hexToBytes(digest))
  return publicKeyToAddress(bytesToHex(point.toBytes(false)))
}

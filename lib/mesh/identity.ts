/**
 * A peer's identity: one secp256k1 key is both its libp2p PeerId and its EVM address, so the
 * peer that computed a result over the mesh is the address paid for it on chain.
 */
import { generateKeyPair, privateKeyFromRaw } from '@libp2p/crypto/keys'
import type { PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { secp256k1 } from '@noble/curves/secp256k1.js'
import { type Address, bytesToHex, type Hex, hexToBytes } from 'viem'
import { type PrivateKeyAccount, privateKeyToAccount, publicKeyToAddress } from 'viem/accounts'
import { InvalidInputError } from '../errors'

export interface Identity {
  privateKey: PrivateKey
  peerId: PeerId
  /** The same key as an EVM account: signs results, receives payouts. */
  account: PrivateKeyAccount
  address: Address
}

export async function generateIdentity(): Promise<Identity> {
  return identityFromKey(await generateKeyPair('secp256k1'))
}

/** From a 32-byte secp256k1 private key (hex). */
export function identityFromHex(hex: Hex): Identity {
  const raw = hexToBytes(hex)
  if (raw.byteLength !== 32) throw new InvalidInputError('A private key must be 32 bytes of hex.')
  return identityFromKey(privateKeyFromRaw(raw))
}

export function identityFromKey(privateKey: PrivateKey): Identity {
  if (privateKey.type !== 'secp256k1') {
    throw new InvalidInputError(`Meshwork identities are secp256k1 keys, not ${privateKey.type}.`)
  }
  const account = privateKeyToAccount(bytesToHex(privateKey.raw))
  return { privateKey, peerId: peerIdFromPrivateKey(privateKey), account, address: account.address }
}

export function identityToHex(identity: Identity): Hex {
  return bytesToHex(identity.privateKey.raw)
}

/**
 * Addresses of the peers seen last, by peer id text: deriving one decompresses the key's curve
 * point (a modular square root), over half of a coordinator's work per work request before this
 * cache. Bounded, since peer ids cost nothing: the oldest entry goes first.
 */
const ADDRESS_CACHE_SIZE = 4096
const addressCache = new Map<string, Address | undefined>()

/** The EVM address of a secp256k1 peer, or undefined for other key types. */
export function addressOfPeer(peer: PeerId | string): Address | undefined {
  const text = peer.toString()
  if (addressCache.has(text)) {
    const cached = addressCache.get(text)
    // Most recently used last, so that the oldest is evicted first.
    addressCache.delete(text)
    addressCache.set(text, cached)
    return cached
  }
  const address = deriveAddress(typeof peer === 'string' ? peerIdFromString(peer) : peer)
  if (addressCache.size >= ADDRESS_CACHE_SIZE)
    addressCache.delete(addressCache.keys().next().value as string)
  addressCache.set(text, address)
  return address
}

function deriveAddress(id: PeerId): Address | undefined {
  if (id.type !== 'secp256k1' || !id.publicKey) return undefined
  const uncompressed = secp256k1.Point.fromBytes(id.publicKey.raw).toBytes(false)
  return publicKeyToAddress(bytesToHex(uncompressed))
}

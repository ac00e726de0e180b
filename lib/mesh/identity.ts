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

/** The EVM address of a secp256k1 peer, or undefined for other key types. */
export function addressOfPeer(peer: PeerId | string): Address | undefined {
  const id = typeof peer === 'string' ? peerIdFromString(peer) : peer
  if (id.type !== 'secp256k1' || !id.publicKey) return undefined
  const uncompressed = secp256k1.Point.fromBytes(id.publicKey.raw).toBytes(false)
  return publicKeyToAddress(bytesToHex(uncompressed))
}

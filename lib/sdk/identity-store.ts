/** A peer's key kept in the store, so a reloaded tab is the same peer and the same payee. */
import { bytesToHex } from 'viem'
import { generateIdentity, type Identity, identityFromHex } from '../mesh'
import type { Store } from '../store'

const KEY = 'identity/secp256k1'

export async function loadOrCreateIdentity(store: Store): Promise<Identity> {
  const saved = await store.getMeta<string>(KEY)
  if (saved) return identityFromHex(saved as `0x${string}`)
  const identity = await generateIdentity()
  await store.setMeta(KEY, bytesToHex(identity.privateKey.raw))
  return identity
}

/** The identity kept in the store, if any. */
export async function loadIdentity(store: Store): Promise<Identity | undefined> {
  const saved = await store.getMeta<string>(KEY)
  return saved ? identityFromHex(saved as `0x${string}`) : undefined
}

/** Keeps `identity` in the store (a Node process's own file: lib/store/disk-node.ts). */
export async function keepIdentity(store: Store, identity: Identity): Promise<void> {
  await store.setMeta(KEY, bytesToHex(identity.privateKey.raw))
}

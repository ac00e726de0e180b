/**
 * A peer's key kept in the store, so a reloaded tab is the same peer and the same payee.
 *
 * Two ways to keep it (`IdentityStoreOptions.atRest`):
 * - `'plain'` (default, what Node callers use): the key as hex under `identity/secp256k1`.
 * - `'wrapped'` (browser tabs): the key encrypted with AES-GCM under a non-extractable WebCrypto
 *   key, both in one record under the same name (IndexedDB keeps a CryptoKey by structured
 *   clone, and it stays non-extractable there). A plain key found there is migrated on first
 *   load: the same key, so the same address and peer id.
 *
 * What wrapping protects, and what it does not (docs/trust.md, "Keys in the browser"): reading
 * the stored value (a script's `getAll`, DevTools, an IndexedDB export, a value copied into a
 * bug report) gives ciphertext and an opaque key handle, never the secp256k1 key or its hex; no
 * script can export the wrapping key. But any script running on the app's origin can ask
 * WebCrypto to decrypt with that handle, so an XSS or a hostile dependency still gets the key.
 * And the browser writes the wrapping key's own bytes into its IndexedDB files unencrypted
 * (Chromium does: tests/e2e/keys.test.ts checks it), so a copied profile, disk or backup still
 * yields the key to someone who parses those files; it no longer matches a scan for the key.
 */
import { bytesToHex, type Hex } from 'viem'
import { InvalidInputError } from '../errors'
import { generateIdentity, type Identity, identityFromHex } from '../mesh'
import type { Store } from '../store'

const KEY = 'identity/secp256k1'

/** A stored, wrapped key: one record, so the ciphertext never lands without the key that opens it. */
interface WrappedKey {
  v: 1
  alg: 'AES-GCM'
  /** Non-extractable AES-GCM key (256 bit), usages encrypt and decrypt. */
  key: CryptoKey
  /** 12-byte nonce, fresh for each write. */
  iv: Uint8Array
  /** The 32-byte secp256k1 key encrypted, with its 16-byte tag. */
  data: Uint8Array
}

export interface IdentityStoreOptions {
  /**
   * How the key rests in the store: `'plain'` hex (default) or `'wrapped'` by a non-extractable
   * WebCrypto key. `'wrapped'` needs WebCrypto and a store that keeps a CryptoKey (IndexedDB in a
   * browser); a stored plain key is then migrated, keeping the identity.
   */
  atRest?: 'plain' | 'wrapped' | undefined
}

const isWrapped = (v: unknown): v is WrappedKey =>
  typeof v === 'object' &&
  v !== null &&
  (v as WrappedKey).v === 1 &&
  (v as WrappedKey).alg === 'AES-GCM' &&
  typeof CryptoKey !== 'undefined' &&
  (v as WrappedKey).key instanceof CryptoKey &&
  (v as WrappedKey).iv instanceof Uint8Array &&
  (v as WrappedKey).data instanceof Uint8Array

/**
 * The tab's (or process's) identity: the one kept in `store`, or a new one kept there.
 * With `atRest: 'wrapped'` a plain key found in the store is sealed in the same call (the same
 * key: same address, same peer id). Either setting reads either form, so no identity is lost by
 * a caller that asks for the other one.
 *
 * Rejects with `InvalidInputError` (never a silent new identity, which would strand the old
 * one's pay) when the stored value is neither form or does not decrypt.
 */
export async function loadOrCreateIdentity(
  store: Store,
  opts: IdentityStoreOptions = {},
): Promise<Identity> {
  const saved = await store.getMeta<unknown>(KEY)
  const wrap = opts.atRest === 'wrapped'
  const kept = await decode(saved)
  if (kept) {
    // Migration: the same key, sealed; the plain hex is overwritten by the same write.
    if (wrap && typeof saved === 'string') await store.setMeta(KEY, await seal(kept.privateKey.raw))
    return kept
  }
  const identity = await generateIdentity()
  await store.setMeta(
    KEY,
    wrap ? await seal(identity.privateKey.raw) : bytesToHex(identity.privateKey.raw),
  )
  return identity
}

/** The identity kept in the store, plain or wrapped, if any. */
export async function loadIdentity(store: Store): Promise<Identity | undefined> {
  return decode(await store.getMeta<unknown>(KEY))
}

/**
 * Keeps `identity` in the store as plain hex: a Node process's own file (lib/store/disk-node.ts),
 * which cannot hold a CryptoKey and is protected by the file system instead.
 */
export async function keepIdentity(store: Store, identity: Identity): Promise<void> {
  await store.setMeta(KEY, bytesToHex(identity.privateKey.raw))
}

/** A stored value as an identity; undefined for nothing stored. */
async function decode(saved: unknown): Promise<Identity | undefined> {
  if (saved === undefined || saved === null || saved === '') return undefined
  if (typeof saved === 'string') return identityFromHex(saved as Hex)
  if (!isWrapped(saved))
    throw new InvalidInputError('The stored identity is neither a key nor a wrapped key.', {
      details: `found ${Object.prototype.toString.call(saved)} under "${KEY}"`,
      hint: 'The store was written by something else; clear this site’s data to start a new identity.',
    })
  return identityFromHex(await unseal(saved))
}

async function seal(raw: Uint8Array): Promise<WrappedKey> {
  if (typeof crypto === 'undefined' || !crypto.subtle)
    throw new InvalidInputError('WebCrypto is not available here: the key cannot be wrapped.', {
      hint: 'Pages need a secure context (https, or http://localhost) for crypto.subtle.',
    })
  const key = await crypto.subtle.generateKey({ name: 'AES-GCM', length: 256 }, false, [
    'encrypt',
    'decrypt',
  ])
  const iv = crypto.getRandomValues(new Uint8Array(12))
  const data = new Uint8Array(
    await crypto.subtle.encrypt({ name: 'AES-GCM', iv }, key, raw as Uint8Array<ArrayBuffer>),
  )
  return { v: 1, alg: 'AES-GCM', key, iv, data }
}

async function unseal(w: WrappedKey): Promise<Hex> {
  let raw: ArrayBuffer
  try {
    raw = await crypto.subtle.decrypt(
      { name: 'AES-GCM', iv: w.iv as Uint8Array<ArrayBuffer> },
      w.key,
      w.data as Uint8Array<ArrayBuffer>,
    )
  } catch (err) {
    throw new InvalidInputError('The stored identity could not be decrypted.', {
      cause: err,
      details: 'AES-GCM rejected the ciphertext (altered, or wrapped under another key)',
      hint: 'Clear this site’s data to start a new identity (pay not yet withdrawn to it is lost).',
    })
  }
  return bytesToHex(new Uint8Array(raw))
}

import { bytesToHex } from 'viem'
import { describe, expect, it } from 'vitest'
import { generateIdentity } from '../mesh'
import { openMemoryStore } from '../store/memory-node'
import { keepIdentity, loadIdentity, loadOrCreateIdentity } from './identity-store'

// The store here is the real idb code over fake-indexeddb (which structured-clones every value,
// as IndexedDB does) and the wrapping is Node's WebCrypto: the same calls a tab makes.
const KEY = 'identity/secp256k1'

/** Every byte string in a stored value, as lowercase hex, so a test can look for the key anywhere. */
function hexesIn(v: unknown): string[] {
  if (typeof v === 'string') return [v.toLowerCase()]
  if (v instanceof Uint8Array) return [bytesToHex(v)]
  if (typeof v === 'object' && v !== null) return Object.values(v).flatMap(hexesIn)
  return []
}
const holdsKey = (v: unknown, raw: Uint8Array) =>
  hexesIn(v).some((h) => h.includes(bytesToHex(raw).slice(2)))

describe('the identity at rest', () => {
  it('plain (the default, Node callers): hex in the store, the same identity when reopened', async () => {
    const store = await openMemoryStore()
    const a = await loadOrCreateIdentity(store)
    expect(await store.getMeta(KEY)).toBe(bytesToHex(a.privateKey.raw))
    expect((await loadOrCreateIdentity(store)).address).toBe(a.address)
  })

  // Why: a key stored as hex is taken by anything that reads the stored value (a script's
  // getAll, DevTools, an export of the site's data), with no need to run code on the origin.
  it('wrapped: the store holds ciphertext and a non-extractable key, never the key bytes', async () => {
    const store = await openMemoryStore()
    const a = await loadOrCreateIdentity(store, { atRest: 'wrapped' })
    const saved = await store.getMeta<{ key: CryptoKey; iv: Uint8Array; data: Uint8Array }>(KEY)
    expect(holdsKey(saved, a.privateKey.raw)).toBe(false)
    expect(saved?.key).toBeInstanceOf(CryptoKey)
    expect(saved?.key.extractable).toBe(false)
    expect(saved?.key.algorithm).toMatchObject({ name: 'AES-GCM', length: 256 })
    await expect(crypto.subtle.exportKey('raw', saved!.key)).rejects.toThrow()
    await expect(crypto.subtle.exportKey('jwk', saved!.key)).rejects.toThrow()
    expect(saved?.iv).toHaveLength(12)
    expect(saved?.data).toHaveLength(32 + 16)
    expect((await loadOrCreateIdentity(store, { atRest: 'wrapped' })).address).toBe(a.address)
    // A caller that asks for plain still reads a wrapped key (and does not unwrap it on disk).
    expect((await loadOrCreateIdentity(store)).address).toBe(a.address)
    expect(holdsKey(await store.getMeta(KEY), a.privateKey.raw)).toBe(false)
  })

  it('a wrapped key survives closing and reopening the database (a reloaded tab)', async () => {
    const name = `identity-reopen-${process.pid}`
    const first = await openMemoryStore(name)
    const a = await loadOrCreateIdentity(first, { atRest: 'wrapped' })
    first.close()
    const second = await openMemoryStore(name)
    const b = await loadOrCreateIdentity(second, { atRest: 'wrapped' })
    expect(b.address).toBe(a.address)
    expect(b.peerId.toString()).toBe(a.peerId.toString())
    second.close()
  })

  it('migrates a plain key to a wrapped one, keeping the address and peer id', async () => {
    const store = await openMemoryStore()
    const before = await loadOrCreateIdentity(store)
    const after = await loadOrCreateIdentity(store, { atRest: 'wrapped' })
    expect(after.address).toBe(before.address)
    expect(after.peerId.toString()).toBe(before.peerId.toString())
    const saved = await store.getMeta(KEY)
    expect(typeof saved).toBe('object')
    expect(holdsKey(saved, before.privateKey.raw)).toBe(false)
    expect((await loadOrCreateIdentity(store, { atRest: 'wrapped' })).address).toBe(before.address)
  })

  it('loadIdentity reads either form; keepIdentity (a Node process’s own file) keeps hex', async () => {
    const store = await openMemoryStore()
    expect(await loadIdentity(store)).toBeUndefined()
    const wrapped = await loadOrCreateIdentity(store, { atRest: 'wrapped' })
    expect((await loadIdentity(store))?.address).toBe(wrapped.address)
    const other = await generateIdentity()
    await keepIdentity(store, other)
    expect(await store.getMeta(KEY)).toBe(bytesToHex(other.privateKey.raw))
    expect((await loadIdentity(store))?.address).toBe(other.address)
  })

  // Why: a silent new identity would strand the old one's pay, claims and stake.
  it('an altered ciphertext or a foreign record is a clear error, not a new identity', async () => {
    const store = await openMemoryStore()
    await loadOrCreateIdentity(store, { atRest: 'wrapped' })
    const saved = await store.getMeta<{ data: Uint8Array }>(KEY)
    saved!.data[0]! ^= 1
    await store.setMeta(KEY, saved)
    await expect(loadOrCreateIdentity(store, { atRest: 'wrapped' })).rejects.toMatchObject({
      name: 'InvalidInputError',
      shortMessage: 'The stored identity could not be decrypted.',
    })
    await expect(loadIdentity(store)).rejects.toMatchObject({ name: 'InvalidInputError' })
    await store.setMeta(KEY, { v: 1, alg: 'AES-GCM', key: 'not a key' })
    await expect(loadOrCreateIdentity(store, { atRest: 'wrapped' })).rejects.toMatchObject({
      name: 'InvalidInputError',
    })
  })
})

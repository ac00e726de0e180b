import { bytesToHex } from 'viem'
import { describe, expect, it } from 'vitest'
import { openMemoryStore } from '../store/memory-node'
import { loadOrCreateIdentity } from './identity-store'

const KEY = 'identity/secp256k1'

/** Every byte string in a stored value, as hex, so a test can look for the key in any field. */
function hexesIn(v: unknown): string[] {
  if (typeof v === 'string') return [v.toLowerCase()]
  if (v instanceof Uint8Array) return [bytesToHex(v)]
  if (typeof v === 'object' && v !== null) return Object.values(v).flatMap(hexesIn)
  return []
}

describe('the identity at rest', () => {
  it('plain (the default, Node callers): hex in the store, the same identity when reopened', async () => {
    const store = await openMemoryStore()
    const a = await loadOrCreateIdentity(store)
    expect(await store.getMeta(KEY)).toBe(bytesToHex(a.privateKey.raw))
    expect((await loadOrCreateIdentity(store)).address).toBe(a.address)
  })

  // Why: a key stored as hex is taken by anything that reads the stored value.
  it('wrapped: the store holds ciphertext and a non-extractable key, never the key bytes', async () => {
    const store = await openMemoryStore()
    const a = await loadOrCreateIdentity(store, { atRest: 'wrapped' })
    const raw = bytesToHex(a.privateKey.raw).slice(2)
    const saved = await store.getMeta<{ key: CryptoKey }>(KEY)
    expect(hexesIn(saved).some((h) => h.includes(raw))).toBe(false)
    expect(saved?.key.extractable).toBe(false)
    await expect(crypto.subtle.exportKey('raw', saved!.key)).rejects.toThrow()
    expect((await loadOrCreateIdentity(store, { atRest: 'wrapped' })).address).toBe(a.address)
    // A caller that asks for plain still reads a wrapped key: no identity is lost either way.
    expect((await loadOrCreateIdentity(store)).address).toBe(a.address)
  })

  it('migrates a plain key to a wrapped one, keeping the address and peer id', async () => {
    const store = await openMemoryStore()
    const before = await loadOrCreateIdentity(store)
    const after = await loadOrCreateIdentity(store, { atRest: 'wrapped' })
    expect(after.address).toBe(before.address)
    expect(after.peerId.toString()).toBe(before.peerId.toString())
    expect(typeof (await store.getMeta(KEY))).toBe('object')
    expect(hexesIn(await store.getMeta(KEY))).not.toContain(bytesToHex(before.privateKey.raw))
    expect((await loadOrCreateIdentity(store, { atRest: 'wrapped' })).address).toBe(before.address)
  })

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
    await store.setMeta(KEY, { v: 1, alg: 'AES-GCM', key: 'not a key' })
    await expect(loadOrCreateIdentity(store, { atRest: 'wrapped' })).rejects.toMatchObject({
      name: 'InvalidInputError',
    })
  })
})

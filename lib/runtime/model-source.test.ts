import { describe, expect, it } from 'vitest'
import { openMemoryStore } from '../store/memory-node'
import { getModel, type ModelSource, readCapped, sha256Hex } from './model-source'

const bytes = new TextEncoder().encode('not really onnx, but bytes with a hash')
const source = (name: string, body: Uint8Array | undefined, calls: string[] = []): ModelSource => ({
  name,
  fetch: async () => {
    calls.push(name)
    return body
  },
})

describe('getModel', () => {
  it('returns bytes whose sha256 matches and caches them', async () => {
    const store = await openMemoryStore()
    const hash = await sha256Hex(bytes)
    const calls: string[] = []
    expect(await getModel(hash, { store, sources: [source('origin', bytes, calls)] })).toEqual(
      bytes,
    )
    // Second time from the cache: no source is asked.
    expect(await getModel(hash, { store, sources: [source('origin', bytes, calls)] })).toEqual(
      bytes,
    )
    expect(calls).toEqual(['origin'])
  })

  // A peer (or a compromised origin) serving different bytes must never get them run or cached.
  it('skips a source that sends the wrong bytes and uses the next', async () => {
    const store = await openMemoryStore()
    const hash = await sha256Hex(bytes)
    const got = await getModel(hash, {
      store,
      sources: [source('evil', new Uint8Array([1, 2, 3])), source('peer', bytes)],
    })
    expect(got).toEqual(bytes)
  })

  it('fails with hash-mismatch naming the source when every source lies', async () => {
    const hash = await sha256Hex(bytes)
    await expect(
      getModel(hash, { sources: [source('evil', new Uint8Array([9]))] }),
    ).rejects.toMatchObject({
      name: 'ModelError',
      reason: 'hash-mismatch',
      details: expect.stringMatching(/evil: sent bytes with sha256 0x/),
    })
  })

  it('fails with fetch-failed when nobody has the model', async () => {
    await expect(
      getModel(`0x${'00'.repeat(32)}`, { sources: [source('origin', undefined)] }),
    ).rejects.toMatchObject({ reason: 'fetch-failed' })
  })
})

describe('readCapped', () => {
  // A hostile server must not be able to make a tab buffer gigabytes.
  it('stops reading past the limit', async () => {
    const res = new Response(new Uint8Array(5000))
    await expect(readCapped(res, 4096)).rejects.toMatchObject({
      name: 'ModelError',
      reason: 'too-large',
    })
  })

  it('refuses early when content-length says too much', async () => {
    const res = new Response('x', { headers: { 'content-length': '999999' } })
    await expect(readCapped(res, 10)).rejects.toThrowError(/999999 bytes; the limit is 10/)
  })

  it('reads a body within the limit and reports progress', async () => {
    const seen: number[] = []
    const out = await readCapped(new Response(new Uint8Array(300)), 4096, (n) => seen.push(n))
    expect(out.byteLength).toBe(300)
    expect(seen.at(-1)).toBe(300)
  })
})

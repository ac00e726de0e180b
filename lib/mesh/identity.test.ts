import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { addressOfPeer, generateIdentity } from './identity'

describe('addressOfPeer', () => {
  it("gives a secp256k1 peer its key's EVM address, from a peer id or its text, again and again", async () => {
    const ids = await Promise.all(Array.from({ length: 3 }, () => generateIdentity()))
    for (let round = 0; round < 2; round++)
      for (const id of ids) {
        expect(addressOfPeer(id.peerId)).toBe(id.address)
        expect(addressOfPeer(id.peerId.toString())).toBe(id.address)
      }
  })

  it('gives no address to a peer with another kind of key', async () => {
    const ed = peerIdFromPrivateKey(await generateKeyPair('Ed25519'))
    expect(addressOfPeer(ed)).toBeUndefined()
    expect(addressOfPeer(ed.toString())).toBeUndefined()
  })

  it('refuses text that is no peer id', () => {
    expect(() => addressOfPeer('not a peer id')).toThrow()
  })
})

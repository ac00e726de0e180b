/** The relay's identity kept in a file, so its multiaddr (and the tabs that know it) survive restarts. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'

export async function loadOrCreateRelayKey(file: string): Promise<PrivateKey> {
  if (existsSync(file)) return privateKeyFromProtobuf(readFileSync(file))
  const key = await generateKeyPair('Ed25519')
  mkdirSync(dirname(file), { recursive: true })
  writeFileSync(file, privateKeyToProtobuf(key), { mode: 0o600 })
  return key
}

/**
 * Where the CLI finds its network: flags, then MESHWORK_* variables, then the file that
 * `npm start` writes (.meshwork/network.json) describing the local network it runs.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Address, Hex } from 'viem'
import { DEV_PRIVATE_KEYS, LOCAL_CHAIN_ID, validateChainConfig } from '../lib/chain'
import { ConfigError } from '../lib/errors'

export const NETWORK_FILE = join(process.cwd(), '.meshwork/network.json')

export interface NetworkFile {
  relays: string[]
  relayHealth?: string[]
  rpcUrl: string
  chainId: number
  contract: Address
  /** MeshworkRequests, where on-chain requests are made (`meshwork bridge`). */
  requests?: Address
  appUrl?: string
}

/**
 * Where Node processes keep their state: one SQLite file per key (lib/store/disk-node.ts), so a
 * killed `meshwork submit` can be resumed and a killed volunteer loses no result or claim.
 */
export const DEFAULT_DATA_DIR = '.meshwork/store'

export const DATA_DIR_OPTION = {
  'data-dir': { type: 'string', default: DEFAULT_DATA_DIR },
} as const

/** parseArgs options of the commands that talk to the chain only. */
export const CHAIN_OPTIONS = {
  rpc: { type: 'string' },
  'chain-id': { type: 'string' },
  contract: { type: 'string' },
} as const

/** parseArgs options shared by every command that joins a network. */
export const NETWORK_OPTIONS = {
  relay: { type: 'string', multiple: true },
  ...CHAIN_OPTIONS,
} as const

export interface NetworkFlags {
  relay?: string[] | undefined
  rpc?: string | undefined
  'chain-id'?: string | undefined
  contract?: string | undefined
}

export const networkFile = (): Partial<NetworkFile> =>
  existsSync(NETWORK_FILE) ? JSON.parse(readFileSync(NETWORK_FILE, 'utf8')) : {}

/** The chain only (commands that send transactions but do not join the mesh). */
export function resolveChain(flags: Omit<NetworkFlags, 'relay'>) {
  const file = networkFile()
  return validateChainConfig({
    rpcUrl: flags.rpc ?? process.env.MESHWORK_RPC_URL ?? file.rpcUrl,
    chainId: Number(flags['chain-id'] ?? process.env.MESHWORK_CHAIN_ID ?? file.chainId),
    contract: (flags.contract ?? process.env.MESHWORK_CONTRACT ?? file.contract) as Address,
  })
}

export function resolveNetwork(flags: NetworkFlags) {
  const relays =
    flags.relay ??
    process.env.MESHWORK_RELAYS?.split(',').filter(Boolean) ??
    networkFile().relays ??
    []
  if (relays.length === 0) {
    throw new ConfigError('No relay configured.', {
      hint: 'Pass --relay MULTIADDR, set MESHWORK_RELAYS, or run `npm start` first.',
    })
  }
  return { ...resolveChain(flags), relays }
}

/** The paying key: --key, MESHWORK_KEY, or on the local chain only anvil's dev account 1. */
export function resolveKey(
  flag: string | undefined,
  chainId: number,
  say: (s: string) => void,
): Hex {
  const key = flag ?? process.env.MESHWORK_KEY
  if (key) {
    if (!/^0x[0-9a-fA-F]{64}$/.test(key))
      throw new ConfigError('The key must be 0x followed by 64 hex digits.')
    return key as Hex
  }
  if (chainId === LOCAL_CHAIN_ID) {
    say('No key given: using anvil dev account 1 (public test key, local chain only).')
    return DEV_PRIVATE_KEYS[1]!
  }
  throw new ConfigError('No key given.', {
    hint: 'Pass --key 0x… or set MESHWORK_KEY (the account that pays the escrow).',
  })
}

/**
 * Which chain and contract to talk to. Everything chain-related is configured by these three
 * values (RPC URL, chain id, contract address), so the same code runs on the local anvil chain
 * and on any EVM chain.
 */
import {
  type Address,
  type Chain,
  createPublicClient,
  defineChain,
  http,
  isAddress,
  type PublicClient,
} from 'viem'
import { ConfigError } from '../errors'

export interface ChainConfig {
  rpcUrl: string
  chainId: number
  contract: Address
}

export const LOCAL_CHAIN_ID = 31337

export function validateChainConfig(
  c: { [K in keyof ChainConfig]?: ChainConfig[K] | undefined },
): ChainConfig {
  if (!c.rpcUrl || !/^https?:\/\//.test(c.rpcUrl)) {
    throw new ConfigError(`Invalid RPC URL ${JSON.stringify(c.rpcUrl)}.`, {
      hint: 'Set MESHWORK_RPC_URL or --rpc.',
    })
  }
  if (!Number.isSafeInteger(c.chainId) || (c.chainId ?? 0) <= 0) {
    throw new ConfigError(`Invalid chain id ${JSON.stringify(c.chainId)}.`, {
      hint: 'Set MESHWORK_CHAIN_ID or --chain-id.',
    })
  }
  if (!c.contract || !isAddress(c.contract)) {
    throw new ConfigError(`Invalid contract address ${JSON.stringify(c.contract)}.`, {
      hint: 'Set MESHWORK_CONTRACT or --contract (npm start prints it).',
    })
  }
  return c as ChainConfig
}

export function chainFor(c: Pick<ChainConfig, 'rpcUrl' | 'chainId'>): Chain {
  return defineChain({
    id: c.chainId,
    name: c.chainId === LOCAL_CHAIN_ID ? 'Local (anvil)' : `Chain ${c.chainId}`,
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [c.rpcUrl] } },
  })
}

export function publicClientFor(c: Pick<ChainConfig, 'rpcUrl' | 'chainId'>): PublicClient {
  return createPublicClient({ chain: chainFor(c), transport: http(c.rpcUrl), pollingInterval: 250 })
}

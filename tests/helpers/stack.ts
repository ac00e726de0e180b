/**
 * A local Meshwork network for integration tests: anvil, the contract deployed, a relay. All on
 * loopback inside the test's network namespace (scripts/in-netns.sh).
 */
import { createWalletClient, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  type ChainConfig,
  chainFor,
  DEV_PRIVATE_KEYS,
  deployEscrow,
  publicClientFor,
} from '../../lib/chain'
import { type Relay, startRelay } from '../../relay/relay'
import { type Anvil, startAnvil } from '../../scripts/lib/anvil'
import { freePort } from '../../scripts/lib/procs'

export interface TestStack {
  anvil: Anvil
  relay: Relay
  chain: ChainConfig
  stop(): Promise<void>
}

export async function startTestStack(): Promise<TestStack> {
  const anvil = await startAnvil({ port: await freePort() })
  const cfg = { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }
  const deployer = createWalletClient({
    account: privateKeyToAccount(DEV_PRIVATE_KEYS[0]!),
    chain: chainFor(cfg),
    transport: http(cfg.rpcUrl),
  })
  const contract = await deployEscrow(deployer, publicClientFor(cfg))
  const relay = await startRelay({ host: '127.0.0.1', port: 0, healthPort: 0 })
  return {
    anvil,
    relay,
    chain: { ...cfg, contract },
    async stop() {
      await relay.stop()
      await anvil.stop()
    },
  }
}

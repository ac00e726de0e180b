/**
 * A local Meshwork network for integration tests: anvil, the contract deployed, a relay; no web
 * app. On loopback inside the test's network namespace (scripts/in-netns.sh).
 */

import type { Address } from 'viem'
import type { ChainConfig } from '../../lib/chain'
import type { Relay } from '../../relay/relay'
import { startStack } from '../../scripts/lib/stack'

export interface TestStack {
  relay: Relay
  chain: ChainConfig
  requests: Address
  stop(): Promise<void>
}

export function startTestStack(): Promise<TestStack> {
  return startStack({ ports: 'free', app: false })
}

/**
 * DEV KEYS FOR THE LOCAL CHAIN ONLY. These are anvil's default accounts, derived from the public
 * mnemonic "test test test test test test test test test test test junk". Anyone can spend what
 * they hold on any chain: never send real funds to them. `npm start` and the tests use them on
 * the local anvil chain (chain id 31337) only.
 */
import type { Hex } from 'viem'

export const DEV_MNEMONIC = 'test test test test test test test test test test test junk'

/** anvil accounts 0..3: 0 deploys, 1 is the dev requester, 2 settles for dev volunteers. */
export const DEV_PRIVATE_KEYS: readonly Hex[] = [
  '0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80',
  '0x59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d',
  '0x5de4111afa1a4b94908f83103eb1f1706367c2e68ca870fc3fb9a804cdab365a',
  '0x7c852118294e51e653712a81e05800f419141751be58f605c371e15141b007a6',
]

/** Addresses of the keys above, for UIs that must not carry the keys themselves. */
export const DEV_ADDRESSES = [
  '0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266',
  '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
  '0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC',
  '0x90F79bf6EB2c4f870365E785982E1f101E93b906',
] as const

/**
 * DEV KEY FOR THE LOCAL CHAIN ONLY: the on-chain request bridge's coordinator key in the local
 * network (`npm start`, tests). MeshworkRequests is deployed there with this key's address as
 * its default coordinator, so the bridge may answer requests that accept the default. It holds
 * no ether and needs none (it only signs); it is public, so anyone can sign as it: never name it
 * as a coordinator on a chain with real funds.
 */
export const DEV_COORDINATOR_KEY: Hex =
  '0x6d657368776f726b2d6465762d636f6f7264696e61746f722d6b65792d303031'

/** The address of DEV_COORDINATOR_KEY. */
export const DEV_COORDINATOR_ADDRESS = '0x9073aCfa59687638Ec6D8287ab539b8A160F6878' as const

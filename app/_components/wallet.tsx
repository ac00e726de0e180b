'use client'
/**
 * Wallets through wagmi: any injected wallet (MetaMask and friends) and, on a local dev chain
 * only, anvil's dev account 1 through wagmi's mock connector, clearly labelled, so the app works
 * without an extension. The dev account's key is public; it never appears on a real chain.
 */
import { QueryClient, QueryClientProvider } from '@tanstack/react-query'
import { type ReactNode, useMemo, useState } from 'react'
import { formatEther } from 'viem'
import {
  createConfig,
  http,
  injected,
  mock,
  useAccount,
  useBalance,
  useConnect,
  useDisconnect,
  useWalletClient,
  WagmiProvider,
} from 'wagmi'
import { chainFor, DEV_ADDRESSES, type Wallet } from '../../lib/chain'
import type { AppConfig } from '../../lib/env/app-config'

/** Remembers that this browser chose the dev account, so it reconnects after a reload like an extension does. */
const DEV_WALLET_FLAG = 'meshwork.devWallet'
const devWalletChosen = () =>
  typeof localStorage !== 'undefined' && localStorage.getItem(DEV_WALLET_FLAG) === '1'

/** One provider for the whole app (root layout), so the connection survives page changes. */
export function WalletProvider({ config, children }: { config: AppConfig; children: ReactNode }) {
  const [queryClient] = useState(() => new QueryClient())
  const wagmiConfig = useMemo(() => {
    const chain = chainFor(config)
    const dev = config.dev
      ? [
          mock({
            accounts: [DEV_ADDRESSES[1]],
            features: { reconnect: true, defaultConnected: devWalletChosen() },
          }),
        ]
      : []
    return createConfig({
      chains: [chain],
      connectors: [injected(), ...dev],
      transports: { [chain.id]: http(config.rpcUrl) },
      ssr: true,
    })
  }, [config])
  return (
    <WagmiProvider config={wagmiConfig}>
      <QueryClientProvider client={queryClient}>{children}</QueryClientProvider>
    </WagmiProvider>
  )
}

/** The connected wallet as a viem wallet client, for lib/chain. */
export function useWallet(): Wallet | undefined {
  const { data } = useWalletClient()
  return data as Wallet | undefined
}

export function ConnectWallet({ purpose }: { purpose: string }) {
  const { address, connector, isConnected } = useAccount()
  const { connectors, connect, error, isPending } = useConnect()
  const { disconnect } = useDisconnect()
  const { data: balance } = useBalance({
    address,
    query: { enabled: !!address, refetchInterval: 4000 },
  })
  if (isConnected && address) {
    return (
      <div className="card">
        <div className="row" style={{ justifyContent: 'space-between' }}>
          <div>
            <div>
              Wallet: <span className="mono">{address}</span>{' '}
              {connector?.id === 'mock' && (
                <span className="badge warn">dev account · local chain only</span>
              )}
            </div>
            <div className="muted">
              Balance: {balance ? `${formatEther(balance.value)} ETH` : '…'}
            </div>
          </div>
          <button
            type="button"
            className="secondary"
            onClick={() => {
              localStorage.removeItem(DEV_WALLET_FLAG)
              disconnect()
            }}
          >
            Disconnect
          </button>
        </div>
      </div>
    )
  }
  return (
    <div className="card">
      <p>Connect a wallet to {purpose}.</p>
      <div className="row">
        {connectors.map((c) => (
          <button
            key={c.uid}
            type="button"
            disabled={isPending}
            onClick={() => {
              if (c.id === 'mock') localStorage.setItem(DEV_WALLET_FLAG, '1')
              connect({ connector: c })
            }}
            data-connector={c.id}
          >
            {c.id === 'mock' ? 'Use the dev account (local chain only)' : c.name}
          </button>
        ))}
      </div>
      {connectors.some((c) => c.id === 'mock') && (
        <p className="muted">
          The dev account is anvil’s public test account 1: fine on this local chain, worthless
          anywhere else.
        </p>
      )}
      {error && <div className="error">{error.message.split('\n')[0]}</div>}
    </div>
  )
}

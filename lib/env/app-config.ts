/**
 * What a Meshwork app or volunteer needs to know about its network: relays, chain and contract.
 * The server reads it from the environment at request time (so one build serves any network)
 * and passes it to the pages; `npm start` sets the variables.
 *
 *   MESHWORK_RELAYS        comma-separated relay multiaddrs
 *   MESHWORK_RPC_URL       JSON-RPC URL of the chain, reachable from the browser
 *   MESHWORK_CHAIN_ID      chain id
 *   MESHWORK_CONTRACT      JobEscrow address
 *   MESHWORK_RELAY_HEALTH  comma-separated relay health URLs, same order (optional)
 *   MESHWORK_DEV           "1" on a local dev network: allow loopback/private addresses and
 *                          offer the labelled dev accounts (never on a public chain)
 */

export interface AppConfig {
  relays: string[]
  /** Health endpoints of the relays, same order; may be shorter. */
  relayHealth: string[]
  rpcUrl: string
  chainId: number
  contract: `0x${string}`
  dev: boolean
  /** Where catalogue models are served, relative to the app origin. */
  modelsBase: string
}

export type AppConfigResult = { ok: true; config: AppConfig } | { ok: false; missing: string[] }

export function appConfigFromEnv(env: Record<string, string | undefined>): AppConfigResult {
  const missing: string[] = []
  const relays = (env.MESHWORK_RELAYS ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean)
  if (relays.length === 0) missing.push('MESHWORK_RELAYS')
  if (!env.MESHWORK_RPC_URL) missing.push('MESHWORK_RPC_URL')
  const chainId = Number(env.MESHWORK_CHAIN_ID)
  if (!Number.isSafeInteger(chainId) || chainId <= 0) missing.push('MESHWORK_CHAIN_ID')
  if (!/^0x[0-9a-fA-F]{40}$/.test(env.MESHWORK_CONTRACT ?? '')) missing.push('MESHWORK_CONTRACT')
  if (missing.length > 0) return { ok: false, missing }
  return {
    ok: true,
    config: {
      relays,
      relayHealth: (env.MESHWORK_RELAY_HEALTH ?? '')
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean),
      rpcUrl: env.MESHWORK_RPC_URL!,
      chainId,
      contract: env.MESHWORK_CONTRACT as `0x${string}`,
      dev: env.MESHWORK_DEV === '1',
      modelsBase: '/models',
    },
  }
}

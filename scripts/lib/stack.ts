/**
 * The whole local network on one machine: anvil (from npm), JobEscrow deployed with dev key 0,
 * the relay, and the web app. Used by `npm start`, `npm run demo` and the browser tests.
 */
import { existsSync, readdirSync, statSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { type Address, createWalletClient, http } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  type ChainConfig,
  chainFor,
  DEV_COORDINATOR_ADDRESS,
  DEV_PRIVATE_KEYS,
  deployEscrow,
  deployRequests,
  publicClientFor,
} from '../../lib/chain'
import { loadOrCreateRelayKey } from '../../relay/key'
import { type Relay, startRelay } from '../../relay/relay'
import { buildEmbed } from '../build-embed'
import { ensureModels } from '../models'
import { type Anvil, startAnvil } from './anvil'
import { assertPortFree, freePort, run, type Service, startService } from './procs'

export const ROOT = join(import.meta.dirname, '../..')

export interface StackPorts {
  chain: number
  relay: number
  relayHealth: number
  app: number
}

export const DEFAULT_PORTS: StackPorts = { chain: 8545, relay: 9090, relayHealth: 9091, app: 3000 }

/** How to change each port, for the message when it is taken. */
export const PORT_FLAGS: Record<keyof StackPorts, string> = {
  chain: '--chain-port or MESHWORK_CHAIN_PORT',
  relay: '--relay-port or MESHWORK_RELAY_PORT',
  relayHealth: '--relay-health-port or MESHWORK_RELAY_HEALTH_PORT',
  app: '--app-port or MESHWORK_APP_PORT',
}

export interface Stack {
  anvil: Anvil
  relay: Relay
  app: Service | undefined
  chain: ChainConfig
  /** MeshworkRequests (on-chain requests), deployed beside the escrow. */
  requests: Address
  appUrl: string | undefined
  env: Record<string, string>
  stop(): Promise<void>
}

export interface StackOptions {
  /** Fixed ports (npm start) or 'free' to pick unused ones (tests, demo). */
  ports: StackPorts | 'free'
  /** Relay identity file (npm start keeps its address across restarts); default a fresh key. */
  relayKeyFile?: string
  /** Start the web app too. Default true. */
  app?: boolean
  echo?: boolean
  log?: (line: string) => void
  /** More environment for the web app only (e.g. MESHWORK_EMBED_ORIGINS in the embed test). */
  appEnv?: Record<string, string>
}

export async function startStack(opts: StackOptions): Promise<Stack> {
  const log = opts.log ?? (() => {})
  ensureModels()
  const ports =
    opts.ports === 'free'
      ? {
          chain: await freePort(),
          relay: await freePort(),
          relayHealth: await freePort(),
          app: await freePort(),
        }
      : opts.ports
  if (opts.ports !== 'free') {
    for (const key of Object.keys(ports) as Array<keyof StackPorts>) {
      if (key === 'app' && opts.app === false) continue
      await assertPortFree(
        ports[key],
        `${key === 'relayHealth' ? 'relay health endpoint' : key === 'app' ? 'web app' : key}`,
        PORT_FLAGS[key],
      )
    }
  }
  const stops: Array<() => Promise<void>> = []
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => {})
  }
  try {
    log('starting anvil…')
    const anvil = await startAnvil({ port: ports.chain, echo: opts.echo ?? false })
    stops.push(() => anvil.stop())
    const cfg = { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }
    const deployer = createWalletClient({
      account: privateKeyToAccount(DEV_PRIVATE_KEYS[0]!),
      chain: chainFor(cfg),
      transport: http(cfg.rpcUrl),
    })
    const contract = await deployEscrow(deployer, publicClientFor(cfg))
    log(`JobEscrow deployed at ${contract}`)
    const requests = await deployRequests(
      deployer,
      publicClientFor(cfg),
      contract,
      DEV_COORDINATOR_ADDRESS,
    )
    const relay = await startRelay({
      host: '127.0.0.1',
      port: ports.relay,
      healthPort: ports.relayHealth,
      privateKey: opts.relayKeyFile ? await loadOrCreateRelayKey(opts.relayKeyFile) : undefined,
    })
    stops.push(() => relay.stop())
    const chain = { ...cfg, contract }
    const env = {
      MESHWORK_RELAYS: relay.multiaddr,
      MESHWORK_RELAY_HEALTH: relay.healthUrl,
      MESHWORK_RPC_URL: anvil.rpcUrl,
      MESHWORK_CHAIN_ID: String(anvil.chainId),
      MESHWORK_CONTRACT: contract,
      MESHWORK_REQUESTS: requests,
      MESHWORK_DEV: '1',
    }
    let app: Service | undefined
    let appUrl: string | undefined
    if (opts.app !== false) {
      await buildAppIfStale(log)
      log('starting the web app…')
      app = await startService({
        name: 'app',
        command: join(ROOT, 'node_modules/.bin/next'),
        args: ['start', '-p', String(ports.app), '-H', '127.0.0.1'],
        env: { ...env, ...opts.appEnv, NEXT_TELEMETRY_DISABLED: '1' },
        cwd: ROOT,
        ready: (line) => /Ready in|started server/i.test(line),
        echo: opts.echo ?? false,
        timeoutMs: 60_000,
      })
      stops.push(() => app!.stop())
      appUrl = `http://localhost:${ports.app}`
    }
    return { anvil, relay, app, chain, requests, appUrl, env, stop }
  } catch (err) {
    await stop()
    throw err
  }
}

const SOURCES = [
  'app',
  'lib',
  'workers',
  'public',
  'next.config.mjs',
  'proxy.ts',
  'package-lock.json',
  'tsconfig.json',
]

function newestMtime(path: string): number {
  const st = statSync(path)
  if (!st.isDirectory()) return st.mtimeMs
  let newest = st.mtimeMs
  for (const entry of readdirSync(path)) {
    if (entry === 'node_modules' || entry.startsWith('.')) continue
    newest = Math.max(newest, newestMtime(join(path, entry)))
  }
  return newest
}

/** Runs `next build` when no build exists or a source changed since the last one. */
export async function buildAppIfStale(log: (line: string) => void = () => {}): Promise<void> {
  const buildId = join(ROOT, '.next/BUILD_ID')
  const built = existsSync(buildId) ? statSync(buildId).mtimeMs : 0
  const newest = Math.max(
    ...SOURCES.map((s) => join(ROOT, s))
      .filter(existsSync)
      .map(newestMtime),
  )
  if (built > newest) return
  log('building the web app (next build, ~30 s)…')
  await buildEmbed()
  await run(join(ROOT, 'node_modules/.bin/next'), ['build'], {
    cwd: ROOT,
    env: { NEXT_TELEMETRY_DISABLED: '1' },
  })
}

/** The CLI's network flags (`--relay --rpc --chain-id --contract`) for a running stack. */
export function cliNetworkFlags(stack: Pick<Stack, 'relay' | 'chain'>): string[] {
  return [
    '--relay',
    stack.relay.multiaddr,
    '--rpc',
    stack.chain.rpcUrl,
    '--chain-id',
    String(stack.chain.chainId),
    '--contract',
    stack.chain.contract,
  ]
}

/**
 * A `meshwork volunteer` process on `stack`, as a server would run it; resolves once it
 * volunteers, with its address (lowercase).
 */
export async function startVolunteerProcess(
  stack: Pick<Stack, 'relay' | 'chain'>,
  opts: {
    name: string
    keyFile: string
    /** Where it keeps its state. Default: beside its key file. */
    dataDir?: string
    env?: Record<string, string>
    timeoutMs?: number
  },
): Promise<{ service: Service; address: string }> {
  let address = ''
  const service = await startService({
    name: opts.name,
    command: join(ROOT, 'node_modules/.bin/tsx'),
    args: [
      join(ROOT, 'cli/meshwork.ts'),
      'volunteer',
      '--key-file',
      opts.keyFile,
      '--data-dir',
      opts.dataDir ?? dirname(opts.keyFile),
      ...cliNetworkFlags(stack),
    ],
    cwd: ROOT,
    ...(opts.env ? { env: opts.env } : {}),
    ready: (line) => {
      const m = /^Volunteering as (0x[0-9a-fA-F]{40})/.exec(line)
      if (m) address = m[1]!.toLowerCase()
      return m !== null
    },
    timeoutMs: opts.timeoutMs ?? 60_000,
  })
  return { service, address }
}

/**
 * `npm start`: the whole Meshwork network on this machine — anvil (local chain), the JobEscrow
 * contract, a relay and the web app — until Ctrl-C, which stops everything.
 *
 *   --chain-port P         anvil JSON-RPC (MESHWORK_CHAIN_PORT, default 8545)
 *   --relay-port P         relay WebSocket (MESHWORK_RELAY_PORT, default 9090)
 *   --relay-health-port P  relay health HTTP (MESHWORK_RELAY_HEALTH_PORT, default 9091)
 *   --app-port P           web app (MESHWORK_APP_PORT, default 3000)
 */
import '../lib/env/polyfills-node'
import { mkdirSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { NETWORK_FILE, type NetworkFile } from '../cli/network'
import { BaseError, errorMessage } from '../lib/errors'
import { DEFAULT_PORTS, ROOT, type Stack, startStack } from './lib/stack'

const env = process.env
const { values } = parseArgs({
  options: {
    'chain-port': {
      type: 'string',
      default: env.MESHWORK_CHAIN_PORT ?? String(DEFAULT_PORTS.chain),
    },
    'relay-port': {
      type: 'string',
      default: env.MESHWORK_RELAY_PORT ?? String(DEFAULT_PORTS.relay),
    },
    'relay-health-port': {
      type: 'string',
      default: env.MESHWORK_RELAY_HEALTH_PORT ?? String(DEFAULT_PORTS.relayHealth),
    },
    'app-port': { type: 'string', default: env.MESHWORK_APP_PORT ?? String(DEFAULT_PORTS.app) },
  },
})
const port = (name: keyof typeof values) => {
  const n = Number(values[name])
  if (!Number.isInteger(n) || n < 1 || n > 65535) {
    console.error(`--${name} must be a port number (1–65535), got ${JSON.stringify(values[name])}.`)
    process.exit(1)
  }
  return n
}
const ports = {
  chain: port('chain-port'),
  relay: port('relay-port'),
  relayHealth: port('relay-health-port'),
  app: port('app-port'),
}

let stack: Stack | undefined
let stopping = false
const shutdown = async (code: number) => {
  if (stopping) return
  stopping = true
  process.stderr.write('\nStopping…\n')
  rmSync(NETWORK_FILE, { force: true })
  await stack?.stop()
  process.exit(code)
}
process.on('SIGINT', () => void shutdown(0))
process.on('SIGTERM', () => void shutdown(0))

try {
  stack = await startStack({
    ports,
    relayKeyFile: join(ROOT, '.meshwork/relay.key'),
    log: (l) => process.stderr.write(`${l}\n`),
  })
  const network: NetworkFile = {
    relays: [stack.relay.multiaddr],
    relayHealth: [stack.relay.healthUrl],
    rpcUrl: stack.chain.rpcUrl,
    chainId: stack.chain.chainId,
    contract: stack.chain.contract,
    requests: stack.requests,
    appUrl: stack.appUrl!,
  }
  mkdirSync(join(NETWORK_FILE, '..'), { recursive: true })
  writeFileSync(NETWORK_FILE, `${JSON.stringify(network, null, 2)}\n`)
  process.stdout.write(`
Meshwork is running.

  App            ${stack.appUrl}   (volunteer: ${stack.appUrl}/volunteer, request: ${stack.appUrl}/request)
  Relay          ${stack.relay.multiaddr}
  Relay health   ${stack.relay.healthUrl}
  Chain          id ${stack.chain.chainId}, RPC ${stack.chain.rpcUrl} (anvil, dev accounts unlocked)
  JobEscrow      ${stack.chain.contract}
  Requests       ${stack.requests}   (on-chain requests; bridge them: npm run meshwork -- bridge)

The CLI uses this network by default: npm run meshwork -- submit --model mlp-16x4 --tasks 10
Press Ctrl-C to stop everything.
`)
  stack.app?.proc.on('exit', (code) => {
    if (!stopping) {
      console.error(
        `The web app exited (${code}):\n${stack?.app?.output().split('\n').slice(-20).join('\n')}`,
      )
      void shutdown(1)
    }
  })
} catch (err) {
  console.error(
    err instanceof BaseError ? err.message : `Could not start Meshwork: ${errorMessage(err)}`,
  )
  await shutdown(1)
}

/**
 * `meshwork bridge`: the chain watcher for on-chain requests. Coordinates each request that a
 * consumer contract made on MeshworkRequests in the mesh, and delivers the answer back on chain.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import type { Address, Hex } from 'viem'
import { DEV_COORDINATOR_KEY, LOCAL_CHAIN_ID } from '../lib/chain'
import { ConfigError, InvalidInputError } from '../lib/errors'
import { parseManifest } from '../lib/runtime'
import { sha256Hex } from '../lib/runtime/model-source'
import { type BridgeModel, startRequestBridge } from '../lib/sdk/bridge'
import { startNodeRequester } from '../lib/sdk/node'
import { NETWORK_OPTIONS, networkFile, resolveKey, resolveNetwork } from './network'

const ROOT = join(import.meta.dirname, '..')

export const BRIDGE_HELP = `Usage: meshwork bridge [options]

Watches MeshworkRequests for requests that consumer contracts make on chain, coordinates each in
the mesh (replicated to its quorum) and delivers the accepted result back to the consumer's
callback. Runs until Ctrl-C. Requests it cannot serve (unknown model, malformed input) are
reported and left for another bridge or for the consumer's refund after the deadline.

  --requests 0x…      MeshworkRequests address (or MESHWORK_REQUESTS; default: npm start's)
  --model FILE        also serve this .onnx model (repeatable); the catalogue's are always served
  --key 0x…           pays the gas of recording results and delivery (or MESHWORK_KEY; on the
                      local chain, anvil dev account 1)
  --coordinator-key 0x…  the key that signs this bridge's results and claims: the requests it
                      answers name its address, or accept the deployment's default coordinator
                      (or MESHWORK_COORDINATOR_KEY; on the local chain, the labelled dev key)
  --min-payment WEI   refuse requests paying less (all replicas together); default: the gas
                      this bridge spends on one (recording and delivery) at the current price
  --relay MA --rpc URL --chain-id N --contract 0x…   network (default: what npm start runs)`

/** Catalogue models and the given files, by sha256. */
export async function modelsBySha256(files: string[]): Promise<Map<string, BridgeModel>> {
  const models = new Map<string, BridgeModel>()
  const manifest = parseManifest(
    JSON.parse(readFileSync(join(ROOT, 'public/models/manifest.json'), 'utf8')),
  )
  for (const m of manifest.models) {
    const path = join(ROOT, 'public/models', m.file)
    if (existsSync(path))
      models.set(m.sha256.toLowerCase(), {
        bytes: new Uint8Array(readFileSync(path)),
        file: m.file,
        name: m.name,
      })
  }
  for (const f of files) {
    if (!existsSync(f)) throw new InvalidInputError(`Model file ${f} does not exist.`)
    const bytes = new Uint8Array(readFileSync(f))
    models.set((await sha256Hex(bytes)).toLowerCase(), { bytes, name: f })
  }
  return models
}

export async function bridgeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      requests: { type: 'string' },
      model: { type: 'string', multiple: true },
      key: { type: 'string' },
      'coordinator-key': { type: 'string' },
      'min-payment': { type: 'string' },
      ...NETWORK_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(`${BRIDGE_HELP}\n`)
    return 0
  }
  const say = (s: string) => process.stderr.write(`${s}\n`)
  const requests = (values.requests ?? process.env.MESHWORK_REQUESTS ?? networkFile().requests) as
    | Address
    | undefined
  if (!requests || !/^0x[0-9a-fA-F]{40}$/.test(requests))
    throw new ConfigError('No MeshworkRequests address.', {
      hint: 'Pass --requests 0x…, set MESHWORK_REQUESTS, or run `npm start` first.',
    })
  const net = resolveNetwork(values)
  const rawMin = values['min-payment']
  if (rawMin !== undefined && !/^\d+$/.test(rawMin))
    throw new InvalidInputError(`--min-payment must be a whole number of wei, not "${rawMin}".`)
  const models = await modelsBySha256(values.model ?? [])
  const coordinatorKey = (values['coordinator-key'] ??
    process.env.MESHWORK_COORDINATOR_KEY ??
    (net.chainId === LOCAL_CHAIN_ID ? DEV_COORDINATOR_KEY : undefined)) as Hex | undefined
  if (!coordinatorKey || !/^0x[0-9a-fA-F]{64}$/.test(coordinatorKey))
    throw new ConfigError('--coordinator-key 0x… is required off the local chain.')
  const requester = await startNodeRequester(resolveKey(values.key, net.chainId, say), {
    ...net,
    coordinatorKey,
  })
  const bridge = startRequestBridge({
    wallet: requester.wallet,
    client: requester.client,
    escrow: net.contract,
    requests,
    store: requester.store,
    coordinator: requester.coordinator,
    coordinatorAddress: requester.identity.address,
    modelFor: async (hash: Hex) => models.get(hash.toLowerCase()),
    minPayment: rawMin === undefined ? 'gas' : BigInt(rawMin),
  })
  say(`Bridging on-chain requests of ${requests} (${models.size} models). Ctrl-C to stop.`)
  bridge.events.addEventListener('delivered', (e) => {
    const d = (e as CustomEvent<{ requestId: bigint; callbackOk: boolean }>).detail
    say(`request ${d.requestId}: answered${d.callbackOk ? '' : ' (the consumer callback failed)'}`)
  })
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  bridge.stop()
  await requester.stop()
  return 0
}

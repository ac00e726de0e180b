/**
 * `meshwork deploy`: puts the JobEscrow contract on any EVM chain with an RPC URL and a funded
 * key, and prints (or writes) the configuration the app, relay and CLI read.
 */
import { mkdirSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { type Address, createPublicClient, formatEther, http } from 'viem'
import {
  DEV_COORDINATOR_ADDRESS,
  deployEscrow,
  deployRequests,
  LOCAL_CHAIN_ID,
  publicClientFor,
  validateChainConfig,
} from '../lib/chain'
import { ConfigError, errorMessage } from '../lib/errors'
import { walletFor } from '../lib/sdk/node'
import { type NetworkFile, resolveKey } from './network'

export const DEPLOY_HELP = `Usage: meshwork deploy --rpc URL [--key 0x…] [options]

Deploys JobEscrow and MeshworkRequests (on-chain requests) with your key and prints the
settings for the app, relay and CLI.

  --rpc URL           the chain's JSON-RPC endpoint (or MESHWORK_RPC_URL)
  --chain-id N        expected chain id (default: the one the RPC reports; a mismatch stops)
  --key 0x…           deployer key, pays the gas (or MESHWORK_KEY; on the local chain only,
                      anvil dev account 1)
  --relay MA          relay multiaddrs to record with it (repeatable)
  --default-coordinator 0x…   the coordinator address whose signature answers on-chain requests
                      that accept the default (your bridge's coordinator key); required except on
                      the local chain, where it is the labelled dev coordinator key's address
  --write FILE        write the network file (e.g. .meshwork/network.json, which the CLI reads)
  --json              print JSON instead`

export async function deployCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      rpc: { type: 'string' },
      'chain-id': { type: 'string' },
      key: { type: 'string' },
      relay: { type: 'string', multiple: true },
      'default-coordinator': { type: 'string' },
      write: { type: 'string' },
      json: { type: 'boolean', default: false },
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(`${DEPLOY_HELP}\n`)
    return 0
  }
  const say = (s: string) => process.stderr.write(`${s}\n`)
  const rpcUrl = values.rpc ?? process.env.MESHWORK_RPC_URL
  if (!rpcUrl) throw new ConfigError('--rpc is required.', { hint: DEPLOY_HELP })
  let reported: number
  try {
    reported = await createPublicClient({ transport: http(rpcUrl) }).getChainId()
  } catch (err) {
    throw new ConfigError(`Cannot reach the chain at ${rpcUrl}.`, { details: errorMessage(err) })
  }
  const expected = values['chain-id'] ? Number(values['chain-id']) : reported
  if (expected !== reported)
    throw new ConfigError(
      `The RPC at ${rpcUrl} serves chain ${reported}, not ${values['chain-id']}.`,
    )
  // Any well-formed address passes the check here; the contract is what we are about to make.
  validateChainConfig({ rpcUrl, chainId: reported, contract: `0x${'0'.repeat(40)}` })
  const key = resolveKey(values.key, reported, say)
  const cfg = { rpcUrl, chainId: reported }
  const wallet = walletFor(key, cfg)
  const client = publicClientFor(cfg)
  const balance = await client.getBalance({ address: wallet.account.address })
  if (balance === 0n)
    throw new ConfigError(
      `${wallet.account.address} holds no ether on chain ${reported} to pay the gas.`,
    )
  say(
    `Deploying JobEscrow on chain ${reported}${reported === LOCAL_CHAIN_ID ? ' (local)' : ''} from ${wallet.account.address} (${formatEther(balance)} ETH)…`,
  )
  const defaultCoordinator =
    values['default-coordinator'] ??
    (reported === LOCAL_CHAIN_ID ? DEV_COORDINATOR_ADDRESS : undefined)
  if (!defaultCoordinator || !/^0x[0-9a-fA-F]{40}$/.test(defaultCoordinator))
    throw new ConfigError('--default-coordinator 0x… is required off the local chain.', {
      hint: 'The address of the key your request bridge coordinates with (meshwork bridge --coordinator-key).',
    })
  const contract = await deployEscrow(wallet, client)
  const requests = await deployRequests(wallet, client, contract, defaultCoordinator as Address)
  const network: NetworkFile = {
    relays: values.relay ?? [],
    rpcUrl,
    chainId: reported,
    contract,
    requests,
  }
  if (values.write) {
    mkdirSync(dirname(values.write), { recursive: true })
    writeFileSync(values.write, `${JSON.stringify(network, null, 2)}\n`)
    say(`Wrote ${values.write}.`)
  }
  if (values.json) process.stdout.write(`${JSON.stringify(network)}\n`)
  else
    process.stdout.write(
      `JobEscrow deployed at ${contract}, MeshworkRequests at ${requests}

For the app and relay:
  MESHWORK_RPC_URL=${rpcUrl}
  MESHWORK_CHAIN_ID=${reported}
  MESHWORK_CONTRACT=${contract}
  MESHWORK_REQUESTS=${requests}   (for meshwork bridge)
  MESHWORK_RELAYS=${network.relays.join(',') || '<your relay multiaddrs>'}
`,
    )
  return 0
}

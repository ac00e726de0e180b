/**
 * `meshwork stake`: a volunteer's stake. Shows it, adds to it (from any key: a wallet can back a
 * volunteer), starts unstaking (the volunteer's own key) and withdraws it after the delay.
 */
import { parseArgs } from 'node:util'
import { type Address, formatEther, isAddress, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import {
  publicClientFor,
  requestUnstake,
  stake,
  type WorkerOnChain,
  withdrawStake,
  workerOnChain,
} from '../lib/chain'
import { InvalidInputError } from '../lib/errors'
import { walletFor } from '../lib/sdk/node'
import { CHAIN_OPTIONS, resolveChain, resolveKey } from './network'
import { DEFAULT_KEY_FILE, volunteerKey } from './volunteer'

export const STAKE_HELP = `Usage: meshwork stake [--add ETH | --unstake ETH | --withdraw] [options]

Shows a volunteer's stake and on-chain record, or changes the stake, then prints the stake as
JSON on stdout. A staked volunteer is trusted sooner (it needs half the verified results before
it may run tasks alone); all of it is slashed if it signs two different results for one task
(see docs/trust.md).

  --add ETH        stake this much for the volunteer, paid by --key (any key may back a volunteer)
  --unstake ETH    start unstaking; signed by the volunteer's key. It stays slashable and can be
                   withdrawn 3 days later (asking again restarts the wait for all of it)
  --withdraw       pay the unstaked ether to the volunteer once the wait is over (paid by --key)
  --key-file F     the volunteer's key (default ${DEFAULT_KEY_FILE})
  --worker 0x…     the volunteer's address instead of its key file (not with --unstake)
  --key 0x…        the key that pays for --add and --withdraw (or MESHWORK_KEY; on the local
                   chain, anvil dev account 1)
  --rpc URL --chain-id N --contract 0x…   chain (or MESHWORK_RPC_URL, _CHAIN_ID, _CONTRACT;
                   default: what npm start runs)`

export async function stakeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      add: { type: 'string' },
      unstake: { type: 'string' },
      withdraw: { type: 'boolean' },
      'key-file': { type: 'string', default: DEFAULT_KEY_FILE },
      worker: { type: 'string' },
      key: { type: 'string' },
      ...CHAIN_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(`${STAKE_HELP}\n`)
    return 0
  }
  const say = (s: string) => process.stderr.write(`${s}\n`)
  const actions = [values.add, values.unstake, values.withdraw].filter((a) => a !== undefined)
  if (actions.length > 1)
    throw new InvalidInputError('Give one of --add, --unstake and --withdraw at a time.')
  if (values.worker !== undefined && !isAddress(values.worker))
    throw new InvalidInputError(`--worker must be an address (0x and 40 hex digits).`)
  if (values.worker !== undefined && values.unstake !== undefined)
    throw new InvalidInputError('--unstake is signed by the volunteer: pass its --key-file.')
  const add = values.add === undefined ? undefined : ether('--add', values.add)
  const unstake = values.unstake === undefined ? undefined : ether('--unstake', values.unstake)

  const chain = resolveChain(values)
  const client = publicClientFor(chain)
  const workerKey =
    values.worker === undefined ? volunteerKey(values['key-file'], { create: false }) : undefined
  const worker = (values.worker as Address | undefined) ?? privateKeyToAccount(workerKey!).address
  const payer = () => walletFor(resolveKey(values.key, chain.chainId, say), chain)

  if (add !== undefined) {
    await stake(payer(), client, chain.contract, add, worker)
    say(`Staked ${formatEther(add)} ETH for ${worker}.`)
  } else if (unstake !== undefined) {
    const { unlockAt } = await requestUnstake(
      walletFor(workerKey!, chain),
      client,
      chain.contract,
      unstake,
    )
    say(`Unstaking ${formatEther(unstake)} ETH; withdraw it after ${iso(unlockAt)}.`)
  } else if (values.withdraw) {
    const { amount } = await withdrawStake(payer(), client, chain.contract, worker)
    say(`Paid ${formatEther(amount)} ETH of unstaked ether to ${worker}.`)
  }
  const w = await workerOnChain(client, chain.contract, worker)
  say(summary(worker, w))
  process.stdout.write(
    `${JSON.stringify({
      worker,
      active: w.active.toString(),
      unstaking: w.unstaking.toString(),
      unlockAt: w.unlockAt,
      credited: w.credited.toString(),
      settledResults: w.settledResults,
      slashes: w.slashes,
    })}\n`,
  )
  return 0
}

function ether(flag: string, value: string): bigint {
  let wei: bigint
  try {
    wei = parseEther(value)
  } catch {
    throw new InvalidInputError(`${flag} must be an amount of ether such as 0.5, not "${value}".`)
  }
  if (wei <= 0n) throw new InvalidInputError(`${flag} must be more than 0, not "${value}".`)
  return wei
}

const iso = (unix: number) => new Date(unix * 1000).toISOString()

function summary(worker: Address, w: WorkerOnChain): string {
  const lines = [
    `Volunteer ${worker}`,
    `  staked        ${formatEther(w.active)} ETH`,
    `  unstaking     ${formatEther(w.unstaking)} ETH${w.unstaking > 0n ? ` (withdrawable after ${iso(w.unlockAt)})` : ''}`,
    `  credited pay  ${formatEther(w.credited)} ETH`,
    `  settled results ${w.settledResults} · slashed ${w.slashes} time${w.slashes === 1 ? '' : 's'}`,
  ]
  return lines.join('\n')
}

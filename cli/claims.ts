/**
 * `meshwork claims` and `meshwork redeem`: the claims a volunteer holds (coordinator-signed,
 * cumulative, kept in its store by `meshwork volunteer`), and redeeming them on chain without
 * the requester: any key may send the transaction, the pay is credited to the volunteer, and
 * `--withdraw` then sends its credited balance to its payout address.
 */
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { type Address, formatEther, type Hex } from 'viem'
import { privateKeyToAddress } from 'viem/accounts'
import { CLAIM_WINDOW_SECONDS, creditedBalance, publicClientFor, withdraw } from '../lib/chain'
import { ConfigError } from '../lib/errors'
import { redeemHeldClaims } from '../lib/sdk/claims'
import { storeFile, walletFor } from '../lib/sdk/node'
import type { ClaimRecord, Store } from '../lib/store'
import { openDiskStore } from '../lib/store/disk-node'
import {
  CHAIN_OPTIONS,
  DATA_DIR_OPTION,
  DEFAULT_DATA_DIR,
  resolveChain,
  resolveKey,
} from './network'
import { DEFAULT_KEY_FILE, volunteerKey } from './volunteer'

const COMMON = `  --key-file F     the volunteer's key (default ${DEFAULT_KEY_FILE})
  --data-dir DIR   where \`meshwork volunteer\` keeps its state (default ${DEFAULT_DATA_DIR})
  --rpc URL --chain-id N --contract 0x…   chain (default: what npm start runs)`

export const CLAIMS_HELP = `Usage: meshwork claims [--json] [options]

The claims this volunteer holds: per job, the results its coordinator signed for, how many
are redeemed, the ether still to redeem and when the claim window closes.

  --json           print JSON instead
${COMMON}`

export const REDEEM_HELP = `Usage: meshwork redeem [--key 0x…] [--withdraw] [options]

Redeems every claim this volunteer holds that the chain has not paid, in one transaction. The
pay is credited to the volunteer whoever sends it; a claim the chain refuses now (its window
closed, its job drained) is reported and stays held.

  --key 0x…        the key that pays the gas (default: the volunteer's own key; or MESHWORK_KEY)
  --withdraw       then send the volunteer's credited balance to its payout address
${COMMON}`

const OPTIONS = {
  'key-file': { type: 'string', default: DEFAULT_KEY_FILE },
  json: { type: 'boolean' },
  ...DATA_DIR_OPTION,
  ...CHAIN_OPTIONS,
  help: { type: 'boolean', short: 'h' },
} as const

/** The volunteer's store, opened beside a running volunteer (SQLite allows it). */
function volunteerStore(keyFile: string, dataDir: string): { worker: Address; store: Store } {
  const worker = privateKeyToAddress(volunteerKey(keyFile, { create: false }))
  const file = storeFile(dataDir, worker)
  if (!existsSync(file))
    throw new ConfigError(`No volunteer state for ${worker} in ${dataDir}.`, {
      hint: 'Claims are kept by `meshwork volunteer` run with this key file and data directory.',
    })
  return { worker, store: openDiskStore(file) }
}

const owed = (c: ClaimRecord) => BigInt(c.results - c.redeemed) * BigInt(c.rewardPerResult)

export async function claimsCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: OPTIONS })
  if (values.help) {
    process.stdout.write(`${CLAIMS_HELP}\n`)
    return 0
  }
  const chain = resolveChain(values)
  const { worker, store } = volunteerStore(values['key-file'], values['data-dir'])
  try {
    const claims = (await store.listClaims()).filter(
      (c) => c.contract.toLowerCase() === chain.contract.toLowerCase(),
    )
    const credited = await creditedBalance(publicClientFor(chain), chain.contract, worker)
    if (values.json) {
      process.stdout.write(
        `${JSON.stringify(
          {
            worker,
            credited: String(credited),
            claims: claims.map((c) => ({
              jobId: c.jobId,
              coordinator: c.coordinator,
              results: c.results,
              redeemed: c.redeemed,
              unredeemedWei: String(owed(c)),
              closesAt: c.deadline + CLAIM_WINDOW_SECONDS,
            })),
          },
          null,
          2,
        )}\n`,
      )
      return 0
    }
    process.stdout.write(`Volunteer ${worker}: ${formatEther(credited)} ETH credited on chain.\n`)
    if (claims.length === 0) process.stdout.write('No claims held.\n')
    for (const c of claims) {
      const closes = new Date((c.deadline + CLAIM_WINDOW_SECONDS) * 1000).toISOString()
      process.stdout.write(
        `${c.jobId}  ${c.results} results, ${c.redeemed} redeemed, ${formatEther(owed(c))} ETH to redeem (window closes ${closes})\n`,
      )
    }
    return 0
  } finally {
    store.close()
  }
}

export async function redeemCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: { ...OPTIONS, key: { type: 'string' }, withdraw: { type: 'boolean' } },
  })
  if (values.help) {
    process.stdout.write(`${REDEEM_HELP}\n`)
    return 0
  }
  const say = (s: string) => process.stderr.write(`${s}\n`)
  const chain = resolveChain(values)
  const own = volunteerKey(values['key-file'], { create: false })
  const payer: Hex =
    values.key || process.env.MESHWORK_KEY ? resolveKey(values.key, chain.chainId, say) : own
  const wallet = walletFor(payer, chain)
  const client = publicClientFor(chain)
  const { worker, store } = volunteerStore(values['key-file'], values['data-dir'])
  try {
    const r = await redeemHeldClaims(
      {
        claims: async () =>
          (await store.listClaims()).filter((c) => c.worker.toLowerCase() === worker.toLowerCase()),
        async noteRedeemed(jobId, results) {
          const c = await store.getClaim(jobId)
          if (c && results > c.redeemed) await store.putClaim({ ...c, redeemed: results })
        },
      },
      wallet,
      client,
      chain.contract,
    )
    for (const f of r.refused) say(`Claim for job ${f.claim.jobId} not redeemable now: ${f.reason}`)
    say(
      r.redeemed > 0
        ? `Redeemed ${r.redeemed} claims for ${formatEther(r.paid)} ETH (tx ${r.txHash}); ${r.skipped} already redeemed.`
        : `Nothing to redeem (${r.skipped} already redeemed).`,
    )
    let withdrawn: { amount: bigint; to: Address; txHash: Hex } | undefined
    if (values.withdraw) {
      if ((await creditedBalance(client, chain.contract, worker)) === 0n)
        say('Nothing credited to withdraw.')
      else {
        withdrawn = await withdraw(wallet, client, chain.contract, worker)
        say(
          `Withdrew ${formatEther(withdrawn.amount)} ETH to ${withdrawn.to} (tx ${withdrawn.txHash}).`,
        )
      }
    }
    process.stdout.write(
      `${JSON.stringify({
        worker,
        redeemed: r.redeemed,
        paid: String(r.paid),
        skipped: r.skipped,
        refused: r.refused.map((f) => ({ jobId: f.claim.jobId, reason: f.reason })),
        ...(r.txHash ? { txHash: r.txHash } : {}),
        ...(withdrawn ? { withdrawn: String(withdrawn.amount), to: withdrawn.to } : {}),
      })}\n`,
    )
    return r.refused.length === 0 ? 0 : 1
  } finally {
    store.close()
  }
}

/**
 * A worker's claims, redeemed: the coordinator-signed cumulative claims a worker holds (in its
 * store) go on chain through any wallet that pays the gas, the worker's own, a volunteer page's
 * connected wallet, or a relayer's. The pay is credited to the worker whoever sends it. Each
 * claim is checked against the chain first: one already redeemed (by the worker, its coordinator
 * or anyone) is noted and skipped, and one the chain would refuse (its job drained by its own
 * coordinator, its window closed) is reported and left out, so that no claim can block the others.
 */
import type { Address, Hex, PublicClient } from 'viem'
import {
  checkClaims,
  type RefusedClaim,
  redeemClaims,
  redeemedOf,
  type SignedClaim,
  type Wallet,
} from '../chain'
import type { ClaimRecord } from '../store'

export interface RedeemOutcome {
  /** Claims sent, and the wei they were worth. */
  redeemed: number
  paid: bigint
  txHash?: Hex | undefined
  /** Claims already redeemed on chain (nothing left to pay). */
  skipped: number
  /** Claims the chain refuses now, with its reason (they stay held). */
  refused: RefusedClaim[]
}

export interface ClaimHolder {
  claims(): Promise<ClaimRecord[]>
  noteRedeemed(jobId: Hex, results: number): Promise<void>
}

/**
 * Redeems every claim `holder` keeps for `contract` that pays more than the chain has paid
 * (optionally only those of `jobIds`), in one transaction from `wallet`. Throws a ChainError
 * naming the contract's reason when the transaction fails; the claims stay held and valid.
 */
export async function redeemHeldClaims(
  holder: ClaimHolder,
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  opts: { jobIds?: readonly Hex[] } = {},
): Promise<RedeemOutcome> {
  const wanted = opts.jobIds && new Set(opts.jobIds.map((j) => j.toLowerCase()))
  const held = (await holder.claims()).filter(
    (c) =>
      c.contract.toLowerCase() === contract.toLowerCase() &&
      c.results > c.redeemed &&
      c.signature !== '0x' &&
      (!wanted || wanted.has(c.jobId.toLowerCase())),
  )
  const due: SignedClaim[] = []
  let skipped = 0
  for (const c of held) {
    const onChain = await redeemedOf(client, contract, c.jobId, c.worker)
    if (onChain >= c.results) {
      await holder.noteRedeemed(c.jobId, onChain)
      skipped++
      continue
    }
    due.push({ jobId: c.jobId, worker: c.worker, results: c.results, signature: c.signature })
  }
  const { redeemable, alreadyRedeemed, refused } = await checkClaims(
    client,
    contract,
    due,
    wallet.account.address,
  )
  for (const c of alreadyRedeemed) await holder.noteRedeemed(c.jobId, c.results)
  skipped += alreadyRedeemed.length
  if (redeemable.length === 0) return { redeemed: 0, paid: 0n, skipped, refused }
  const r = await redeemClaims(wallet, client, contract, redeemable)
  for (const c of redeemable) await holder.noteRedeemed(c.jobId, c.results)
  return { redeemed: redeemable.length, paid: r.paid, txHash: r.txHash, skipped, refused }
}

/**
 * Pay: the coordinator's cumulative claims (lib/proofs `signClaim`) redeemed on JobEscrow. A claim
 * says "the coordinator accepted `results` results of `worker` in this job, in total"; redeeming
 * it credits the worker `rewardPerResult` per result beyond what it was already paid in the job.
 * Anyone may send a redemption (a worker's tab key holds no ether); the pay is the worker's
 * (withdraw it with `withdraw`).
 */
import { type Address, type Hex, type Log, type PublicClient, parseEventLogs } from 'viem'
import type { ClaimMessage } from '../proofs'
import { chainError, sendTx, type Wallet } from './escrow'
import { type JobLogsOptions, jobLogs } from './events'
import { jobEscrowAbi } from './generated'

/** A claim with the coordinator's signature over it. */
export interface SignedClaim extends ClaimMessage {
  signature: Hex
}

export interface RedeemClaimsResult {
  txHash: Hex
  /** Claims newly paid (ClaimRedeemed events of this escrow). */
  redeemed: number
  /**
   * Claims the contract skipped: each named exactly the results already paid to its worker (it
   * was redeemed before, by anyone), so it paid nothing and emitted nothing.
   */
  skipped: number
  /** Wei credited to the workers in total (the sum of the events' amounts). */
  paid: bigint
  gasUsed: bigint
}

/**
 * Redeems claims in one transaction. A claim for exactly the results its worker was already paid
 * in the job (the same claim redeemed first by someone else) is skipped by the contract, so it
 * cannot make the batch fail; it counts in `skipped`, not `redeemed`. Otherwise the contract is
 * all or nothing: a claim that is not the job's coordinator's, older than what the worker was
 * paid (fewer results: ClaimNotNewer), too large, past the claim window, short of the job's
 * minStake or of its escrow reverts the whole call, and the ChainError names the contract's error.
 */
export async function redeemClaims(
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  claims: readonly SignedClaim[],
): Promise<RedeemClaimsResult> {
  const receipt = await sendTx('redeem', client, () =>
    wallet.writeContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'redeem',
      chain: wallet.chain,
      args: [
        claims.map((c) => ({
          jobId: c.jobId,
          worker: c.worker,
          results: c.results,
          signature: c.signature,
        })),
      ],
    }),
  )
  const redemptions = redemptionsFromLogs(receipt.logs, contract)
  return {
    txHash: receipt.transactionHash,
    redeemed: redemptions.length,
    skipped: claims.length - redemptions.length,
    paid: redemptions.reduce((sum, r) => sum + r.amount, 0n),
    gasUsed: receipt.gasUsed,
  }
}

/** Results of `worker` paid so far in `jobId` (the newest claim redeemed; 0 for none). */
export async function redeemedOf(
  client: PublicClient,
  contract: Address,
  jobId: Hex,
  worker: Address,
): Promise<number> {
  try {
    return await client.readContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'redeemedOf',
      args: [jobId, worker],
    })
  } catch (err) {
    throw chainError('Reading redeemed results', err)
  }
}

/** One redemption: `worker` now has `results` results paid in the job, `amount` wei of it by this one. */
export interface Redemption {
  jobId: Hex
  worker: Address
  results: number
  amount: bigint
}

/**
 * The ClaimRedeemed events in these logs emitted by the escrow at `contract`; logs of other
 * contracts (anything a callback emits in the same transaction) are ignored.
 */
export function redemptionsFromLogs(logs: readonly Log[], contract: Address): Redemption[] {
  const ours = logs.filter((l) => l.address.toLowerCase() === contract.toLowerCase())
  return parseEventLogs({ abi: jobEscrowAbi, eventName: 'ClaimRedeemed', logs: ours }).map((l) => ({
    jobId: l.args.jobId,
    worker: l.args.worker,
    results: l.args.results,
    amount: l.args.amount,
  }))
}

/**
 * Every redemption of `jobId` so far, oldest first, read from the escrow's events since the job was
 * created, in ranges of blocks (`jobLogs`).
 */
export async function redemptionsOf(
  client: PublicClient,
  contract: Address,
  jobId: Hex,
  options?: JobLogsOptions,
): Promise<Array<{ worker: Address; results: number; amount: bigint }>> {
  const logs = await jobLogs(
    client,
    contract,
    jobId,
    'ClaimRedeemed',
    'Reading redemptions',
    options,
  )
  return redemptionsFromLogs(logs, contract).map(({ worker, results, amount }) => ({
    worker,
    results,
    amount,
  }))
}

/** A claim the chain would refuse now, and the contract's reason. */
export interface RefusedClaim {
  claim: SignedClaim
  reason: string
}

/**
 * Splits `claims` into those the chain would pay now, those already paid (the chain would skip
 * them: their worker was paid exactly their results, by an earlier redemption of the same claim),
 * and those it would refuse, by simulating each alone (an `eth_call` of `redeem([claim])` from
 * `from`). Apart from skipped claims a batch is all or nothing: one claim that fails (a
 * coordinator that drained its own job, a claim past its window, a worker that unstaked below a
 * job's minStake, an older claim after a newer one was redeemed) would otherwise block every
 * other claim in it. A claim can still be refused between the check and the transaction (a race):
 * send again after another check.
 */
export async function checkClaims(
  client: PublicClient,
  contract: Address,
  claims: readonly SignedClaim[],
  from: Address,
): Promise<{
  redeemable: SignedClaim[]
  /** Claims that would pay nothing: already redeemed, skipped by the contract. */
  alreadyRedeemed: SignedClaim[]
  refused: RefusedClaim[]
}> {
  const redeemable: SignedClaim[] = []
  const alreadyRedeemed: SignedClaim[] = []
  const refused: RefusedClaim[] = []
  for (const claim of claims) {
    try {
      const { result } = await client.simulateContract({
        address: contract,
        abi: jobEscrowAbi,
        functionName: 'redeem',
        account: from,
        args: [
          [
            {
              jobId: claim.jobId,
              worker: claim.worker,
              results: claim.results,
              signature: claim.signature,
            },
          ],
        ],
      })
      // A claim the contract would pay has rewardPerResult > 0 for each new result: 0 means skipped.
      if (result === 0n) alreadyRedeemed.push(claim)
      else redeemable.push(claim)
    } catch (err) {
      refused.push({ claim, reason: chainError('redeem', err).shortMessage })
    }
  }
  return { redeemable, alreadyRedeemed, refused }
}

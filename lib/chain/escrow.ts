/**
 * Typed actions on the JobEscrow contract, over viem clients. They take clients rather than
 * creating them, so the same code serves a Node key (SDK/CLI), a browser wallet (wagmi's wallet
 * client is a viem client) and tests.
 */
import {
  type Account,
  type Address,
  type Chain,
  ContractFunctionRevertedError,
  type Hex,
  type PublicClient,
  parseEventLogs,
  type Transport,
  BaseError as ViemBaseError,
  type WalletClient,
} from 'viem'
import { ChainError, InvalidInputError } from '../errors'
import { escrowFor, type JobSpec, policyFromBytes32, policyToBytes32 } from '../proofs'
import { jobEscrowAbi, jobEscrowBytecode } from './generated'

export type Wallet = WalletClient<Transport, Chain | undefined, Account>

/**
 * JobEscrow.CLAIM_WINDOW: seconds after a job's deadline during which its claims stay redeemable
 * and its results recordable; the requester can refund only after it. (A unit test checks it
 * against the deployed contract's constant.)
 */
export const CLAIM_WINDOW_SECONDS = 86_400

/** A job as the contract stores it. */
export interface OnchainJob extends JobSpec {
  jobId: Hex
  requester: Address
  /** Wei per task to whoever records its result. */
  feePerTask: bigint
  /** Active stake (wei) a worker needs to redeem a claim. */
  minStake: bigint
  /** Tasks whose result is recorded on chain. */
  recordedCount: number
  refunded: boolean
  /** Opened with createJobWithCallback: the requester contract hears each recorded task. */
  callback: boolean
  /** Reward escrow not yet redeemed by workers or refunded (wei). */
  remaining: bigint
  /** Fee escrow not yet paid to recorders or refunded (wei). */
  feesLeft: bigint
  /** Unix seconds: claims and records until then (deadline + CLAIM_WINDOW), refund after. */
  closesAt: number
  /** The block of its createJob: its events are read from there on (lib/chain/events). */
  createdBlock: bigint
}

/** Rewrites a viem revert into a ChainError that names the custom error and its arguments. */
export function chainError(what: string, cause: unknown): ChainError {
  if (cause instanceof ViemBaseError) {
    const revert = cause.walk((e) => e instanceof ContractFunctionRevertedError)
    if (revert instanceof ContractFunctionRevertedError && revert.data) {
      const args = (revert.data.args ?? []).map((a) => String(a)).join(', ')
      return new ChainError(`${what} reverted: ${revert.data.errorName}(${args}).`, { cause })
    }
    return new ChainError(`${what} failed: ${cause.shortMessage}`, { cause })
  }
  return new ChainError(`${what} failed.`, { cause, details: String(cause) })
}

/**
 * Sends a transaction and waits for its receipt, turning a revert (at simulation or on chain)
 * into a ChainError that names the custom error.
 */
export async function sendTx(what: string, client: PublicClient, write: () => Promise<Hex>) {
  let receipt: Awaited<ReturnType<PublicClient['waitForTransactionReceipt']>>
  try {
    receipt = await client.waitForTransactionReceipt({ hash: await write() })
  } catch (err) {
    throw chainError(what, err)
  }
  if (receipt.status !== 'success')
    throw new ChainError(`${what} reverted on chain.`, { details: receipt.transactionHash })
  return receipt
}

/** Deploys a contract and waits for it; failures become a ChainError naming `what`. */
export async function deployContract(
  what: string,
  wallet: Wallet,
  client: PublicClient,
  args: Parameters<Wallet['deployContract']>[0],
): Promise<Address> {
  try {
    const hash = await wallet.deployContract(args)
    const receipt = await client.waitForTransactionReceipt({ hash })
    if (!receipt.contractAddress) throw new ChainError(`Deploying ${what} produced no address.`)
    return receipt.contractAddress
  } catch (err) {
    throw err instanceof ChainError ? err : chainError(`Deploying ${what}`, err)
  }
}

export function deployEscrow(wallet: Wallet, client: PublicClient): Promise<Address> {
  return deployContract('JobEscrow', wallet, client, {
    abi: jobEscrowAbi,
    bytecode: jobEscrowBytecode,
    chain: wallet.chain,
  })
}

export interface CreateJobResult {
  jobId: Hex
  txHash: Hex
  escrow: bigint
}

/**
 * Opens a job: sends the spec's JobParams with exactly `escrowFor(spec)` wei,
 * taskCount × (replicas × rewardPerResult + feePerTask). The spec's coordinator is the only key
 * whose claims and records the escrow will accept for it.
 */
export async function createJob(
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  spec: JobSpec,
): Promise<CreateJobResult> {
  const escrow = escrowFor(spec)
  const receipt = await sendTx('createJob', client, () =>
    wallet.writeContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'createJob',
      chain: wallet.chain,
      args: [
        {
          modelHash: spec.modelHash,
          inputsRoot: spec.inputsRoot,
          policy: policyToBytes32(spec.policy),
          taskCount: spec.taskCount,
          replicas: spec.replicas,
          quorum: spec.quorum,
          deadline: BigInt(spec.deadline),
          rewardPerResult: spec.rewardPerResult,
          coordinator: spec.coordinator,
          feePerTask: spec.feePerTask ?? 0n,
          minStake: spec.minStake ?? 0n,
        },
      ],
      value: escrow,
    }),
  )
  const [created] = parseEventLogs({
    abi: jobEscrowAbi,
    eventName: 'JobCreated',
    logs: receipt.logs,
  })
  if (!created)
    throw new ChainError('createJob emitted no JobCreated event.', {
      details: receipt.transactionHash,
    })
  return { jobId: created.args.jobId, txHash: receipt.transactionHash, escrow }
}

/** The job, or undefined when the contract has no job with this id. */
export async function readJob(
  client: PublicClient,
  contract: Address,
  jobId: Hex,
): Promise<OnchainJob | undefined> {
  let j: Awaited<ReturnType<typeof readRaw>>
  try {
    j = await readRaw(client, contract, jobId)
  } catch (err) {
    throw chainError('Reading the job', err)
  }
  if (j.requester === '0x0000000000000000000000000000000000000000') return undefined
  return {
    jobId,
    requester: j.requester,
    modelHash: j.modelHash,
    inputsRoot: j.inputsRoot,
    taskCount: j.taskCount,
    replicas: j.replicas,
    quorum: j.quorum,
    policy: policyFromBytes32(j.policy),
    rewardPerResult: j.rewardPerResult,
    deadline: Number(j.deadline),
    coordinator: j.coordinator,
    feePerTask: j.feePerTask,
    minStake: j.minStake,
    recordedCount: j.recordedCount,
    refunded: j.refunded,
    callback: j.callback,
    remaining: j.remaining,
    feesLeft: j.feesLeft,
    closesAt: Number(j.deadline) + CLAIM_WINDOW_SECONDS,
    createdBlock: j.createdBlock,
  }
}

function readRaw(client: PublicClient, contract: Address, jobId: Hex) {
  return client.readContract({
    address: contract,
    abi: jobEscrowAbi,
    functionName: 'getJob',
    args: [jobId],
  })
}

/** Pays everything credited to `worker`, to its payout address if it set one (else to `worker`); any wallet may send it. */
export async function withdraw(
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  worker: Address,
) {
  const receipt = await sendTx('withdraw', client, () =>
    wallet.writeContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'withdraw',
      chain: wallet.chain,
      args: [worker],
    }),
  )
  const [log] = parseEventLogs({ abi: jobEscrowAbi, eventName: 'Withdrawn', logs: receipt.logs })
  return {
    txHash: receipt.transactionHash,
    amount: log?.args.amount ?? 0n,
    to: log?.args.to ?? worker,
  }
}

/** A worker's signed choice of where its pay goes (lib/proofs `signPayout`). */
export interface PayoutAuthorisation {
  worker: Address
  payout: Address
  nonce: bigint
  signature: Hex
}

/**
 * Records payout authorisations on chain; any wallet may send them. Ones older than the worker's
 * current authorisation are skipped by the contract; a bad signature reverts the batch.
 */
export async function setPayouts(
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  auths: readonly PayoutAuthorisation[],
) {
  const receipt = await sendTx('setPayouts', client, () =>
    wallet.writeContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'setPayouts',
      chain: wallet.chain,
      args: [[...auths]],
    }),
  )
  const logs = parseEventLogs({ abi: jobEscrowAbi, eventName: 'PayoutSet', logs: receipt.logs })
  return { txHash: receipt.transactionHash, set: logs.length, gasUsed: receipt.gasUsed }
}

/** Where a worker's pay goes: `payout` undefined means to the worker itself. */
export async function payoutOf(
  client: PublicClient,
  contract: Address,
  worker: Address,
): Promise<{ payout: Address | undefined; nonce: bigint }> {
  try {
    const r = await client.readContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'payoutOf',
      args: [worker],
    })
    return { payout: /^0x0{40}$/.test(r.payout) ? undefined : r.payout, nonce: r.nonce }
  } catch (err) {
    throw chainError('Reading the payout address', err)
  }
}

/**
 * After `closesAt` (deadline + CLAIM_WINDOW): returns what is left of the escrow (rewards not
 * redeemed, fees not earned) to the requester. Anyone may send it, except for a callback job,
 * which only its requester contract may refund. `credited` says the requester did not take the
 * ether (a contract without `receive`): the escrow holds it for the requester's own
 * `withdrawRefund(to)`.
 */
export async function refund(wallet: Wallet, client: PublicClient, contract: Address, jobId: Hex) {
  const receipt = await sendTx('refund', client, () =>
    wallet.writeContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'refund',
      chain: wallet.chain,
      args: [jobId],
    }),
  )
  const ours = receipt.logs.filter((l) => l.address.toLowerCase() === contract.toLowerCase())
  const [log] = parseEventLogs({ abi: jobEscrowAbi, eventName: 'Refunded', logs: ours })
  const credited = parseEventLogs({ abi: jobEscrowAbi, eventName: 'RefundCredited', logs: ours })
  return {
    txHash: receipt.transactionHash,
    amount: log?.args.amount ?? 0n,
    credited: credited.length > 0,
  }
}

export async function creditedBalance(
  client: PublicClient,
  contract: Address,
  worker: Address,
): Promise<bigint> {
  try {
    return await client.readContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'balanceOf',
      args: [worker],
    })
  } catch (err) {
    throw chainError('Reading the credited balance', err)
  }
}

/** A worker's on-chain record and stake, as the coordinator weighs it. */
export interface WorkerOnChain {
  /** Results paid to it through redeemed claims, over all jobs. */
  settledResults: number
  slashes: number
  /** Credited pay not yet withdrawn (wei). */
  credited: bigint
  /** Active plus unstaking: everything still slashable (wei). */
  stake: bigint
  active: bigint
  unstaking: bigint
  /** When the unstaking part can be withdrawn (unix seconds; 0 when nothing is unstaking). */
  unlockAt: number
}

export async function workerOnChain(
  client: PublicClient,
  contract: Address,
  worker: Address,
): Promise<WorkerOnChain> {
  try {
    const [account, stake] = await Promise.all([
      client.readContract({
        address: contract,
        abi: jobEscrowAbi,
        functionName: 'accountOf',
        args: [worker],
      }),
      client.readContract({
        address: contract,
        abi: jobEscrowAbi,
        functionName: 'stakeOf',
        args: [worker],
      }),
    ])
    return {
      settledResults: Number(account.settledResults),
      slashes: account.slashes,
      credited: account.balance,
      stake: stake.active + stake.unstaking,
      active: stake.active,
      unstaking: stake.unstaking,
      unlockAt: Number(stake.unlockAt),
    }
  } catch (err) {
    throw chainError("Reading a worker's record", err)
  }
}

/**
 * Adds `amount` wei from the wallet to `worker`'s stake (default: the wallet's own). Any wallet
 * can back a worker; only the worker can unstake, and unstaked ether goes back to the worker.
 */
export async function stake(
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  amount: bigint,
  worker?: Address,
) {
  if (amount <= 0n) throw new InvalidInputError('The stake must be more than 0.')
  const receipt = await sendTx('stake', client, () =>
    worker && worker.toLowerCase() !== wallet.account.address.toLowerCase()
      ? wallet.writeContract({
          address: contract,
          abi: jobEscrowAbi,
          functionName: 'stakeFor',
          chain: wallet.chain,
          args: [worker],
          value: amount,
        })
      : wallet.writeContract({
          address: contract,
          abi: jobEscrowAbi,
          functionName: 'stake',
          chain: wallet.chain,
          value: amount,
        }),
  )
  return { txHash: receipt.transactionHash }
}

/**
 * Starts unstaking `amount` wei of the wallet's active stake: it stays slashable, and can be
 * withdrawn after the contract's delay (3 days). Asking again restarts the delay for all of it.
 */
export async function requestUnstake(
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  amount: bigint,
) {
  const receipt = await sendTx('requestUnstake', client, () =>
    wallet.writeContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'requestUnstake',
      chain: wallet.chain,
      args: [amount],
    }),
  )
  const [log] = parseEventLogs({
    abi: jobEscrowAbi,
    eventName: 'UnstakeRequested',
    logs: receipt.logs,
  })
  return { txHash: receipt.transactionHash, unlockAt: Number(log?.args.unlockAt ?? 0n) }
}

/** Pays `worker` its unstaked ether once the delay has passed; any wallet may send it. */
export async function withdrawStake(
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  worker: Address,
) {
  const receipt = await sendTx('withdrawStake', client, () =>
    wallet.writeContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'withdrawStake',
      chain: wallet.chain,
      args: [worker],
    }),
  )
  const [log] = parseEventLogs({
    abi: jobEscrowAbi,
    eventName: 'StakeWithdrawn',
    logs: receipt.logs,
  })
  return { txHash: receipt.transactionHash, amount: log?.args.amount ?? 0n }
}

/** Two signatures by one worker over different results for one task. */
export interface Equivocation {
  jobId: Hex
  taskIndex: number
  a: { resultHash: Hex; signature: Hex }
  b: { resultHash: Hex; signature: Hex }
}

/** Slashes the worker behind an equivocation; half its stake is credited to the sender. */
export async function slash(
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  e: Equivocation,
) {
  const receipt = await sendTx('slash', client, () =>
    wallet.writeContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'slash',
      chain: wallet.chain,
      args: [e.jobId, e.taskIndex, e.a.resultHash, e.a.signature, e.b.resultHash, e.b.signature],
    }),
  )
  const [log] = parseEventLogs({ abi: jobEscrowAbi, eventName: 'Slashed', logs: receipt.logs })
  return {
    txHash: receipt.transactionHash,
    amount: log?.args.amount ?? 0n,
    worker: log?.args.worker,
  }
}

/**
 * Sends everything `wallet` holds, less the transfer fee, to `to`: a browser tab's key receives
 * its pay and unstaked ether, and this moves them to the person's own wallet.
 */
export async function sendBalance(wallet: Wallet, client: PublicClient, to: Address) {
  const from = wallet.account.address
  const [balance, fees] = await Promise.all([
    client.getBalance({ address: from }),
    client.estimateFeesPerGas(),
  ])
  const fee = 21_000n * fees.maxFeePerGas
  if (balance <= fee)
    throw new InvalidInputError(`${from} holds too little ether to pay for a transfer.`)
  const amount = balance - fee
  await sendTx('Sending the balance', client, () =>
    wallet.sendTransaction({
      to,
      value: amount,
      gas: 21_000n,
      maxFeePerGas: fees.maxFeePerGas,
      maxPriorityFeePerGas: fees.maxPriorityFeePerGas,
      chain: wallet.chain,
    }),
  )
  return { amount }
}

/** Ids `createdJobIds` asks about in one call, at most (the contract's `created` limit). */
export const CREATED_BATCH = 256

/**
 * Which of `jobIds` were created on this escrow, in one `eth_call` per CREATED_BATCH ids (the
 * contract's `created` view): what a volunteer asks before it spends a `getJob` call on an
 * announcement, so that a flood of made-up ids costs it one RPC call per batch, not per id. A
 * view, not `eth_getLogs`: providers limit a log query to a range of blocks.
 */
export async function createdJobIds(
  client: PublicClient,
  contract: Address,
  jobIds: readonly Hex[],
): Promise<Set<Hex>> {
  const out = new Set<Hex>()
  try {
    for (let i = 0; i < jobIds.length; i += CREATED_BATCH) {
      const ids = jobIds.slice(i, i + CREATED_BATCH)
      const bits = await client.readContract({
        address: contract,
        abi: jobEscrowAbi,
        functionName: 'created',
        args: [ids],
      })
      for (const [k, id] of ids.entries())
        if ((bits >> BigInt(k)) & 1n) out.add(id.toLowerCase() as Hex)
    }
    return out
  } catch (err) {
    throw chainError('Reading created jobs', err)
  }
}

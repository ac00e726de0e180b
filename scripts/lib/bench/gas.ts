/**
 * All the gas a job costs on chain, per task, measured on anvil: createJob, the coordinator's
 * record of every task's result (batches of at most 500 records per transaction), and the
 * redemption of every worker's final cumulative claim (one redeem transaction for all workers,
 * and, separately, one transaction per worker). Results are spread round-robin over the workers,
 * `quorum` per task; result hashes are random 32-byte values, as real ones are (calldata costs
 * more per non-zero byte).
 *
 * Each configuration runs on fresh workers ("first-time": their accounts are empty, so crediting
 * them writes a new slot) and again with the same workers on a new job ("returning": the steady
 * state of a network whose regulars come back). The requester, the relayer that sends records and
 * claims, and the contract's account-id counter are warmed up first, so nothing else pays for a
 * first write.
 */
import { type Address, type Hex, keccak256, parseEther, toHex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import {
  createJob,
  DEV_PRIVATE_KEYS,
  deployEscrow,
  publicClientFor,
  recordResults,
  redeemClaims,
  type SignedClaim,
  type Wallet,
} from '../../../lib/chain'
import {
  type JobSpec,
  packRecords,
  parsePolicy,
  type RecordEntry,
  signClaim,
  signRecord,
} from '../../../lib/proofs'
import { walletFor } from '../../../lib/sdk/node'
import { startAnvil } from '../anvil'
import { freePort } from '../procs'

/** Records per record transaction, at most. */
export const RECORD_BATCH = 500

export interface GasRow {
  quorum: number
  /** Tasks in the job (the field keeps the name section 6 of the bench has always read). */
  batch: number
  /** All-in gas per task: createJob + record of every task + one redeem for all workers (returning workers). */
  gasPerTask: number
  /** All-in gas of the whole job: the transactions of `gasPerTask`, summed. */
  gasPerTx: number
  workers: number
  /** Gas of each part for the whole job. createJob with a fee per task (the recording case), and without. */
  createJob: number
  createJobNoFee: number
  /** Every record transaction, summed, and how many there were. */
  record: number
  recordTxs: number
  /** One redeem transaction carrying every worker's final claim. */
  redeemFirstTime: number
  redeemReturning: number
  /** One redeem transaction per worker, summed. */
  redeemOwnTxFirstTime: number
  redeemOwnTxReturning: number
  /** Gas per task of the whole job, in each case. */
  perTask: {
    allIn: number
    withoutRecording: number
    firstTimeAllIn: number
    firstTimeWithoutRecording: number
    ownTxAllIn: number
    ownTxWithoutRecording: number
  }
  /** Gas per worker of its redemption: its share of the one transaction, or its own transaction. */
  perWorker: {
    firstTime: number
    returning: number
    ownTxFirstTime: number
    ownTxReturning: number
  }
}

export interface GasOptions {
  /** Tasks per job. Default 10, 100, 1,000. */
  tasks?: number[]
  /** Same as `tasks` (the name bench.ts passes). */
  batches?: number[]
  quorums: number[]
  /** Workers sharing each job's results. Default 10. */
  workers?: number
}

const REWARD = parseEther('0.0001')
const FEE = parseEther('0.00001')

/** The rows of `measureJobGas`: what section 6 of the bench reads. */
export async function settlementGas(opts: GasOptions): Promise<GasRow[]> {
  return (await measureJobGas(opts)).rows
}

/** The rows, and the hardfork anvil ran them under (it sets the calldata pricing). */
export async function measureJobGas(
  opts: GasOptions,
): Promise<{ rows: GasRow[]; hardfork: string }> {
  const taskCounts = opts.tasks ?? opts.batches ?? [10, 100, 1000]
  const workerCount = opts.workers ?? 10
  const anvil = await startAnvil({ port: await freePort() })
  try {
    const cfg = { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }
    const client = publicClientFor(cfg)
    const info = (await client.request({ method: 'anvil_nodeInfo' } as never)) as {
      hardFork?: string
    }
    const requester = walletFor(DEV_PRIVATE_KEYS[1]!, cfg)
    const relayer = walletFor(DEV_PRIVATE_KEYS[2]!, cfg)
    const contract = await deployEscrow(requester, client)
    const coordinator = privateKeyToAccount(generatePrivateKey())
    const domain = { chainId: anvil.chainId, contract }
    const ctx: Ctx = { client, requester, relayer, contract, coordinator, domain }

    // Warm-up: the requester's job nonce, the relayer's account (fees) and the account-id counter.
    const warm = await openJob(ctx, 1, 1, FEE)
    await recordAll(ctx, warm.jobId, warm.results)
    await redeemAll(ctx, warm.jobId, [privateKeyToAccount(generatePrivateKey()).address], 1, true)

    const rows: GasRow[] = []
    for (const quorum of opts.quorums) {
      for (const tasks of taskCounts) {
        const workers = freshWorkers(workerCount)
        const soloWorkers = freshWorkers(workerCount)
        // Results per worker: task t goes to workers (t × quorum + k) mod W, k < quorum.
        const perWorker = workers.map((_, w) => countFor(w, tasks, quorum, workerCount))

        // First-time workers, with recording (a fee per task): createJob, record, one redeem.
        const a = await openJob(ctx, tasks, quorum, FEE)
        const record = await recordAll(ctx, a.jobId, a.results)
        const redeemFirstTime = await redeemAll(ctx, a.jobId, workers, perWorker, true)
        // The same workers again: returning.
        const b = await openJob(ctx, tasks, quorum, FEE)
        await recordAll(ctx, b.jobId, b.results)
        const redeemReturning = await redeemAll(ctx, b.jobId, workers, perWorker, true)
        // Without recording (no fee): createJob and one redeem.
        const c = await openJob(ctx, tasks, quorum, 0n)
        await redeemAll(ctx, c.jobId, workers, perWorker, true)
        // One redeem transaction per worker: fresh workers, then the same ones returning.
        const d = await openJob(ctx, tasks, quorum, 0n)
        const redeemOwnTxFirstTime = await redeemAll(ctx, d.jobId, soloWorkers, perWorker, false)
        const e = await openJob(ctx, tasks, quorum, 0n)
        const redeemOwnTxReturning = await redeemAll(ctx, e.jobId, soloWorkers, perWorker, false)

        const per = (gas: number) => Math.round(gas / tasks)
        const allIn = a.gas + record.gas + redeemReturning
        rows.push({
          quorum,
          batch: tasks,
          gasPerTask: per(allIn),
          gasPerTx: allIn,
          workers: workerCount,
          createJob: a.gas,
          createJobNoFee: c.gas,
          record: record.gas,
          recordTxs: record.txs,
          redeemFirstTime,
          redeemReturning,
          redeemOwnTxFirstTime,
          redeemOwnTxReturning,
          perTask: {
            allIn: per(allIn),
            withoutRecording: per(c.gas + redeemReturning),
            firstTimeAllIn: per(a.gas + record.gas + redeemFirstTime),
            firstTimeWithoutRecording: per(c.gas + redeemFirstTime),
            ownTxAllIn: per(a.gas + record.gas + redeemOwnTxReturning),
            ownTxWithoutRecording: per(c.gas + redeemOwnTxReturning),
          },
          perWorker: {
            firstTime: Math.round(redeemFirstTime / workerCount),
            returning: Math.round(redeemReturning / workerCount),
            ownTxFirstTime: Math.round(redeemOwnTxFirstTime / workerCount),
            ownTxReturning: Math.round(redeemOwnTxReturning / workerCount),
          },
        })
      }
    }
    return { rows, hardfork: info.hardFork ?? 'unknown' }
  } finally {
    await anvil.stop()
  }
}

interface Ctx {
  client: ReturnType<typeof publicClientFor>
  requester: Wallet
  relayer: Wallet
  contract: Address
  coordinator: ReturnType<typeof privateKeyToAccount>
  domain: { chainId: number; contract: Address }
}

function freshWorkers(n: number): Address[] {
  return Array.from({ length: n }, () => privateKeyToAccount(generatePrivateKey()).address)
}

/** Results of worker `w` when task t's `quorum` results go to workers (t × quorum + k) mod W. */
function countFor(w: number, tasks: number, quorum: number, workers: number): number {
  let n = 0
  for (let t = 0; t < tasks; t++) {
    for (let k = 0; k < quorum; k++) if ((t * quorum + k) % workers === w) n++
  }
  return n
}

function randomHash(): Hex {
  return keccak256(toHex(crypto.getRandomValues(new Uint8Array(32))))
}

async function openJob(ctx: Ctx, tasks: number, quorum: number, fee: bigint) {
  const now = Number((await ctx.client.getBlock()).timestamp)
  const spec: JobSpec = {
    modelHash: randomHash(),
    inputsRoot: randomHash(),
    taskCount: tasks,
    replicas: quorum,
    quorum,
    policy: parsePolicy('exact'),
    rewardPerResult: REWARD,
    deadline: now + 3600,
    coordinator: ctx.coordinator.address,
    feePerTask: fee,
  }
  const { jobId, txHash } = await createJob(ctx.requester, ctx.client, ctx.contract, spec)
  const receipt = await ctx.client.getTransactionReceipt({ hash: txHash })
  const results: RecordEntry[] = Array.from({ length: tasks }, (_, taskIndex) => ({
    taskIndex,
    resultHash: randomHash(),
  }))
  return { jobId, gas: Number(receipt.gasUsed), results }
}

/**
 * The coordinator signs every task's record, RECORD_BATCH per transaction, naming the relayer as
 * the recorder its fees go to (as a requester node does); the relayer sends them.
 */
async function recordAll(ctx: Ctx, jobId: Hex, results: readonly RecordEntry[]) {
  let gas = 0
  let txs = 0
  const recorder = ctx.relayer.account.address
  for (let i = 0; i < results.length; i += RECORD_BATCH) {
    const entries = results.slice(i, i + RECORD_BATCH)
    const tasks = packRecords(entries)
    const signature = await signRecord(ctx.coordinator, ctx.domain, jobId, tasks, recorder)
    const r = await recordResults(
      ctx.relayer,
      ctx.client,
      ctx.contract,
      jobId,
      entries,
      signature,
      recorder,
    )
    if (r.recorded.length !== entries.length)
      throw new Error(`recorded ${r.recorded.length} of ${entries.length}`)
    gas += Number(r.gasUsed)
    txs++
  }
  return { gas, txs }
}

/** Every worker's final claim, redeemed in one transaction (`together`) or one each. */
async function redeemAll(
  ctx: Ctx,
  jobId: Hex,
  workers: readonly Address[],
  results: number | readonly number[],
  together: boolean,
): Promise<number> {
  const claims: SignedClaim[] = await Promise.all(
    workers.map(async (worker, i) => {
      const claim = { jobId, worker, results: typeof results === 'number' ? results : results[i]! }
      return { ...claim, signature: await signClaim(ctx.coordinator, ctx.domain, claim) }
    }),
  )
  const batches = together ? [claims] : claims.map((c) => [c])
  let gas = 0
  for (const batch of batches) {
    const r = await redeemClaims(ctx.relayer, ctx.client, ctx.contract, batch)
    if (r.redeemed !== batch.length) throw new Error(`redeemed ${r.redeemed} of ${batch.length}`)
    gas += Number(r.gasUsed)
  }
  return gas
}

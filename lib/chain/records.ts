/**
 * Results on chain: the coordinator signs packed records of accepted results (lib/proofs
 * `packRecords`, `signRecord`) and anyone sends them to JobEscrow's `record`. The recorder named
 * in the signature (or, when it names the zero address, the sender) earns the job's feePerTask
 * per newly recorded task; a callback job's requester (MeshworkRequests) hears each;
 * ResultsRecorded events keep them for `meshwork results`.
 */
import {
  type Address,
  type Hex,
  type Log,
  type PublicClient,
  parseEventLogs,
  zeroAddress,
} from 'viem'
import { packRecords, type RecordEntry, unpackRecords } from '../proofs'
import { chainError, sendTx, type Wallet } from './escrow'
import { type JobLogsOptions, jobLogs } from './events'
import { jobEscrowAbi } from './generated'

export interface RecordResultsResult {
  txHash: Hex
  /** Records newly recorded by this transaction (tasks recorded before are skipped on chain). */
  recorded: RecordEntry[]
  gasUsed: bigint
}

/**
 * Records `entries` of `jobId` with the coordinator's `signature` over exactly their packed
 * bytes and `recorder` (`signRecord(coordinator, domain, jobId, packRecords(entries), recorder)`),
 * in the same order. The fees go to `recorder`; the default, the zero address, means whoever sends
 * the transaction (which a copier of it from the mempool could be).
 */
export async function recordResults(
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  jobId: Hex,
  entries: readonly RecordEntry[],
  signature: Hex,
  recorder: Address = zeroAddress,
): Promise<RecordResultsResult> {
  const tasks = packRecords(entries)
  const receipt = await sendTx('record', client, () =>
    wallet.writeContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'record',
      chain: wallet.chain,
      args: [jobId, tasks, recorder, signature],
    }),
  )
  return {
    txHash: receipt.transactionHash,
    recorded: recordsFromLogs(receipt.logs, contract)
      .filter((r) => r.jobId.toLowerCase() === jobId.toLowerCase())
      .flatMap((r) => r.records),
    gasUsed: receipt.gasUsed,
  }
}

/**
 * The ResultsRecorded events in these logs emitted by the escrow at `contract`, each with its
 * records; logs of other contracts (a callback may emit anything in the same transaction) are
 * ignored.
 */
export function recordsFromLogs(
  logs: readonly Log[],
  contract: Address,
): Array<{ jobId: Hex; records: RecordEntry[] }> {
  const ours = logs.filter((l) => l.address.toLowerCase() === contract.toLowerCase())
  return parseEventLogs({ abi: jobEscrowAbi, eventName: 'ResultsRecorded', logs: ours }).map(
    (l) => ({ jobId: l.args.jobId, records: unpackRecords(l.args.tasks) }),
  )
}

/**
 * Every recorded task of `jobId` and its result hash, read from the escrow's events since the
 * job was created (`options.fromBlock` to start elsewhere), in ranges of blocks (`jobLogs`). The
 * contract records a task once; should the logs ever hold two records of one task, the first wins.
 */
export async function recordedTasksOf(
  client: PublicClient,
  contract: Address,
  jobId: Hex,
  options?: JobLogsOptions,
): Promise<Map<number, Hex>> {
  const logs = await jobLogs(
    client,
    contract,
    jobId,
    'ResultsRecorded',
    'Reading recorded results',
    options,
  )
  const out = new Map<number, Hex>()
  for (const { records } of recordsFromLogs(logs, contract)) {
    for (const r of records) if (!out.has(r.taskIndex)) out.set(r.taskIndex, r.resultHash)
  }
  return out
}

/** Whether task `taskIndex` of `jobId` has its result recorded. */
export async function isRecorded(
  client: PublicClient,
  contract: Address,
  jobId: Hex,
  taskIndex: number,
): Promise<boolean> {
  try {
    return await client.readContract({
      address: contract,
      abi: jobEscrowAbi,
      functionName: 'isRecorded',
      args: [jobId, taskIndex],
    })
  } catch (err) {
    throw chainError('Reading whether a task is recorded', err)
  }
}

/**
 * A job's escrow events, read from the block of its `createJob` on (getJob's `createdBlock`) in
 * ranges of blocks: RPC providers refuse an `eth_getLogs` over more than a few thousand blocks,
 * so one query from block 0 fails on any long-lived chain.
 */
import type { Address, Hex, Log, PublicClient } from 'viem'
import { chainError, readJob } from './escrow'
import { jobEscrowAbi } from './generated'

/**
 * Blocks per `eth_getLogs` query. A provider that refuses a range gets half of it, down to
 * MIN_LOG_BLOCK_RANGE, and twice as many again after LOG_GROW_AFTER answers in a row. @default 5000
 */
export const LOG_BLOCK_RANGE = 5000n
/** The smallest range tried before a refused query is an error. */
export const MIN_LOG_BLOCK_RANGE = 100n
/** Tries of a refused query at MIN_LOG_BLOCK_RANGE, LOG_RETRY_MS × n apart, before it is an error. */
const LOG_RETRIES_AT_MIN = 3
const LOG_RETRY_MS = 200
/** Answered queries in a row after which a halved range is doubled again. */
const LOG_GROW_AFTER = 16

type JobEvent = 'ResultsRecorded' | 'ClaimRedeemed'

export interface JobLogsOptions {
  /** First block to read (default: the job's `createdBlock`, from getJob). */
  fromBlock?: bigint | undefined
  /** @default LOG_BLOCK_RANGE */
  blockRange?: bigint | undefined
}

/** The block of `jobId`'s createJob on the escrow at `contract` (0n for an unknown job). */
export async function createdBlockOf(
  client: PublicClient,
  contract: Address,
  jobId: Hex,
): Promise<bigint> {
  return (await readJob(client, contract, jobId))?.createdBlock ?? 0n
}

/**
 * Every `event` of `jobId` the escrow at `contract` emitted, oldest first, up to the latest block
 * (`what` names the read in a ChainError).
 */
export async function jobLogs(
  client: PublicClient,
  contract: Address,
  jobId: Hex,
  event: JobEvent,
  what: string,
  options: JobLogsOptions = {},
): Promise<Log[]> {
  const from = options.fromBlock ?? (await createdBlockOf(client, contract, jobId))
  const { logs } = await logsInRanges(
    client,
    what,
    from,
    options.blockRange,
    (fromBlock, toBlock) =>
      client.getContractEvents({
        address: contract,
        abi: jobEscrowAbi,
        eventName: event,
        args: { jobId },
        fromBlock,
        toBlock,
      }),
  )
  return logs
}

/**
 * The logs `query` returns for blocks `from` to the latest, asked for `blockRange` blocks at a
 * time (halved, down to MIN_LOG_BLOCK_RANGE, while a provider refuses a range), and the latest
 * block read. `what` names the read in a ChainError.
 */
export async function logsInRanges(
  client: PublicClient,
  what: string,
  from: bigint,
  blockRange: bigint | undefined,
  query: (fromBlock: bigint, toBlock: bigint) => Promise<readonly unknown[]>,
): Promise<{ logs: Log[]; latest: bigint }> {
  let range = blockRange ?? LOG_BLOCK_RANGE
  if (range < 1n) throw new RangeError(`blockRange must be at least 1, not ${range}`)
  let latest: bigint
  try {
    latest = await client.getBlockNumber({ cacheTime: 0 })
  } catch (err) {
    throw chainError(what, err)
  }
  const logs: Log[] = []
  const max = range
  /** Queries answered in a row, and refused in a row at the smallest range. */
  let answered = 0
  let refusedAtMin = 0
  for (let start = from; start <= latest; ) {
    const end = start + range - 1n < latest ? start + range - 1n : latest
    try {
      logs.push(...((await query(start, end)) as Log[]))
      start = end + 1n
      refusedAtMin = 0
      // A refusal may have been a passing error (a rate limit, a timeout): after a run of
      // answers, try a larger range again.
      if (++answered >= LOG_GROW_AFTER && range < max) {
        range = range * 2n < max ? range * 2n : max
        answered = 0
      }
    } catch (err) {
      answered = 0
      // A provider's range limit (each words it its own way): try the same start with less,
      // down to MIN_LOG_BLOCK_RANGE; there, a few more tries, further apart, before it fails.
      if (range > MIN_LOG_BLOCK_RANGE)
        range = range / 2n > MIN_LOG_BLOCK_RANGE ? range / 2n : MIN_LOG_BLOCK_RANGE
      else if (++refusedAtMin > LOG_RETRIES_AT_MIN) throw chainError(what, err)
      else await new Promise((r) => setTimeout(r, LOG_RETRY_MS * refusedAtMin))
    }
  }
  return { logs, latest }
}

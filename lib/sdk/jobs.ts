/**
 * A job as anyone can see it, from the chain alone (no coordinator needed): its terms, which
 * results its coordinator recorded (each task's accepted result hash), what its workers redeemed
 * with the coordinator's claims, what escrow is left and when the claim window closes; and the
 * requester's refund after that. Also `watch`, the progress of a job being coordinated here as
 * an async iterator. Browser and Node alike.
 */
import { type Address, formatEther, type Hex, type PublicClient } from 'viem'
import {
  type OnchainJob,
  readJob,
  recordedTasksOf,
  redemptionsOf,
  refund,
  type Wallet,
} from '../chain'
import { InvalidInputError } from '../errors'
import type { JobHandle, JobProgress } from '../jobs'
import { formatPolicy } from '../proofs'

/** A task whose accepted result the coordinator recorded on chain. */
export interface SettledTask {
  taskIndex: number
  resultHash: Hex
}

export interface JobStatus {
  job: OnchainJob
  /** Recorded tasks in task order. */
  settled: SettledTask[]
  /** Per worker, the results its redeemed claims paid (cumulative) and the wei. */
  workers: Array<{ worker: Address; results: number; paid: bigint }>
  /** Seconds until the deadline (negative once passed), by the chain's clock. */
  secondsLeft: number
  /** Seconds until the claim window closes and refund opens (negative once it has). */
  claimSecondsLeft: number
  /** Wei paid to workers so far. */
  paid: bigint
  /**
   * 'complete' once every task's result is recorded; else 'running' until the deadline, then
   * 'claiming' (workers may still redeem claims; no refund yet) until the claim window closes,
   * then 'refundable' (escrow left), 'refunded' or 'closed'.
   */
  phase: 'complete' | 'running' | 'claiming' | 'refundable' | 'refunded' | 'closed'
}

/** The job's on-chain state; throws InvalidInputError when the contract has no such job. */
export async function jobStatus(
  client: PublicClient,
  contract: Address,
  jobId: Hex,
): Promise<JobStatus> {
  const job = await readJob(client, contract, jobId)
  if (!job)
    throw new InvalidInputError(`No job ${jobId} on contract ${contract}.`, {
      hint: 'Check the job id and the network (--rpc, --contract).',
    })
  const [records, redemptions, block] = await Promise.all([
    recordedTasksOf(client, contract, jobId),
    redemptionsOf(client, contract, jobId),
    client.getBlock(),
  ])
  const settled = [...records]
    .map(([taskIndex, resultHash]) => ({ taskIndex, resultHash }))
    .sort((a, b) => a.taskIndex - b.taskIndex)
  const byWorker = new Map<string, { worker: Address; results: number; paid: bigint }>()
  for (const r of redemptions) {
    const w = byWorker.get(r.worker.toLowerCase()) ?? { worker: r.worker, results: 0, paid: 0n }
    w.results = Math.max(w.results, r.results)
    w.paid += r.amount
    byWorker.set(r.worker.toLowerCase(), w)
  }
  const workers = [...byWorker.values()]
  const paid = workers.reduce((s, w) => s + w.paid, 0n)
  const now = Number(block.timestamp)
  const secondsLeft = job.deadline - now
  const claimSecondsLeft = job.closesAt - now
  const phase =
    job.recordedCount === job.taskCount
      ? 'complete'
      : job.refunded
        ? 'refunded'
        : secondsLeft >= 0
          ? 'running'
          : claimSecondsLeft >= 0
            ? 'claiming'
            : job.remaining + job.feesLeft > 0n
              ? 'refundable'
              : 'closed'
  return { job, settled, workers, secondsLeft, claimSecondsLeft, paid, phase }
}

/** One paragraph for people; `--json` output uses jobStatusJson. */
export function describeJobStatus(s: JobStatus): string {
  const j = s.job
  const when =
    s.secondsLeft > 0
      ? `in ${formatDuration(s.secondsLeft)}`
      : `passed ${formatDuration(-s.secondsLeft)} ago`
  return [
    `Job ${j.jobId}: ${s.phase}`,
    `  requester  ${j.requester}`,
    `  coordinator ${j.coordinator} (its signature alone records results and pays workers)`,
    `  model      sha256 ${j.modelHash}`,
    `  terms      ${j.taskCount} tasks, ${j.replicas} replicas, quorum ${j.quorum}, policy ${formatPolicy(j.policy)}, ${formatEther(j.rewardPerResult)} ETH per agreeing result`,
    `  recorded   ${j.recordedCount} of ${j.taskCount} tasks`,
    `  escrow     ${formatEther(s.paid)} ETH paid to ${s.workers.length} workers by their claims, ${formatEther(j.remaining)} ETH left${j.refunded ? ' (refunded)' : ''}`,
    `  deadline   ${new Date(j.deadline * 1000).toISOString()} (${when})`,
    `  claims     redeemable until ${new Date(j.closesAt * 1000).toISOString()}; refund ${s.claimSecondsLeft >= 0 ? `opens in ${formatDuration(s.claimSecondsLeft)}` : 'open'}`,
  ].join('\n')
}

export function jobStatusJson(s: JobStatus) {
  const j = s.job
  return {
    jobId: j.jobId,
    phase: s.phase,
    requester: j.requester,
    modelHash: j.modelHash,
    inputsRoot: j.inputsRoot,
    taskCount: j.taskCount,
    replicas: j.replicas,
    quorum: j.quorum,
    policy: formatPolicy(j.policy),
    rewardPerResult: j.rewardPerResult.toString(),
    deadline: j.deadline,
    coordinator: j.coordinator,
    claimWindowClosesAt: j.closesAt,
    secondsLeft: s.secondsLeft,
    claimSecondsLeft: s.claimSecondsLeft,
    recordedCount: j.recordedCount,
    paid: s.paid.toString(),
    remaining: j.remaining.toString(),
    refunded: j.refunded,
    settled: s.settled.map((t) => ({ task: t.taskIndex, resultHash: t.resultHash })),
    workers: s.workers.map((w) => ({
      worker: w.worker,
      results: w.results,
      paid: w.paid.toString(),
    })),
  }
}

function formatDuration(seconds: number): string {
  if (seconds < 120) return `${seconds} s`
  if (seconds < 7200) return `${Math.round(seconds / 60)} min`
  if (seconds < 172_800) return `${Math.round(seconds / 3600)} h`
  return `${Math.round(seconds / 86_400)} days`
}

/**
 * After the deadline and the claim window, returns the escrow not paid to workers to the job's
 * requester. Any wallet may send it (it pays the gas); the ether only goes to the requester.
 */
export async function refundJob(
  wallet: Wallet,
  client: PublicClient,
  contract: Address,
  jobId: Hex,
): Promise<{ txHash: Hex; amount: bigint; requester: Address }> {
  const s = await jobStatus(client, contract, jobId)
  const r = await refund(wallet, client, contract, jobId)
  return { ...r, requester: s.job.requester }
}

/**
 * The progress of a job coordinated here, as an async iterator: one snapshot at once, then one
 * per change (changes that come while the consumer is busy are merged), ending after the final one.
 *
 *   for await (const p of watch(job.handle)) console.log(p.counts.settled, '/', p.total)
 */
export async function* watch(handle: JobHandle): AsyncGenerator<JobProgress> {
  let wake: (() => void) | undefined
  let changed = true
  let finished = false
  const onProgress = () => {
    changed = true
    wake?.()
  }
  handle.events.addEventListener('progress', onProgress)
  handle.done.then(
    () => {
      finished = true
      wake?.()
    },
    () => {
      finished = true
      wake?.()
    },
  )
  try {
    while (true) {
      if (!changed && !finished) await new Promise<void>((r) => (wake = r))
      wake = undefined
      if (finished) {
        yield await handle.done
        return
      }
      changed = false
      yield handle.progress()
    }
  } finally {
    handle.events.removeEventListener('progress', onProgress)
  }
}

/**
 * A job as anyone can see it, from the chain alone (no coordinator needed): its terms, what is
 * settled (from the settlement events: each task's accepted result hash and who signed it), what
 * escrow is left; and the requester's refund after the deadline. Also `watch`, the progress of a
 * job being coordinated here as an async iterator. Browser and Node alike.
 */
import { type Address, formatEther, type Hex, type PublicClient } from 'viem'
import { type OnchainJob, readJob, refund, settledTasksOf, type Wallet } from '../chain'
import { InvalidInputError } from '../errors'
import type { JobHandle, JobProgress } from '../jobs'
import { formatPolicy } from '../proofs'

export interface SettledTask {
  taskIndex: number
  resultHash: Hex
  signers: Address[]
  txHash: Hex
  blockNumber: bigint
}

export interface JobStatus {
  job: OnchainJob
  /** Settled tasks in task order. */
  settled: SettledTask[]
  /** Seconds until the deadline (negative once passed), by the chain's clock. */
  secondsLeft: number
  /** Wei paid to workers so far. */
  paid: bigint
  /** 'running' until the deadline; then 'refundable' (escrow left), 'refunded' or 'closed'. */
  phase: 'complete' | 'running' | 'refundable' | 'refunded' | 'closed'
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
  const [records, block] = await Promise.all([
    settledTasksOf(client, contract, jobId),
    client.getBlock(),
  ])
  const settled = records.map(({ jobId: _, ...t }) => t).sort((a, b) => a.taskIndex - b.taskIndex)
  const paid = settled.reduce((s, t) => s + BigInt(t.signers.length) * job.rewardPerResult, 0n)
  const secondsLeft = job.deadline - Number(block.timestamp)
  const phase =
    job.settledCount === job.taskCount
      ? 'complete'
      : job.refunded
        ? 'refunded'
        : secondsLeft > 0
          ? 'running'
          : job.remaining > 0n
            ? 'refundable'
            : 'closed'
  return { job, settled, secondsLeft, paid, phase }
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
    `  model      sha256 ${j.modelHash}`,
    `  terms      ${j.taskCount} tasks, ${j.replicas} replicas, quorum ${j.quorum}, policy ${formatPolicy(j.policy)}, ${formatEther(j.rewardPerResult)} ETH per agreeing result`,
    `  settled    ${j.settledCount} of ${j.taskCount} tasks`,
    `  escrow     ${formatEther(s.paid)} ETH paid to workers, ${formatEther(j.remaining)} ETH left${j.refunded ? ' (refunded)' : ''}`,
    `  deadline   ${new Date(j.deadline * 1000).toISOString()} (${when})`,
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
    secondsLeft: s.secondsLeft,
    settledCount: j.settledCount,
    paid: s.paid.toString(),
    remaining: j.remaining.toString(),
    refunded: j.refunded,
    settled: s.settled.map((t) => ({
      task: t.taskIndex,
      resultHash: t.resultHash,
      signers: t.signers,
      settleTx: t.txHash,
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
 * After the deadline, returns the escrow not paid to workers to the job's requester. Any wallet
 * may send it (it pays the gas); the ether only goes to the requester.
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

/**
 * Quorum aggregation for one task: group signed results by canonical hash and decide.
 * Pure functions over values; the coordinator keeps the submissions.
 */
import type { Address, Hex } from 'viem'

export interface SignedResult {
  worker: Address
  resultHash: Hex
  signature: Hex
}

export type TaskVerdict =
  | { status: 'pending'; received: number; leading: number }
  | {
      status: 'accepted'
      resultHash: Hex
      /** Agreeing results, signers ascending (certificate order), at most `replicas` of them. */
      agreeing: SignedResult[]
      dissenting: SignedResult[]
    }
  | { status: 'no-quorum'; received: number; groups: number }

export interface TallyOptions {
  quorum: number
  /** Certificates carry at most this many signatures (the escrow pays at most this many). */
  replicas: number
  /** Results the task may receive in all before it is given up. */
  maxResults: number
}

/**
 * Decides a task. One result per worker counts (the first). The largest group of equal hashes
 * wins once it has `quorum` members; ties between groups go to the one that reached its size
 * first. With `quorum > replicas / 2` no two groups can both qualify.
 */
export function tally(results: readonly SignedResult[], opts: TallyOptions): TaskVerdict {
  const seen = new Set<string>()
  const groups = new Map<Hex, SignedResult[]>()
  for (const r of results) {
    const who = r.worker.toLowerCase()
    if (seen.has(who)) continue
    seen.add(who)
    const g = groups.get(r.resultHash)
    if (g) g.push(r)
    else groups.set(r.resultHash, [r])
  }
  let best: [Hex, SignedResult[]] | undefined
  for (const entry of groups) {
    if (!best || entry[1].length > best[1].length) best = entry
  }
  if (best && best[1].length >= opts.quorum) {
    const agreeing = sortBySigner(best[1]).slice(0, opts.replicas)
    const dissenting = [...groups.entries()].filter(([h]) => h !== best[0]).flatMap(([, g]) => g)
    return { status: 'accepted', resultHash: best[0], agreeing, dissenting }
  }
  if (seen.size >= opts.maxResults)
    return { status: 'no-quorum', received: seen.size, groups: groups.size }
  return { status: 'pending', received: seen.size, leading: best?.[1].length ?? 0 }
}

/** Signers strictly ascending as 160-bit numbers: the order the contract requires. */
export function sortBySigner<T extends { worker: Address }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => {
    const x = BigInt(a.worker)
    const y = BigInt(b.worker)
    return x < y ? -1 : x > y ? 1 : 0
  })
}

/** A quorum certificate as `settle` takes it. */
export interface Certificate {
  jobId: Hex
  taskIndex: number
  resultHash: Hex
  signatures: Hex[]
  /** The signers, same order as `signatures` (not sent on chain; the contract recovers them). */
  signers: Address[]
}

export function certificateFor(
  jobId: Hex,
  taskIndex: number,
  verdict: Extract<TaskVerdict, { status: 'accepted' }>,
): Certificate {
  return {
    jobId,
    taskIndex,
    resultHash: verdict.resultHash,
    signatures: verdict.agreeing.map((r) => r.signature),
    signers: verdict.agreeing.map((r) => r.worker),
  }
}

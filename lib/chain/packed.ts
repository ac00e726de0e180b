/**
 * The packed settlement format of JobEscrow.settlePacked and its TasksSettled event. A certificate
 * becomes one record: `taskIndex` (4 bytes, big-endian) ‖ `resultHash` (32) ‖ `n` (1) ‖ n compact
 * signatures (EIP-2098: `r` ‖ `vs`, 64 bytes each); records of one job are concatenated. The event
 * carries a table of the entry's signers and the same records with one-byte indices into that table
 * in place of signatures.
 */
import {
  type Address,
  concatHex,
  getAddress,
  type Hex,
  hexToBytes,
  hexToNumber,
  type Log,
  numberToHex,
  type PublicClient,
  parseEventLogs,
  parseSignature,
  signatureToCompactSignature,
  size,
  sliceHex,
} from 'viem'
import { InvalidInputError } from '../errors'
import type { Certificate } from '../proofs'
import { jobEscrowAbi } from './generated'

/** Half the secp256k1 group order: the contract refuses signatures with a larger `s`. */
const HALF_N = 0x7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0n

/** A 65-byte signature in the 64-byte form settlePacked takes. */
export function compactSignature(signature: Hex): Hex {
  if (size(signature) !== 65)
    throw new InvalidInputError(`A result signature must be 65 bytes; got ${size(signature)}.`)
  const sig = parseSignature(signature)
  if (BigInt(sig.s) > HALF_N)
    throw new InvalidInputError(
      'A result signature has a high s (malleable); the escrow refuses it.',
    )
  const compact = signatureToCompactSignature(sig)
  return concatHex([compact.r, compact.yParityAndS])
}

/** The contract's limit of distinct signers per settlePacked entry (one-byte indices). */
export const MAX_SIGNERS_PER_ENTRY = 255

/**
 * Certificates grouped by job as settlePacked's argument: one entry per job in first-seen order,
 * and a further entry for the same job whenever one would have more than `maxSigners` distinct
 * signers. Records within an entry are in task order.
 */
export function packCertificates(
  certs: readonly Certificate[],
  maxSigners = MAX_SIGNERS_PER_ENTRY,
): Array<{ jobId: Hex; tasks: Hex }> {
  const entries: Array<{
    jobId: Hex
    records: Array<{ taskIndex: number; bytes: Hex }>
    signers: Set<string>
  }> = []
  const open = new Map<string, number>()
  for (const c of certs) {
    if (c.signatures.length > maxSigners)
      throw new InvalidInputError(
        `A certificate carries ${c.signatures.length} signatures; at most ${maxSigners} fit one entry.`,
      )
    const key = c.jobId.toLowerCase()
    let entry = entries[open.get(key) ?? -1]
    const fresh = c.signers.filter((w) => !entry?.signers.has(w.toLowerCase()))
    if (!entry || entry.signers.size + fresh.length > maxSigners) {
      entry = { jobId: c.jobId, records: [], signers: new Set() }
      open.set(key, entries.length)
      entries.push(entry)
    }
    for (const w of c.signers) entry.signers.add(w.toLowerCase())
    entry.records.push({
      taskIndex: c.taskIndex,
      bytes: concatHex([
        numberToHex(c.taskIndex, { size: 4 }),
        c.resultHash,
        numberToHex(c.signatures.length, { size: 1 }),
        ...c.signatures.map(compactSignature),
      ]),
    })
  }
  // In task order: the contract keeps one word of settled bits (256 tasks) in hand at a time.
  return entries.map((e) => ({
    jobId: e.jobId,
    tasks: concatHex(e.records.sort((a, b) => a.taskIndex - b.taskIndex).map((r) => r.bytes)),
  }))
}

export interface SettledRecord {
  jobId: Hex
  taskIndex: number
  resultHash: Hex
  signers: Address[]
  txHash: Hex
  blockNumber: bigint
}

/** Splits a TasksSettled event's `tasks` bytes into its records, naming signers from its table. */
export function unpackSettled(
  signers: readonly Address[],
  tasks: Hex,
): Array<{ taskIndex: number; resultHash: Hex; signers: Address[] }> {
  const out = []
  const len = size(tasks)
  let off = 0
  while (off < len) {
    const taskIndex = hexToNumber(sliceHex(tasks, off, off + 4))
    const resultHash = sliceHex(tasks, off + 4, off + 36)
    const n = hexToNumber(sliceHex(tasks, off + 36, off + 37))
    const bytes = hexToBytes(sliceHex(tasks, off + 37, off + 37 + n))
    out.push({ taskIndex, resultHash, signers: [...bytes].map((k) => getAddress(signers[k]!)) })
    off += 37 + n
  }
  return out
}

/**
 * Every task settled in these logs by the escrow at `contract`, whichever way it was settled
 * (TaskSettled from `settle`, TasksSettled from `settlePacked`). Logs of other events, and logs
 * of other contracts (a requester's callback may emit anything in the same transaction), are
 * ignored.
 */
export function settledFromLogs(logs: readonly Log[], contract: Address): SettledRecord[] {
  const out: SettledRecord[] = []
  const ours = logs.filter((l) => l.address.toLowerCase() === contract.toLowerCase())
  for (const l of parseEventLogs({
    abi: jobEscrowAbi,
    logs: ours as Log[],
    eventName: ['TaskSettled', 'TasksSettled'],
  })) {
    const at = { txHash: l.transactionHash, blockNumber: l.blockNumber }
    if (l.eventName === 'TaskSettled') {
      out.push({
        jobId: l.args.jobId,
        taskIndex: l.args.taskIndex,
        resultHash: l.args.resultHash,
        signers: [...l.args.signers],
        ...at,
      })
    } else {
      for (const r of unpackSettled(l.args.signers, l.args.tasks))
        out.push({ jobId: l.args.jobId, ...r, ...at })
    }
  }
  return out
}

/** Every task of `jobId` settled so far, read from the contract's events, in no set order. */
export async function settledTasksOf(
  client: PublicClient,
  contract: Address,
  jobId: Hex,
): Promise<SettledRecord[]> {
  const events = (eventName: 'TaskSettled' | 'TasksSettled') =>
    client.getContractEvents({
      address: contract,
      abi: jobEscrowAbi,
      eventName,
      args: { jobId },
      fromBlock: 0n,
    })
  const [one, packed] = await Promise.all([events('TaskSettled'), events('TasksSettled')])
  return settledFromLogs([...one, ...packed], contract)
}

/**
 * The job spec: what a requester commits to on chain with `createJob` and what volunteers check
 * before they work. Every field here is stored by the escrow contract.
 */
import { type Hex, hexToString, isHex, stringToHex } from 'viem'
import { InvalidInputError } from '../errors'
import { MAX_TASKS_PER_JOB } from './inputs'
import { type AgreementPolicy, formatPolicy, parsePolicy } from './policy'

export interface JobSpec {
  /** sha256 of the ONNX model file, 0x-prefixed. */
  modelHash: Hex
  /** Merkle root over the task input leaves (see `inputs.ts`). */
  inputsRoot: Hex
  /** Number of tasks (one per input set). */
  taskCount: number
  /** Results paid for per task, at most; escrow is taskCount × replicas × rewardPerResult. */
  replicas: number
  /** Agreeing results needed to accept a task. 1 ≤ quorum ≤ replicas. */
  quorum: number
  policy: AgreementPolicy
  /** Wei paid to each agreeing worker per accepted task. */
  rewardPerResult: bigint
  /** Unix time (seconds) after which nothing settles and the requester can refund. */
  deadline: number
}

export const MAX_REPLICAS = 32

export function validateJobSpec(
  spec: JobSpec,
  nowSeconds = Math.floor(Date.now() / 1000),
): JobSpec {
  const bad = (msg: string, hint?: string) => new InvalidInputError(msg, { hint })
  if (!isHex(spec.modelHash) || spec.modelHash.length !== 66)
    throw bad('modelHash must be 32 bytes of hex.')
  if (!isHex(spec.inputsRoot) || spec.inputsRoot.length !== 66)
    throw bad('inputsRoot must be 32 bytes of hex.')
  if (
    !Number.isInteger(spec.taskCount) ||
    spec.taskCount < 1 ||
    spec.taskCount > MAX_TASKS_PER_JOB
  ) {
    throw bad(`taskCount must be between 1 and ${MAX_TASKS_PER_JOB}.`)
  }
  if (!Number.isInteger(spec.replicas) || spec.replicas < 1 || spec.replicas > MAX_REPLICAS) {
    throw bad(`replicas must be between 1 and ${MAX_REPLICAS}.`)
  }
  if (!Number.isInteger(spec.quorum) || spec.quorum < 1 || spec.quorum > spec.replicas) {
    throw bad(
      `quorum must be between 1 and replicas (${spec.replicas}).`,
      'A task is accepted when quorum results agree.',
    )
  }
  if (spec.rewardPerResult <= 0n) throw bad('rewardPerResult must be positive.')
  if (!Number.isInteger(spec.deadline) || spec.deadline <= nowSeconds)
    throw bad('deadline must be in the future.')
  return spec
}

export function escrowFor(
  spec: Pick<JobSpec, 'taskCount' | 'replicas' | 'rewardPerResult'>,
): bigint {
  return BigInt(spec.taskCount) * BigInt(spec.replicas) * spec.rewardPerResult
}

/** The policy as the contract stores it: its text form, UTF-8, right-padded to 32 bytes. */
export function policyToBytes32(policy: AgreementPolicy): Hex {
  return stringToHex(formatPolicy(policy), { size: 32 })
}

export function policyFromBytes32(value: Hex): AgreementPolicy {
  return parsePolicy(hexToString(value, { size: 32 }).replace(/\0+$/, ''))
}

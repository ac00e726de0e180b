/**
 * The job spec: what a requester commits to on chain with `createJob` and what volunteers check
 * before they work. Every field here is stored by the escrow contract.
 */
import { type Address, type Hex, hexToString, isAddress, isHex, stringToHex } from 'viem'
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
  /** Results paid for per task, at most. */
  replicas: number
  /** Agreeing results the coordinator requires to accept a task. 1 ≤ quorum ≤ replicas. */
  quorum: number
  policy: AgreementPolicy
  /** Wei paid to each worker per accepted result. */
  rewardPerResult: bigint
  /**
   * Unix time (seconds) of the deadline. The coordinator's claims stay redeemable, and results
   * recordable, until `deadline + CLAIM_WINDOW` (one day); the requester can refund after that.
   */
  deadline: number
  /**
   * The only key whose EIP-712 signatures move this job's escrow (claims) or record its results.
   * Worker signatures alone move nothing.
   */
  coordinator: Address
  /** Wei paid, per task, to whoever records the task's result on chain. Default 0. */
  feePerTask?: bigint
  /** Active stake (wei) a worker needs to redeem its claims. Default 0. */
  minStake?: bigint
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
  if (!isAddress(spec.coordinator, { strict: false }) || /^0x0{40}$/i.test(spec.coordinator))
    throw bad(
      'coordinator must be a non-zero address.',
      "It is the key that signs the job's claims and records; its signatures alone move escrow.",
    )
  for (const [name, v] of [
    ['feePerTask', spec.feePerTask],
    ['minStake', spec.minStake],
  ] as const) {
    if (v !== undefined && (v < 0n || v >= 2n ** 128n))
      throw bad(`${name} must be between 0 and 2^128 - 1 wei.`)
  }
  return spec
}

/** Wei that `createJob` escrows: taskCount × (replicas × rewardPerResult + feePerTask). */
export function escrowFor(
  spec: Pick<JobSpec, 'taskCount' | 'replicas' | 'rewardPerResult' | 'feePerTask'>,
): bigint {
  return (
    BigInt(spec.taskCount) *
    (BigInt(spec.replicas) * spec.rewardPerResult + (spec.feePerTask ?? 0n))
  )
}

/** The policy as the contract stores it: its text form, UTF-8, right-padded to 32 bytes. */
export function policyToBytes32(policy: AgreementPolicy): Hex {
  return stringToHex(formatPolicy(policy), { size: 32 })
}

export function policyFromBytes32(value: Hex): AgreementPolicy {
  return parsePolicy(hexToString(value, { size: 32 }).replace(/\0+$/, ''))
}

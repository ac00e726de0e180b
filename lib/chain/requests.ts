/**
 * On-chain requests (contracts/src/MeshworkRequests.sol): a consumer contract pays for one
 * inference and names the coordinator it trusts (or takes the deployment's default); the request
 * is a one-task JobEscrow job whose requester is MeshworkRequests, and only that coordinator's
 * signed record answers it, by callback. Deployment, reading, delivering, refunding.
 */
import { type Address, type Hex, type PublicClient, parseEventLogs } from 'viem'
import { type AgreementPolicy, policyToBytes32 } from '../proofs'
import { chainError, deployContract, sendTx, type Wallet } from './escrow'
import {
  exampleConsumerAbi,
  exampleConsumerBytecode,
  jobEscrowAbi,
  meshworkRequestsAbi,
  meshworkRequestsBytecode,
} from './generated'

/** Largest result MeshworkRequests delivers with its bytes (MAX_RESULT_BYTES). */
export const MAX_RESULT_BYTES = 1024

type EscrowError = Extract<(typeof jobEscrowAbi)[number], { type: 'error' }>
const requestsErrorNames = new Set<string>(
  meshworkRequestsAbi.filter((x) => x.type === 'error').map((x) => x.name),
)
/**
 * MeshworkRequests' ABI plus JobEscrow's errors: a refund or request reverts inside the escrow
 * (ClaimWindowOpen, AlreadyRefunded, WrongEscrow, ...) and the revert bubbles up unchanged, so
 * ChainError can name it.
 */
const requestsAbi = [
  ...meshworkRequestsAbi,
  ...jobEscrowAbi.filter(
    (x): x is EscrowError => x.type === 'error' && !requestsErrorNames.has(x.name),
  ),
]

/**
 * Deploys MeshworkRequests over the escrow at `escrow`; requests that name no coordinator are
 * answered by `defaultCoordinator` (non-zero: the contract refuses the zero address).
 */
export function deployRequests(
  wallet: Wallet,
  client: PublicClient,
  escrow: Address,
  defaultCoordinator: Address,
) {
  return deployContract('MeshworkRequests', wallet, client, {
    abi: meshworkRequestsAbi,
    bytecode: meshworkRequestsBytecode,
    args: [escrow, defaultCoordinator],
    chain: wallet.chain,
  })
}

/** The example consumer (contracts/src/examples/ExampleConsumer.sol) for one model and policy. */
export function deployExampleConsumer(
  wallet: Wallet,
  client: PublicClient,
  requests: Address,
  modelHash: Hex,
  policy: AgreementPolicy,
) {
  return deployContract('ExampleConsumer', wallet, client, {
    abi: exampleConsumerAbi,
    bytecode: exampleConsumerBytecode,
    args: [requests, modelHash, policyToBytes32(policy)],
    chain: wallet.chain,
  })
}

/** A request as the Requested event announced it. */
export interface OnchainRequest {
  requestId: bigint
  consumer: Address
  jobId: Hex
  modelHash: Hex
  inputHash: Hex
  input: Hex
  wantBytes: boolean
  /** The only key whose record answers it (a bridge answers only requests naming its own). */
  coordinator: Address
  /** Active stake (wei) a volunteer needs to be paid for it. */
  minStake: bigint
  blockNumber: bigint
}

export function requestsFromLogs(logs: Parameters<typeof parseEventLogs>[0]['logs']) {
  return parseEventLogs({ abi: meshworkRequestsAbi, eventName: 'Requested', logs }).map(
    (l): OnchainRequest => ({
      requestId: l.args.requestId,
      consumer: l.args.consumer,
      jobId: l.args.jobId,
      modelHash: l.args.modelHash,
      inputHash: l.args.inputHash,
      input: l.args.input,
      wantBytes: l.args.wantBytes,
      coordinator: l.args.coordinator,
      minStake: l.args.minStake,
      blockNumber: l.blockNumber,
    }),
  )
}

export async function readRequest(client: PublicClient, requests: Address, requestId: bigint) {
  try {
    return await client.readContract({
      address: requests,
      abi: meshworkRequestsAbi,
      functionName: 'getRequest',
      args: [requestId],
    })
  } catch (err) {
    throw chainError('Reading the request', err)
  }
}

/**
 * Calls the consumer back with the recorded result: its canonical bytes (when at most
 * MAX_RESULT_BYTES and they hash to the recorded result), or none.
 */
export async function deliverResult(
  wallet: Wallet,
  client: PublicClient,
  requests: Address,
  requestId: bigint,
  result: Hex,
) {
  const receipt = await sendTx('deliver', client, () =>
    wallet.writeContract({
      address: requests,
      abi: requestsAbi,
      functionName: 'deliver',
      chain: wallet.chain,
      args: [requestId, result],
    }),
  )
  const [log] = parseEventLogs({
    abi: meshworkRequestsAbi,
    eventName: 'Delivered',
    logs: receipt.logs,
  })
  return { txHash: receipt.transactionHash, callbackOk: log?.args.callbackOk ?? false }
}

/**
 * After the request's claim window (deadline + CLAIM_WINDOW): what the volunteers were not paid
 * goes back to the consumer. Only this path refunds a request (JobEscrow refuses anyone else).
 * `amount` is the wei refunded; `credited` says the consumer did not take it (a contract without
 * `receive`), so MeshworkRequests holds it for the consumer's own `withdrawRefund(to)`.
 */
export async function refundRequest(
  wallet: Wallet,
  client: PublicClient,
  requests: Address,
  requestId: bigint,
) {
  const receipt = await sendTx('refund', client, () =>
    wallet.writeContract({
      address: requests,
      abi: requestsAbi,
      functionName: 'refund',
      chain: wallet.chain,
      args: [requestId],
    }),
  )
  const ours = receipt.logs.filter((l) => l.address.toLowerCase() === requests.toLowerCase())
  const [refunded] = parseEventLogs({
    abi: meshworkRequestsAbi,
    eventName: 'RequestRefunded',
    logs: ours,
  })
  const credited = parseEventLogs({
    abi: meshworkRequestsAbi,
    eventName: 'RefundCredited',
    logs: ours,
  })
  return {
    txHash: receipt.transactionHash,
    amount: refunded?.args.amount ?? 0n,
    credited: credited.length > 0,
  }
}

/**
 * On-chain requests (contracts/src/MeshworkRequests.sol): a consumer contract pays for one
 * inference; the request is a one-task JobEscrow job whose requester is MeshworkRequests, and
 * its answer goes back to the consumer by callback. Deployment, reading, delivering, refunding.
 */
import { type Address, type Hex, type PublicClient, parseEventLogs } from 'viem'
import { type AgreementPolicy, policyToBytes32 } from '../proofs'
import { chainError, deployContract, sendTx, type Wallet } from './escrow'
import {
  exampleConsumerAbi,
  exampleConsumerBytecode,
  meshworkRequestsAbi,
  meshworkRequestsBytecode,
} from './generated'

/** Largest result MeshworkRequests delivers with its bytes (MAX_RESULT_BYTES). */
export const MAX_RESULT_BYTES = 1024

export function deployRequests(wallet: Wallet, client: PublicClient, escrow: Address) {
  return deployContract('MeshworkRequests', wallet, client, {
    abi: meshworkRequestsAbi,
    bytecode: meshworkRequestsBytecode,
    args: [escrow],
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
 * Calls the consumer back with the settled result: its canonical bytes (when at most
 * MAX_RESULT_BYTES and they hash to the settled result), or none.
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
      abi: meshworkRequestsAbi,
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

/** After the deadline of an unanswered request: its payment back to the consumer. */
export async function refundRequest(
  wallet: Wallet,
  client: PublicClient,
  requests: Address,
  requestId: bigint,
) {
  const receipt = await sendTx('refund', client, () =>
    wallet.writeContract({
      address: requests,
      abi: meshworkRequestsAbi,
      functionName: 'refund',
      chain: wallet.chain,
      args: [requestId],
    }),
  )
  return { txHash: receipt.transactionHash }
}

/**
 * The chain watcher that brings on-chain requests (MeshworkRequests) into the mesh. For each
 * `Requested` event it checks the input (canonical tensors that hash to the request's input
 * hash), finds the model by its sha256, and coordinates the request's one-task job like any
 * other, every result replicated to the quorum (no trusted shortcuts). It takes only requests
 * whose consumer chose this bridge's coordinator key (by name, or as the deployment's default):
 * a request's result counts on chain only when that key signs it. When the task is accepted the
 * coordinator records the result (`record`, its signature), JobEscrow tells MeshworkRequests the
 * result hash, and the bridge delivers the result bytes (when small enough) so that the
 * consumer's callback runs. The contracts check the coordinator's signature and the bytes.
 */
import { type Address, bytesToHex, type Hex, hexToBytes, type PublicClient } from 'viem'
import {
  deliverResult,
  logsInRanges,
  MAX_RESULT_BYTES,
  meshworkRequestsAbi,
  type OnchainRequest,
  readJob,
  readRequest,
  requestsFromLogs,
  type Wallet,
} from '../chain'
import { createLogger, type Logger } from '../env/log'
import { errorMessage } from '../errors'
import type { Coordinator } from '../jobs'
import { canonicalResult, decodeTensorMap, type TensorMap } from '../proofs'
import type { Store } from '../store'
import { trustSettings } from '../trust'
import { coordinateJob } from './requester'

export interface BridgeModel {
  bytes: Uint8Array
  /** Catalogue file name, so that tabs fetch it from the app's origin. */
  file?: string | undefined
  name?: string | undefined
}

export interface BridgeInit {
  /**
   * Pays settlement and deliveries, which run concurrently: give a wallet that queues its sends
   * (`oneSendAtATime`, as `startNodeRequester`'s wallet does), or two may take the same nonce.
   */
  wallet: Wallet
  client: PublicClient
  /** JobEscrow. */
  escrow: Address
  /** MeshworkRequests. */
  requests: Address
  store: Store
  coordinator: Coordinator
  /** The coordinator's address (its node key): requests naming another coordinator are not ours. */
  coordinatorAddress: Address
  /** The model with this sha256, or undefined when this bridge cannot serve it. */
  modelFor(sha256: Hex): Promise<BridgeModel | undefined>
  /**
   * Least payment (wei, all replicas' rewards together) a request must carry to be taken.
   * On-chain requests carry no fee for the bridge (their whole payment goes to the workers), so
   * the bridge pays the gas of recording and delivering from its own wallet; a request paying less
   * than that gas would cost the bridge's operator more than the workers earn. `'gas'`: that gas
   * at the current price (BRIDGE_GAS × `eth_gasPrice`). @default 'gas'
   */
  minPayment?: bigint | 'gas'
  /**
   * First block to look at (default: the contract's `deployedBlock`, so older requests still open
   * are picked up too).
   */
  fromBlock?: bigint
  pollingIntervalMs?: number
  log?: Logger
}

export interface BridgeStats {
  seen: number
  coordinating: number
  delivered: number
  /** Requests this bridge will not take, with the reason. */
  skipped: Array<{ requestId: string; reason: string }>
}

export interface RequestBridge {
  stats(): BridgeStats
  /** Fires `delivered` (detail: { requestId, callbackOk }) and `skipped`. */
  events: EventTarget
  stop(): void
}

/**
 * Gas a bridge spends on one request, rounded up: recording the result with its callback to
 * MeshworkRequests (which gives the consumer 200,000) and delivering the result bytes.
 */
export const BRIDGE_GAS = 450_000n

export function startRequestBridge(init: BridgeInit): RequestBridge {
  const log = init.log ?? createLogger('bridge')
  const events = new EventTarget()
  const handled = new Set<bigint>()
  const stats: BridgeStats = { seen: 0, coordinating: 0, delivered: 0, skipped: [] }
  const chainId = init.wallet.chain?.id

  const skip = (r: OnchainRequest, reason: string) => {
    log.warn('request skipped', { requestId: r.requestId.toString(), reason })
    stats.skipped.push({ requestId: r.requestId.toString(), reason })
    events.dispatchEvent(new CustomEvent('skipped', { detail: { requestId: r.requestId, reason } }))
  }

  const take = async (r: OnchainRequest) => {
    if (handled.has(r.requestId)) return
    handled.add(r.requestId)
    stats.seen++
    const state = await readRequest(init.client, init.requests, r.requestId)
    if (state.answered || state.refunded) return
    let inputs: TensorMap
    try {
      inputs = decodeTensorMap(hexToBytes(r.input))
    } catch (err) {
      return skip(r, `input: ${errorMessage(err)}`)
    }
    const job = await readJob(init.client, init.escrow, r.jobId)
    if (!job) return skip(r, `no job ${r.jobId} on the escrow`)
    if (job.coordinator.toLowerCase() !== init.coordinatorAddress.toLowerCase())
      return skip(r, `it names another coordinator (${job.coordinator})`)
    const block = await init.client.getBlock()
    if (job.deadline <= Number(block.timestamp)) return skip(r, 'its deadline has passed')
    const payment = job.rewardPerResult * BigInt(job.replicas)
    const minPayment =
      (init.minPayment ?? 'gas') === 'gas'
        ? BRIDGE_GAS * (await init.client.getGasPrice())
        : (init.minPayment as bigint)
    if (payment < minPayment)
      return skip(
        r,
        `its payment (${payment} wei) is below this bridge's minimum (${minPayment} wei, the gas it spends recording and delivering a result)`,
      )
    const model = await init.modelFor(job.modelHash)
    if (!model) return skip(r, `model ${job.modelHash} is not available to this bridge`)
    stats.coordinating++
    log.info('coordinating an on-chain request', {
      requestId: r.requestId.toString(),
      jobId: r.jobId,
      model: model.name ?? job.modelHash,
    })
    const handle = await coordinateJob(
      { contract: init.escrow, store: init.store, coordinator: init.coordinator },
      {
        jobId: r.jobId,
        spec: job,
        chainId: chainId ?? (await init.client.getChainId()),
        requester: init.requests,
        tasks: [inputs],
        model: model.bytes,
        modelFile: model.file,
        modelName: model.name,
        // Strangers' request: a full quorum for every result, no trusted shortcuts.
        trust: { settings: trustSettings('high'), canaries: [] },
      },
    )
    await handle.done
    stats.coordinating--
    const [result] = handle.results()
    if (result?.status !== 'settled' || !result.outputs)
      return skip(
        r,
        `the task was not settled (${result?.failure ?? result?.status ?? 'no result'})`,
      )
    const bytes = canonicalResult(result.outputs, job.policy)
    const fits = bytes.length <= MAX_RESULT_BYTES
    if (!fits && r.wantBytes)
      return skip(
        r,
        `its result is ${bytes.length} bytes, over ${MAX_RESULT_BYTES}: anyone may deliver the hash alone an hour after settlement`,
      )
    const { callbackOk } = await deliverResult(
      init.wallet,
      init.client,
      init.requests,
      r.requestId,
      fits ? bytesToHex(bytes) : '0x',
    )
    stats.delivered++
    log.info('delivered', { requestId: r.requestId.toString(), callbackOk, bytes: bytes.length })
    events.dispatchEvent(
      new CustomEvent('delivered', { detail: { requestId: r.requestId, callbackOk } }),
    )
  }

  const onLogs = (logs: Parameters<typeof requestsFromLogs>[0]) => {
    for (const r of requestsFromLogs(logs))
      take(r).catch((err) => skip(r, `failed: ${errorMessage(err)}`))
  }
  let stopped = false
  let unwatch: (() => void) | undefined
  // Requests made before this bridge started are read in ranges of blocks from the contract's
  // deployment on (one query from block 0 is refused by RPC providers on a long-lived chain),
  // then new ones are watched from the block after the last one read.
  const catchUp = async (): Promise<bigint> => {
    const from =
      init.fromBlock ??
      (await init.client
        .readContract({
          address: init.requests,
          abi: meshworkRequestsAbi,
          functionName: 'deployedBlock',
        })
        .catch((err) => {
          // A deployment from before `deployedBlock`: read from the chain's first block.
          log.warn('reading deployedBlock failed; reading requests from block 0', {
            error: errorMessage(err),
          })
          return 0n
        }))
    const { logs, latest } = await logsInRanges(
      init.client,
      'Reading past requests',
      from,
      undefined,
      (fromBlock, toBlock) =>
        init.client.getContractEvents({
          address: init.requests,
          abi: meshworkRequestsAbi,
          eventName: 'Requested',
          fromBlock,
          toBlock,
        }),
    )
    onLogs(logs)
    return latest
  }
  const watch = async () => {
    let latest: bigint | undefined
    while (!stopped && latest === undefined) {
      try {
        latest = await catchUp()
      } catch (err) {
        log.warn('reading past requests failed; retrying', { error: errorMessage(err) })
        await new Promise((r) => setTimeout(r, init.pollingIntervalMs ?? 500))
      }
    }
    if (stopped || latest === undefined) return
    unwatch = init.client.watchContractEvent({
      address: init.requests,
      abi: meshworkRequestsAbi,
      eventName: 'Requested',
      fromBlock: latest + 1n,
      poll: true,
      pollingInterval: init.pollingIntervalMs ?? 500,
      onLogs,
      onError: (err) =>
        log.warn('watching requests failed; retrying', { error: errorMessage(err) }),
    })
  }
  void watch()

  return {
    stats: () => ({ ...stats, skipped: [...stats.skipped] }),
    events,
    stop: () => {
      stopped = true
      unwatch?.()
    },
  }
}

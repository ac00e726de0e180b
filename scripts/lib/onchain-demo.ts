/**
 * The on-chain part of `npm run demo -- --onchain`: an example consumer contract (deployed by
 * its own account) asks for one inference per task on chain; a bridge in this process brings
 * each request into the mesh, the volunteers compute it, the quorum certificate settles on
 * JobEscrow, and the consumer's callback receives the result. Checks every result against
 * onnxruntime-node here.
 */
import * as ort from 'onnxruntime-node'
import { bytesToHex, type Hex, parseEther, parseEventLogs } from 'viem'
import {
  DEV_PRIVATE_KEYS,
  deployExampleConsumer,
  exampleConsumerAbi,
  MAX_RESULT_BYTES,
  publicClientFor,
  sendTx,
} from '../../lib/chain'
import {
  type AgreementPolicy,
  canonicalResult,
  encodeTensorMap,
  type TensorMap,
} from '../../lib/proofs'
import { createOrtEngine } from '../../lib/runtime'
import { sha256Hex } from '../../lib/runtime/model-source'
import { startRequestBridge } from '../../lib/sdk/bridge'
import { type NodeRequester, walletFor } from '../../lib/sdk/node'
import type { Stack } from './stack'

export interface OnchainDemoResult {
  onchainRequests: number
  callbacks: number
  delivered: number
  resultsMatching: number
  skipped: Array<{ requestId: string; reason: string }>
  gasPerRequest: number
}

export async function onchainDemo(opts: {
  stack: Stack
  requester: NodeRequester
  model: Uint8Array
  modelFile?: string | undefined
  modelName: string
  policy: AgreementPolicy
  tasks: TensorMap[]
  timeoutMs: number
  say: (s: string) => void
}): Promise<OnchainDemoResult> {
  const { stack, requester, say } = opts
  const client = publicClientFor(stack.chain)
  const modelHash = await sha256Hex(opts.model)
  const inputs = opts.tasks.map(encodeTensorMap)
  const big = inputs.findIndex((b) => b.length > 8192)
  if (big >= 0)
    throw new Error(
      `Task ${big}'s input is ${inputs[big]!.length} bytes; on-chain requests take at most 8192 (use a small model, e.g. --model mlp-16x4).`,
    )
  // The consumer belongs to someone else than the bridge: anvil dev account 3.
  const owner = walletFor(DEV_PRIVATE_KEYS[3]!, stack.chain)
  const consumer = await deployExampleConsumer(
    owner,
    client,
    stack.requests,
    modelHash,
    opts.policy,
  )
  say(`ExampleConsumer deployed at ${consumer}; bridging requests of ${stack.requests}…`)
  const bridge = startRequestBridge({
    wallet: requester.wallet,
    client,
    escrow: stack.chain.contract,
    requests: stack.requests,
    store: requester.store,
    coordinator: requester.coordinator,
    coordinatorAddress: requester.identity.address,
    modelFor: async (h: Hex) =>
      h.toLowerCase() === modelHash.toLowerCase()
        ? { bytes: opts.model, file: opts.modelFile, name: opts.modelName }
        : undefined,
    pollingIntervalMs: 250,
  })
  try {
    let gas = 0n
    const ids: bigint[] = []
    const callbacks = async () =>
      (await client.readContract({
        address: consumer,
        abi: exampleConsumerAbi,
        functionName: 'callbacks',
      })) as bigint
    const first = await callbacks()
    for (const input of inputs) {
      const receipt = await sendTx('ask', client, () =>
        owner.writeContract({
          address: consumer,
          abi: exampleConsumerAbi,
          functionName: 'ask',
          args: [bytesToHex(input)],
          // Above the bridge's minimum: the gas it spends recording and delivering (BRIDGE_GAS).
          value: parseEther('0.002'),
          chain: owner.chain,
        }),
      )
      gas += receipt.gasUsed
      const [asked] = parseEventLogs({
        abi: exampleConsumerAbi,
        eventName: 'Asked',
        logs: receipt.logs,
      })
      ids.push(asked!.args.requestId)
    }
    say(`The consumer asked for ${inputs.length} inferences on chain; waiting for its callbacks…`)
    const until = Date.now() + opts.timeoutMs
    let last = -1n
    for (;;) {
      const n = (await callbacks()) - first
      if (n !== last) say(`  ${n}/${inputs.length} answered by callback`)
      last = n
      if (n >= BigInt(inputs.length) || Date.now() > until) break
      if (bridge.stats().skipped.length > 0) break
      await new Promise((r) => setTimeout(r, 500))
    }

    // Each answer against onnxruntime-node on the same input, canonical under the policy.
    const engine = createOrtEngine(ort, { backend: 'cpu', executionProviders: ['cpu'] })
    await engine.load(modelHash, opts.model)
    // The example consumer keeps each answer's hash and emits its bytes (storing 1 KiB would
    // cost more than its callback's gas).
    const answers = new Map<bigint, Hex>()
    for (const e of await client.getContractEvents({
      address: consumer,
      abi: exampleConsumerAbi,
      eventName: 'Answer',
      fromBlock: 0n,
    }))
      answers.set(e.args.requestId!, e.args.result!)
    let matching = 0
    for (const [i, task] of opts.tasks.entries()) {
      const expected = canonicalResult(await engine.run(modelHash, task), opts.policy)
      if (expected.length > MAX_RESULT_BYTES) continue
      if (answers.get(ids[i]!) === bytesToHex(expected)) matching++
    }
    await engine.dispose()
    const s = bridge.stats()
    for (const x of s.skipped) say(`  request ${x.requestId} skipped: ${x.reason}`)
    return {
      onchainRequests: inputs.length,
      callbacks: Number((await callbacks()) - first),
      delivered: s.delivered,
      resultsMatching: matching,
      skipped: s.skipped,
      gasPerRequest: Number(gas / BigInt(inputs.length)),
    }
  } finally {
    bridge.stop()
  }
}

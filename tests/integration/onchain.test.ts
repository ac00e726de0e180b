import * as ort from 'onnxruntime-node'
import {
  type Address,
  bytesToHex,
  createTestClient,
  type Hex,
  http,
  keccak256,
  parseEther,
} from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { modelsBySha256 } from '../../cli/bridge'
import {
  CLAIM_WINDOW_SECONDS,
  DEV_COORDINATOR_KEY,
  DEV_PRIVATE_KEYS,
  deployExampleConsumer,
  exampleConsumerAbi,
  publicClientFor,
  readRequest,
  refundRequest,
  sendTx,
} from '../../lib/chain'
import {
  canonicalResult,
  encodeCbor,
  encodeTensorMap,
  parseInputsJson,
  parsePolicy,
} from '../../lib/proofs'
import { createOrtEngine, seededInputs } from '../../lib/runtime'
import { type RequestBridge, startRequestBridge } from '../../lib/sdk/bridge'
import {
  type NodeRequester,
  type NodeVolunteer,
  startNodeRequester,
  startNodeVolunteer,
  walletFor,
} from '../../lib/sdk/node'
import { readManifest } from '../../scripts/models'
import { startTestStack, type TestStack } from '../helpers/stack'

// On-chain requests end to end: a consumer contract asks for inferences on chain, the bridge
// brings them into the mesh, Node volunteers compute them, the quorum certificate settles on
// JobEscrow, and the consumer's callback receives the result hash and bytes. Malformed
// requests are refused with a reason and their payment comes back after the deadline.
let stack: TestStack
let requester: NodeRequester
let bridge: RequestBridge
const volunteers: NodeVolunteer[] = []
let consumer: Address
const model = readManifest().models.find((m) => m.name === 'mlp-16x4')!
const policy = parsePolicy(model.defaultPolicy ?? 'round:3')

/** A bridge for the requester's coordinator key, reading requests from the contract's deployment on. */
function startBridge(): RequestBridge {
  return startRequestBridge({
    wallet: requester.wallet,
    client: requester.client,
    escrow: stack.chain.contract,
    requests: stack.requests,
    store: requester.store,
    coordinator: requester.coordinator,
    coordinatorAddress: requester.identity.address,
    modelFor: async (h: Hex) => (await modelsBySha256([])).get(h.toLowerCase()),
    pollingIntervalMs: 200,
  })
}

beforeAll(async () => {
  stack = await startTestStack()
  const net = { ...stack.chain, relays: [stack.relay.multiaddr] }
  for (let i = 0; i < 2; i++) volunteers.push(await startNodeVolunteer(net))
  requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, {
    ...net,
    coordinatorKey: DEV_COORDINATOR_KEY,
  })
  bridge = startBridge()
  // The consumer is deployed by someone else entirely: dev account 3.
  consumer = await deployExampleConsumer(
    walletFor(DEV_PRIVATE_KEYS[3]!, stack.chain),
    publicClientFor(stack.chain),
    stack.requests,
    model.sha256 as Hex,
    policy,
  )
})

afterAll(async () => {
  bridge?.stop()
  await requester?.stop()
  await Promise.all(volunteers.map((v) => v.stop()))
  await stack?.stop()
})

async function ask(input: Uint8Array, value = parseEther('0.002')) {
  const wallet = walletFor(DEV_PRIVATE_KEYS[3]!, stack.chain)
  const client = publicClientFor(stack.chain)
  const receipt = await sendTx('ask', client, () =>
    wallet.writeContract({
      address: consumer,
      abi: exampleConsumerAbi,
      functionName: 'ask',
      args: [bytesToHex(input)],
      value,
      chain: wallet.chain,
    }),
  )
  return receipt
}

const read = <T>(functionName: 'callbacks' | 'resultHashOf', args: bigint[] = []) =>
  publicClientFor(stack.chain).readContract({
    address: consumer,
    abi: exampleConsumerAbi,
    functionName,
    args,
  } as never) as Promise<T>

describe('on-chain requests', () => {
  it('a consumer contract asks twice and its callback receives both answers, equal to onnxruntime-node', async () => {
    const tasks = parseInputsJson(seededInputs(11, 2, model.exampleDims))
    const before = await read<bigint>('callbacks')
    for (const t of tasks) await ask(encodeTensorMap(t))
    await expect
      .poll(() => read<bigint>('callbacks'), { timeout: 60_000, interval: 500 })
      .toBe(before + 2n)

    const engine = createOrtEngine(ort, { backend: 'cpu', executionProviders: ['cpu'] })
    const bytes = (await modelsBySha256([])).get(model.sha256.toLowerCase())!.bytes
    await engine.load(model.sha256 as Hex, bytes)
    // The consumer keeps each answer's hash and emits its bytes.
    const answers = new Map<bigint, Hex>()
    for (const e of await publicClientFor(stack.chain).getContractEvents({
      address: consumer,
      abi: exampleConsumerAbi,
      eventName: 'Answer',
      fromBlock: 0n,
    }))
      answers.set(e.args.requestId!, e.args.result!)
    for (const [i, t] of tasks.entries()) {
      const id = before + BigInt(i)
      const expected = canonicalResult(await engine.run(model.sha256 as Hex, t), policy)
      expect(answers.get(id)).toBe(bytesToHex(expected))
      expect(await read<Hex>('resultHashOf', [id])).toBe(keccak256(expected))
      const r = await readRequest(publicClientFor(stack.chain), stack.requests, id)
      expect(r).toMatchObject({ answered: true, delivered: true, refunded: false })
    }
    await engine.dispose()
    expect(bridge.stats()).toMatchObject({ delivered: 2, skipped: [] })
  })

  it('a request made while no bridge ran is answered by the next bridge to start', async () => {
    bridge.stop()
    const [t] = parseInputsJson(seededInputs(13, 1, model.exampleDims))
    const before = await read<bigint>('callbacks')
    await ask(encodeTensorMap(t!))
    bridge = startBridge()
    await expect
      .poll(() => read<bigint>('callbacks'), { timeout: 60_000, interval: 500 })
      .toBe(before + 1n)
    // Read from MeshworkRequests' deployment block on: the earlier requests, long answered,
    // are seen and left alone.
    expect(bridge.stats()).toMatchObject({ seen: Number(before) + 1, delivered: 1, skipped: [] })
  })

  it('a request paying less than the gas the bridge would spend on it is refused with the reason', async () => {
    const tasks = parseInputsJson(seededInputs(12, 1, model.exampleDims))
    const answered = bridge.stats().delivered
    // 2 replicas × 1,000 wei against 450,000 gas at anvil's price (about a gwei).
    const receipt = await ask(encodeTensorMap(tasks[0]!), 2000n)
    expect(receipt.status).toBe('success')
    await expect
      .poll(() => bridge.stats().skipped.map((s) => s.reason), { timeout: 20_000 })
      .toContainEqual(
        expect.stringMatching(/^its payment \(2000 wei\) is below this bridge's minimum/),
      )
    expect(bridge.stats().delivered).toBe(answered)
  })

  it('a malformed input is refused with a reason, and the payment goes back after the deadline', async () => {
    const client = publicClientFor(stack.chain)
    const receipt = await ask(encodeCbor({ x: 'not a tensor' }), parseEther('0.004'))
    expect(receipt.status).toBe('success')
    await expect
      .poll(() => bridge.stats().skipped.map((s) => s.reason), { timeout: 20_000 })
      .toContainEqual(expect.stringMatching(/^input: Tensor "x" must be/))
    const id = BigInt(bridge.stats().skipped.at(-1)!.requestId)
    const test = createTestClient({ mode: 'anvil', transport: http(stack.chain.rpcUrl) })
    // Past the deadline and the claim window (workers' claims could be redeemed until then).
    await test.increaseTime({ seconds: 3601 + Number(CLAIM_WINDOW_SECONDS) })
    await test.mine({ blocks: 1 })
    const balance = await client.getBalance({ address: consumer })
    // Anyone may ask for the refund; the ether goes to the consumer.
    await refundRequest(walletFor(DEV_PRIVATE_KEYS[2]!, stack.chain), client, stack.requests, id)
    expect(await client.getBalance({ address: consumer })).toBe(balance + parseEther('0.004'))
    expect((await readRequest(client, stack.requests, id)).refunded).toBe(true)
  })
})

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  encodeAbiParameters,
  keccak256,
  type PublicClient,
  parseAbiParameters,
  parseEther,
} from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  createJob,
  DEV_PRIVATE_KEYS,
  jobEscrowAbi,
  publicClientFor,
  stake,
  workerOnChain,
} from '../../lib/chain'
import { createLogger } from '../../lib/env/log'
import type { Compute } from '../../lib/jobs'
import {
  createMeshNode,
  dialableAddrs,
  generateIdentity,
  type Identity,
  installGossipValidators,
  type JobAnnouncement,
  type MeshNode,
  PROTOCOLS,
  publishGossip,
  resultRequestSchema,
  serve,
  serveModels,
  TOPICS,
  toWireTensors,
  waitForReservation,
  workRequestSchema,
} from '../../lib/mesh'
import {
  commitInputs,
  formatPolicy,
  parseInputsJson,
  parsePolicy,
  type TensorMap,
} from '../../lib/proofs'
import { seededInputs } from '../../lib/runtime'
import { sha256Hex } from '../../lib/runtime/model-source'
import {
  type NodeRequester,
  type NodeVolunteer,
  startNodeRequester,
  startNodeVolunteer,
  walletFor,
} from '../../lib/sdk/node'
import { ensureModels } from '../../scripts/models'
import { startTestStack, type TestStack } from '../helpers/stack'

// Authority on the mesh: a job counts only when its announcer is the coordinator named on chain,
// its terms never change once checked, only that coordinator can close it, and an honest
// volunteer never signs two results for one task, so no one can get it slashed. Each attack is
// made by a stranger with a fresh key and a real libp2p node against the project's volunteer.
let stack: TestStack
let requester: NodeRequester
let client: PublicClient
const volunteers: NodeVolunteer[] = []
const policy = parsePolicy('round:3')
let model: Uint8Array
const log = createLogger('attacker')

async function strangerNode(): Promise<{ node: MeshNode; identity: Identity }> {
  const identity = await generateIdentity()
  const node = await createMeshNode({
    identity,
    relays: [stack.relay.multiaddr],
    allowPrivateAddresses: true,
  })
  installGossipValidators(node)
  await waitForReservation(node)
  return { node, identity }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

beforeAll(async () => {
  ensureModels()
  model = new Uint8Array(
    readFileSync(join(import.meta.dirname, '../../public/models/mlp-16x4.onnx')),
  )
  stack = await startTestStack()
  client = publicClientFor(stack.chain)
  requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, {
    ...stack.chain,
    relays: [stack.relay.multiaddr],
  })
})

afterAll(async () => {
  await Promise.all(volunteers.map((v) => v.stop()))
  await requester?.stop()
  await stack?.stop()
})

describe('authority on the mesh', () => {
  // A stranger's announcement of a real job id (predicted before it exists: ids are derived)
  // used to replace the job's coordinator and addresses in every volunteer, and anyone's
  // job-closed made every volunteer drop the job.
  it("ignores a stranger's announcements and closures of a job it does not coordinate", async () => {
    const net = { ...stack.chain, relays: [stack.relay.multiaddr] }
    for (let i = 0; i < 2; i++) volunteers.push(await startNodeVolunteer(net))
    const stranger = await strangerNode()
    let workRequests = 0
    await serve(
      stranger.node,
      PROTOCOLS.work,
      workRequestSchema,
      async () => {
        workRequests++
        return { type: 'no-work', reason: 'all-leased', retryAfterMs: 100 }
      },
      { log },
    )
    const nonce = await client.readContract({
      address: stack.chain.contract,
      abi: jobEscrowAbi,
      functionName: 'jobNonce',
      args: [requester.wallet.account.address],
    })
    const jobId = keccak256(
      encodeAbiParameters(parseAbiParameters('uint256, address, address, uint256'), [
        BigInt(stack.chain.chainId),
        stack.chain.contract,
        requester.wallet.account.address,
        nonce,
      ]),
    )
    const tasks = parseInputsJson(seededInputs(3, 8, { x: [1, 16] }))
    const block = await client.getBlock()
    const forged: JobAnnouncement = {
      type: 'job',
      jobId,
      chainId: stack.chain.chainId,
      contract: stack.chain.contract,
      coordinator: stranger.node.peerId.toString(),
      addrs: dialableAddrs(stranger.node),
      modelHash: await sha256Hex(model),
      policy: formatPolicy(policy),
      taskCount: 8,
      replicas: 2,
      quorum: 2,
      rewardPerResult: parseEther('0.001').toString(),
      deadline: Number(block.timestamp) + 3600,
      open: 8,
    }
    let flooding = true
    const flood = (async () => {
      while (flooding) {
        await publishGossip(stranger.node, TOPICS.jobs, forged).catch(() => {})
        await publishGossip(stranger.node, TOPICS.jobs, {
          type: 'job-closed',
          jobId,
          coordinator: stranger.node.peerId.toString(),
        }).catch(() => {})
        await sleep(300)
      }
    })()
    await sleep(1500)
    const job = await requester.submit({
      model,
      tasks,
      replicas: 2,
      quorum: 2,
      policy,
      rewardPerResult: parseEther('0.001'),
      durationSeconds: 3600,
    })
    expect(job.jobId).toBe(jobId)
    const final = await job.handle.done
    flooding = false
    await flood
    expect(final.counts.settled).toBe(8)
    expect(workRequests).toBe(0)
    await stranger.node.stop()
  })

  // The slash trap: a stranger opens its own cheap job (it is its coordinator), leases task 0 to
  // a staked volunteer, swaps the job's model in a re-announcement, and leases task 0 again,
  // while the volunteer's backend starts giving other outputs (a GPU demoted to WASM). Two
  // signatures over different results for one task would take the whole stake.
  it('never signs two results for one task, whatever the coordinator leases or announces', async () => {
    const stranger = await strangerNode()
    const owner = walletFor(DEV_PRIVATE_KEYS[3]!, stack.chain)
    const tasks: TensorMap[] = parseInputsJson(seededInputs(11, 2, { x: [1, 16] }))
    const commitment = commitInputs(tasks)
    const modelHash = await sha256Hex(model)
    const block = await client.getBlock()
    const { jobId } = await createJob(owner, client, stack.chain.contract, {
      modelHash,
      inputsRoot: commitment.root,
      taskCount: 2,
      replicas: 2,
      quorum: 2,
      policy,
      rewardPerResult: 1n,
      deadline: Number(block.timestamp) + 3600,
      coordinator: stranger.identity.address,
    })
    // A staked volunteer whose outputs change after its warm-up pair of runs.
    let calls = 0
    const victim = await startNodeVolunteer({
      ...stack.chain,
      relays: [stack.relay.multiaddr],
      wrapCompute: (c: Compute): Compute => ({
        ...c,
        backend: c.backend,
        runtime: c.runtime,
        prepare: (h, from) => c.prepare(h, from),
        run: async (h, inputs) => {
          const out = await c.run(h, inputs)
          if (++calls <= 2) return out
          const y = out.y!
          const data = Float32Array.from(y.data as Float32Array, (v) => v + 0.5)
          return { ...out, y: { ...y, data } }
        },
      }),
    })
    volunteers.push(victim)
    const backer = walletFor(DEV_PRIVATE_KEYS[2]!, stack.chain)
    await stake(backer, client, stack.chain.contract, parseEther('1'), victim.identity.address)

    const signed = new Map<string, string>()
    const errors: string[] = []
    let leases = 0
    await serveModels(
      stranger.node,
      (h) => (h.toLowerCase() === modelHash.toLowerCase() ? model : undefined),
      log,
    )
    await serve(
      stranger.node,
      PROTOCOLS.work,
      workRequestSchema,
      async () => {
        leases++
        return {
          type: 'lease',
          jobId,
          taskIndex: 0,
          leaseId: `trap-${leases}`,
          expiresInMs: 30_000,
          inputHash: commitment.hashes[0]!,
          proof: commitment.proof(0),
          inputs: toWireTensors(tasks[0]!),
        }
      },
      { log },
    )
    await serve(
      stranger.node,
      PROTOCOLS.result,
      resultRequestSchema,
      async (req) => {
        if (req.type === 'result') signed.set(req.resultHash, req.signature)
        else errors.push(req.code)
        return { type: 'result-ack', status: 'recorded', verdict: 'pending' }
      },
      { log, maxRequestBytes: 16 * 1024 * 1024 },
    )
    const announcement: JobAnnouncement = {
      type: 'job',
      jobId,
      chainId: stack.chain.chainId,
      contract: stack.chain.contract,
      coordinator: stranger.node.peerId.toString(),
      addrs: dialableAddrs(stranger.node),
      modelHash,
      policy: formatPolicy(policy),
      taskCount: 2,
      replicas: 2,
      quorum: 2,
      rewardPerResult: '1',
      deadline: Number(block.timestamp) + 3600,
      open: 2,
    }
    const until = Date.now() + 60_000
    let swapped = false
    while (Date.now() < until && (signed.size === 0 || errors.length === 0 || leases < 4)) {
      // After the first signature: the same job id, another model.
      swapped ||= signed.size > 0
      const msg = swapped ? { ...announcement, modelHash: `0x${'ee'.repeat(32)}` } : announcement
      await publishGossip(stranger.node, TOPICS.jobs, msg).catch(() => {})
      await sleep(500)
    }
    expect(leases).toBeGreaterThanOrEqual(2)
    // One signature for task 0, however often it was leased; the re-computed, different result
    // was refused, not signed.
    expect(signed.size).toBe(1)
    expect(errors).toContain('result-conflict')
    expect(
      victim.worker
        .stats()
        .problems.map((p) => p.message)
        .join('\n'),
    ).toMatch(/changes its model|signed before/)
    expect((await workerOnChain(client, stack.chain.contract, victim.identity.address)).stake).toBe(
      parseEther('1'),
    )
    await stranger.node.stop()
  })
})

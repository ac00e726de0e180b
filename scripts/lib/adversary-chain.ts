/**
 * Settlement-authority scenarios of the adversary harness: attacks on the escrow itself, by
 * strangers with fresh keys, greedy requesters and workers replaying claims, each against a real
 * JobEscrow (and MeshworkRequests) on its own anvil. Every one must move 0 wei and record 0
 * results wrongly; honest workers must be paid in full. Only the chain runs here: the mesh sides
 * of the same attacks (a forged announcement or closure, the slash trap) are in
 * tests/integration/authority.test.ts against the project's own volunteer.
 */
import {
  type Address,
  createTestClient,
  createWalletClient,
  type Hex,
  http,
  keccak256,
  type PublicClient,
  parseEther,
  stringToHex,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import {
  chainFor,
  createJob,
  creditedBalance,
  DEV_PRIVATE_KEYS,
  deployEscrow,
  deployRequests,
  meshworkRequestsAbi,
  publicClientFor,
  readJob,
  readRequest,
  recordResults,
  redeemClaims,
  redeemedOf,
  refund,
  type SignedClaim,
  type Wallet,
} from '../../lib/chain'
import { errorMessage } from '../../lib/errors'
import {
  type JobSpec,
  packRecords,
  parsePolicy,
  policyToBytes32,
  signClaim,
  signRecord,
} from '../../lib/proofs'
import type { AdversaryResult, AdversaryScenario } from './adversary'
import { type Anvil, startAnvil } from './anvil'
import { freePort } from './procs'

interface ChainRig {
  anvil: Anvil
  client: PublicClient
  contract: Address
  requests: Address
  chainId: number
  wallet(key: Hex): Wallet
  /** Advances the chain's clock (seconds) and mines a block. */
  warp(seconds: number): Promise<void>
  /** Ether the escrow contract holds. */
  escrowBalance(): Promise<bigint>
}

async function startRig(defaultCoordinator: Address): Promise<ChainRig> {
  const anvil = await startAnvil({ port: await freePort() })
  const cfg = { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }
  const client = publicClientFor(cfg)
  const wallet = (key: Hex) =>
    createWalletClient({
      account: privateKeyToAccount(key),
      chain: chainFor(cfg),
      transport: http(cfg.rpcUrl),
    }) as Wallet
  const deployer = wallet(DEV_PRIVATE_KEYS[0]!)
  const contract = await deployEscrow(deployer, client)
  const requests = await deployRequests(deployer, client, contract, defaultCoordinator)
  const test = createTestClient({ mode: 'anvil', transport: http(cfg.rpcUrl) })
  return {
    anvil,
    client,
    contract,
    requests,
    chainId: cfg.chainId,
    wallet,
    async warp(seconds) {
      await test.increaseTime({ seconds })
      await test.mine({ blocks: 1 })
    },
    escrowBalance: () => client.getBalance({ address: contract }),
  }
}

/** The reason a call failed (a ChainError names the contract's custom error), or undefined. */
async function refusal(call: () => Promise<unknown>): Promise<string | undefined> {
  try {
    await call()
    return undefined
  } catch (err) {
    return errorMessage(err)
  }
}

/** A fresh key with some ether from dev account 2, to pay its own gas. */
async function fundedStranger(rig: ChainRig): Promise<{ key: Hex; address: Address }> {
  const key = generatePrivateKey()
  const address = privateKeyToAccount(key).address
  const bank = rig.wallet(DEV_PRIVATE_KEYS[2]!)
  await rig.client.waitForTransactionReceipt({
    hash: await bank.sendTransaction({
      to: address,
      value: parseEther('1'),
      chain: bank.chain,
      account: bank.account,
    }),
  })
  return { key, address }
}

async function openJob(
  rig: ChainRig,
  coordinator: Address,
  over: Partial<JobSpec> = {},
): Promise<{ jobId: Hex; spec: JobSpec }> {
  const block = await rig.client.getBlock()
  const spec: JobSpec = {
    modelHash: keccak256(stringToHex('model')),
    inputsRoot: keccak256(stringToHex('inputs')),
    taskCount: 10,
    replicas: 3,
    quorum: 2,
    policy: parsePolicy('exact'),
    rewardPerResult: parseEther('0.01'),
    deadline: Number(block.timestamp) + 3600,
    coordinator,
    ...over,
  }
  const { jobId } = await createJob(
    rig.wallet(DEV_PRIVATE_KEYS[1]!),
    rig.client,
    rig.contract,
    spec,
  )
  return { jobId, spec }
}

const randomHash = () => keccak256(generatePrivateKey())

function chainResult(
  name: string,
  started: number,
  tasks: number,
  details: Record<string, unknown>,
  checks: Array<[boolean, string]>,
): AdversaryResult {
  const reasons = checks.filter(([ok]) => !ok).map(([, why]) => why)
  return {
    name,
    tasks,
    wrongAccepted: 0,
    honestPunished: 0,
    colludersExcludedWithin: null,
    effectiveRedundancy: 0,
    pass: reasons.length === 0,
    reasons,
    details,
    wallMs: Date.now() - started,
  }
}

async function withRig<T>(coordinator: Address, body: (rig: ChainRig) => Promise<T>): Promise<T> {
  const rig = await startRig(coordinator)
  try {
    return await body(rig)
  } finally {
    await rig.anvil.stop()
  }
}

const outsider: AdversaryScenario = {
  name: 'outsider-settles',
  description:
    "Someone who never joined the mesh, with fresh keys, tries to pay itself from another requester's running job (claims signed by its own keys), to record results for it, and to answer an on-chain request with a result of its choosing. Every call is refused naming NotCoordinator: 0 wei moves, 0 results are recorded, no consumer callback runs.",
  async run() {
    const started = Date.now()
    const coordinator = privateKeyToAccount(generatePrivateKey())
    return withRig(coordinator.address, async (rig) => {
      const { jobId, spec } = await openJob(rig, coordinator.address)
      const before = await rig.escrowBalance()
      const thief = await fundedStranger(rig)
      const sybils = [
        privateKeyToAccount(generatePrivateKey()),
        privateKeyToAccount(generatePrivateKey()),
      ]
      const domain = { chainId: rig.chainId, contract: rig.contract }
      const w = rig.wallet(thief.key)
      const refusals: string[] = []
      // Claims for itself, signed by each of its keys (a "quorum" of them), and by itself.
      for (const signer of [...sybils, privateKeyToAccount(thief.key)]) {
        const claim = { jobId, worker: thief.address, results: spec.taskCount }
        const signature = await signClaim(signer, domain, claim)
        refusals.push(
          (await refusal(() =>
            redeemClaims(w, rig.client, rig.contract, [{ ...claim, signature }]),
          )) ?? 'accepted',
        )
      }
      // Results for every task, signed by its own key.
      const entries = Array.from({ length: spec.taskCount }, (_, taskIndex) => ({
        taskIndex,
        resultHash: randomHash(),
      }))
      const tasks = packRecords(entries)
      const recordSig = await signRecord(sybils[0]!, domain, jobId, tasks)
      refusals.push(
        (await refusal(() =>
          recordResults(w, rig.client, rig.contract, jobId, entries, recordSig),
        )) ?? 'accepted',
      )
      // An on-chain request: a consumer (dev account 3) asks, accepting the default coordinator.
      const consumer = rig.wallet(DEV_PRIVATE_KEYS[3]!)
      const hash = await consumer.writeContract({
        address: rig.requests,
        abi: meshworkRequestsAbi,
        functionName: 'request',
        chain: consumer.chain,
        args: [
          spec.modelHash,
          '0xa0',
          policyToBytes32(spec.policy),
          2,
          2,
          3600n,
          false,
          '0x0000000000000000000000000000000000000000',
          0n,
        ],
        value: parseEther('0.002'),
      })
      await rig.client.waitForTransactionReceipt({ hash })
      const req = await readRequest(rig.client, rig.requests, 0n)
      const answer = [{ taskIndex: 0, resultHash: randomHash() }]
      const forged = await signRecord(sybils[1]!, domain, req.jobId, packRecords(answer))
      refusals.push(
        (await refusal(() =>
          recordResults(w, rig.client, rig.contract, req.jobId, answer, forged),
        )) ?? 'accepted',
      )
      const after = await rig.escrowBalance()
      const job = await readJob(rig.client, rig.contract, jobId)
      const reqAfter = await readRequest(rig.client, rig.requests, 0n)
      const credited = await creditedBalance(rig.client, rig.contract, thief.address)
      const movedWei = before + parseEther('0.002') - after + credited
      return chainResult(
        'outsider-settles',
        started,
        spec.taskCount,
        { refusals, movedWei: movedWei.toString(), recorded: job?.recordedCount },
        [
          [refusals.every((r) => /NotCoordinator/.test(r)), `refusals: ${refusals.join(' | ')}`],
          [movedWei === 0n, `${movedWei} wei moved`],
          [credited === 0n, `${credited} wei credited to the outsider`],
          [job?.recordedCount === 0, `${job?.recordedCount} results recorded`],
          [!reqAfter.answered, 'the forged answer reached the consumer'],
        ],
      )
    })
  },
}

const replay: AdversaryScenario = {
  name: 'claim-replay',
  description:
    'A worker with a valid claim for one job replays it on another job of the same coordinator, as if signed for another chain, and against another deployment; then redeems its claim twice (skipped: nothing more is paid), and an older claim after the newer one. Each replay is refused with the reason (NotCoordinator, UnknownJob, ClaimNotNewer): the worker is paid exactly once for what its newest claim says.',
  async run() {
    const started = Date.now()
    const coordinator = privateKeyToAccount(generatePrivateKey())
    return withRig(coordinator.address, async (rig) => {
      const a = await openJob(rig, coordinator.address)
      const b = await openJob(rig, coordinator.address)
      const worker = await fundedStranger(rig)
      const w = rig.wallet(worker.key)
      const domain = { chainId: rig.chainId, contract: rig.contract }
      const sign = async (jobId: Hex, results: number, d = domain): Promise<SignedClaim> => {
        const claim = { jobId, worker: worker.address, results }
        return { ...claim, signature: await signClaim(coordinator, d, claim) }
      }
      const older = await sign(a.jobId, 2)
      const newer = await sign(a.jobId, 3)
      const refusals: Record<string, string> = {}
      const note = async (what: string, call: () => Promise<unknown>) => {
        refusals[what] = (await refusal(call)) ?? 'accepted'
      }
      await note('other job', () =>
        redeemClaims(w, rig.client, rig.contract, [{ ...newer, jobId: b.jobId }]),
      )
      const otherChain = await sign(a.jobId, 3, { chainId: 1, contract: rig.contract })
      await note('other chain', () => redeemClaims(w, rig.client, rig.contract, [otherChain]))
      const second = await deployEscrow(rig.wallet(DEV_PRIVATE_KEYS[0]!), rig.client)
      await note('other deployment', () => redeemClaims(w, rig.client, second, [newer]))
      const paid = await redeemClaims(w, rig.client, rig.contract, [newer])
      // The same claim again is skipped, not refused (a race between two honest senders, or a
      // griefer front-running a batch with one of its claims): it pays nothing more.
      const again = await redeemClaims(w, rig.client, rig.contract, [newer])
      await note('older after newer', () => redeemClaims(w, rig.client, rig.contract, [older]))
      const credited = await creditedBalance(rig.client, rig.contract, worker.address)
      const expected = 3n * a.spec.rewardPerResult
      return chainResult(
        'claim-replay',
        started,
        a.spec.taskCount,
        {
          refusals,
          creditedWei: credited.toString(),
          redeemed: paid.redeemed,
          twicePaidWei: again.paid.toString(),
        },
        [
          [/NotCoordinator/.test(refusals['other job']!), `other job: ${refusals['other job']}`],
          [
            /NotCoordinator/.test(refusals['other chain']!),
            `other chain: ${refusals['other chain']}`,
          ],
          [
            /UnknownJob/.test(refusals['other deployment']!),
            `other deployment: ${refusals['other deployment']}`,
          ],
          [again.redeemed === 0 && again.paid === 0n, `twice: paid ${again.paid} more`],
          [
            /ClaimNotNewer/.test(refusals['older after newer']!),
            `older: ${refusals['older after newer']}`,
          ],
          [credited === expected, `credited ${credited}, expected ${expected}`],
          [
            (await redeemedOf(rig.client, rig.contract, b.jobId, worker.address)) === 0,
            'paid on the other job',
          ],
        ],
      )
    })
  },
}

const withholding: AdversaryScenario = {
  name: 'withholding-requester',
  description:
    'A requester receives every result, records nothing, and tries to refund the escrow once the deadline passes. Refund waits for the claim window (ClaimWindowOpen); the workers redeem the claims its coordinator signed inside the window and lose nothing; after the window the requester gets back exactly the rest.',
  async run() {
    const started = Date.now()
    const coordinator = privateKeyToAccount(generatePrivateKey())
    return withRig(coordinator.address, async (rig) => {
      const { jobId, spec } = await openJob(rig, coordinator.address, { taskCount: 4 })
      const domain = { chainId: rig.chainId, contract: rig.contract }
      const workers = [await fundedStranger(rig), await fundedStranger(rig)]
      // Each worker agreed on all 4 tasks (quorum 2 of 3).
      const claims = await Promise.all(
        workers.map(async (wk) => {
          const claim = { jobId, worker: wk.address, results: 4 }
          return { ...claim, signature: await signClaim(coordinator, domain, claim) }
        }),
      )
      const requester = rig.wallet(DEV_PRIVATE_KEYS[1]!)
      await rig.warp(spec.deadline - Number((await rig.client.getBlock()).timestamp) + 1)
      const early =
        (await refusal(() => refund(requester, rig.client, rig.contract, jobId))) ?? 'accepted'
      // Inside the window, each worker redeems its own claim (its own gas).
      for (const [i, wk] of workers.entries())
        await redeemClaims(rig.wallet(wk.key), rig.client, rig.contract, [claims[i]!])
      const job = await readJob(rig.client, rig.contract, jobId)
      await rig.warp(job!.closesAt - Number((await rig.client.getBlock()).timestamp) + 1)
      const before = await rig.client.getBalance({ address: requester.account.address })
      const r = await refund(rig.wallet(DEV_PRIVATE_KEYS[2]!), rig.client, rig.contract, jobId)
      const after = await rig.client.getBalance({ address: requester.account.address })
      const paid = await Promise.all(
        workers.map((wk) => creditedBalance(rig.client, rig.contract, wk.address)),
      )
      const owed = 4n * spec.rewardPerResult
      const escrow = BigInt(spec.taskCount) * BigInt(spec.replicas) * spec.rewardPerResult
      return chainResult(
        'withholding-requester',
        started,
        spec.taskCount,
        { early, paidWei: paid.map(String), refundedWei: r.amount.toString() },
        [
          [/ClaimWindowOpen/.test(early), `refund at the deadline: ${early}`],
          [paid.every((p) => p === owed), `workers paid ${paid.join(', ')}, owed ${owed} each`],
          [r.amount === escrow - 2n * owed, `refunded ${r.amount}`],
          [after - before === r.amount, 'the refund went elsewhere'],
        ],
      )
    })
  },
}

const dust: AdversaryScenario = {
  name: 'dust-redemption',
  description:
    "A coordinator signs more than the escrow holds (a bug, or a requester paying sybils first). Another party's redemption front-runs an honest worker's claim (paying that worker, not the sender); the claim that no longer fits is refused whole (InsufficientEscrow) instead of paying part and burning the rest, and it stays redeemable: nothing marks it used.",
  async run() {
    const started = Date.now()
    const coordinator = privateKeyToAccount(generatePrivateKey())
    return withRig(coordinator.address, async (rig) => {
      // 2 tasks × 2 replicas: room for 4 results.
      const { jobId, spec } = await openJob(rig, coordinator.address, { taskCount: 2, replicas: 2 })
      const domain = { chainId: rig.chainId, contract: rig.contract }
      const honest = await fundedStranger(rig)
      const sybil = await fundedStranger(rig)
      const front = await fundedStranger(rig)
      const sign = async (worker: Address, results: number): Promise<SignedClaim> => {
        const claim = { jobId, worker, results }
        return { ...claim, signature: await signClaim(coordinator, domain, claim) }
      }
      const sybilClaim = await sign(sybil.address, 3)
      const honestClaim = await sign(honest.address, 2)
      // The front-runner submits the sybil's claim: the sybil is paid, not the front-runner.
      await redeemClaims(rig.wallet(front.key), rig.client, rig.contract, [sybilClaim])
      const refused =
        (await refusal(() =>
          redeemClaims(rig.wallet(honest.key), rig.client, rig.contract, [honestClaim]),
        )) ?? 'accepted'
      const honestPaid = await creditedBalance(rig.client, rig.contract, honest.address)
      const frontPaid = await creditedBalance(rig.client, rig.contract, front.address)
      const redeemed = await redeemedOf(rig.client, rig.contract, jobId, honest.address)
      return chainResult(
        'dust-redemption',
        started,
        spec.taskCount,
        { refused, honestPaidWei: honestPaid.toString(), redeemed },
        [
          [/InsufficientEscrow/.test(refused), `the claim that does not fit: ${refused}`],
          [honestPaid === 0n, `paid part of a claim: ${honestPaid}`],
          [redeemed === 0, `the refused claim was marked used (${redeemed})`],
          [frontPaid === 0n, `the front-runner earned ${frontPaid}`],
        ],
      )
    })
  },
}

/** The escrow-level scenarios, run after the mesh ones. */
export const CHAIN_SCENARIOS: AdversaryScenario[] = [outsider, replay, withholding, dust]

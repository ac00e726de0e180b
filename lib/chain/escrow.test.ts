import {
  type Address,
  createPublicClient,
  createTestClient,
  createWalletClient,
  custom,
  type Hex,
  http,
  keccak256,
  parseEther,
  toHex,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Anvil, startAnvil } from '../../scripts/lib/anvil'
import { freePort } from '../../scripts/lib/procs'
import { ChainError } from '../errors'
import {
  type JobSpec,
  packRecords,
  parsePolicy,
  recoverPayoutSigner,
  signClaim,
  signPayout,
  signRecord,
} from '../proofs'
import { checkClaims, redeemClaims, redeemedOf, redemptionsOf, type SignedClaim } from './claims'
import { chainFor, publicClientFor } from './config'
import { DEV_PRIVATE_KEYS } from './dev'
import {
  CLAIM_WINDOW_SECONDS,
  createdJobIds,
  createJob,
  creditedBalance,
  deployEscrow,
  payoutOf,
  readJob,
  refund,
  setPayouts,
  withdraw,
  workerOnChain,
} from './escrow'
import { LOG_BLOCK_RANGE } from './events'
import { exampleConsumerAbi, jobEscrowAbi } from './generated'
import { isRecorded, recordedTasksOf, recordResults } from './records'
import { deployExampleConsumer, deployRequests, refundRequest } from './requests'

// Real anvil, real contract: the bindings are only as good as the calls they make.
let anvil: Anvil
beforeAll(async () => {
  anvil = await startAnvil({ port: await freePort() })
})
afterAll(async () => {
  await anvil?.stop()
})

function clients(key = DEV_PRIVATE_KEYS[0]!) {
  const cfg = { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }
  const client = publicClientFor(cfg)
  const wallet = createWalletClient({
    account: privateKeyToAccount(key),
    chain: chainFor(cfg),
    transport: http(anvil.rpcUrl),
  })
  return { client, wallet }
}

/** Moves the chain's clock forward (anvil) and mines a block at the new time. */
async function passTime(seconds: number) {
  const test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
  await test.increaseTime({ seconds })
  await test.mine({ blocks: 1 })
}

async function specFor(
  client: ReturnType<typeof publicClientFor>,
  coordinator: Address,
  extra: Partial<JobSpec> = {},
): Promise<JobSpec> {
  const now = Number((await client.getBlock()).timestamp)
  return {
    modelHash: `0x${'01'.repeat(32)}`,
    inputsRoot: `0x${'02'.repeat(32)}`,
    taskCount: 3,
    replicas: 3,
    quorum: 2,
    policy: parsePolicy('round:4'),
    rewardPerResult: parseEther('0.001'),
    deadline: now + 3600,
    coordinator,
    ...extra,
  }
}

/** A fresh escrow with one job of `specFor`'s terms, coordinated by `coordinator`. */
async function deployedJob(coordinator: Address) {
  const { client, wallet } = clients()
  const contract = await deployEscrow(wallet, client)
  const { jobId } = await createJob(wallet, client, contract, await specFor(client, coordinator))
  return { client, wallet, contract, jobId }
}

describe('JobEscrow bindings on anvil', () => {
  const coordinator = privateKeyToAccount(generatePrivateKey())

  it('create → read → claims redeemed by anyone → withdraw → payouts', async () => {
    const { client, wallet } = clients()
    const contract = await deployEscrow(wallet, client)
    const spec = await specFor(client, coordinator.address, { feePerTask: parseEther('0.0001') })
    const { jobId, escrow } = await createJob(wallet, client, contract, spec)
    expect(escrow).toBe(parseEther('0.0093')) // 3 × (3 × 0.001 + 0.0001)
    const job = await readJob(client, contract, jobId)
    expect(job).toMatchObject({
      taskCount: 3,
      replicas: 3,
      quorum: 2,
      policy: { kind: 'round', digits: 4 },
      coordinator: coordinator.address,
      feePerTask: parseEther('0.0001'),
      feesLeft: parseEther('0.0003'),
      minStake: 0n,
      recordedCount: 0,
      refunded: false,
      callback: false,
      remaining: parseEther('0.009'),
      closesAt: spec.deadline + CLAIM_WINDOW_SECONDS,
    })

    // The coordinator accepted 3, 2 and 1 results of three workers; whoever sends the claims
    // pays the gas, the workers are paid.
    const workers = [0, 1, 2].map(() => privateKeyToAccount(generatePrivateKey()))
    const domain = { chainId: anvil.chainId, contract }
    const claims: SignedClaim[] = await Promise.all(
      workers.map(async (w, i) => {
        const claim = { jobId, worker: w.address, results: 3 - i }
        return { ...claim, signature: await signClaim(coordinator, domain, claim) }
      }),
    )
    const r = await redeemClaims(wallet, client, contract, claims)
    expect(r).toMatchObject({ redeemed: 3, skipped: 0, paid: parseEther('0.006') })
    expect(r.gasUsed).toBeGreaterThan(0n)
    expect(await redeemedOf(client, contract, jobId, workers[0]!.address)).toBe(3)
    expect(await creditedBalance(client, contract, workers[0]!.address)).toBe(parseEther('0.003'))
    expect((await workerOnChain(client, contract, workers[1]!.address)).settledResults).toBe(2)
    expect((await readJob(client, contract, jobId))?.remaining).toBe(parseEther('0.003'))
    // A newer claim pays only the difference; the log keeps each redemption.
    const newer = { jobId, worker: workers[2]!.address, results: 3 }
    await redeemClaims(wallet, client, contract, [
      { ...newer, signature: await signClaim(coordinator, domain, newer) },
    ])
    expect(await redemptionsOf(client, contract, jobId)).toEqual([
      { worker: workers[0]!.address, results: 3, amount: parseEther('0.003') },
      { worker: workers[1]!.address, results: 2, amount: parseEther('0.002') },
      { worker: workers[2]!.address, results: 1, amount: parseEther('0.001') },
      { worker: workers[2]!.address, results: 3, amount: parseEther('0.002') },
    ])
    // The same claim again (someone redeemed it first: a race) is skipped and pays nothing, so
    // it cannot make a batch fail; an older claim is refused by name.
    expect(await redeemClaims(wallet, client, contract, [claims[0]!])).toMatchObject({
      redeemed: 0,
      skipped: 1,
      paid: 0n,
    })
    const olderMsg = { jobId, worker: workers[0]!.address, results: 2 }
    const older = { ...olderMsg, signature: await signClaim(coordinator, domain, olderMsg) }
    await expect(redeemClaims(wallet, client, contract, [older])).rejects.toThrowError(
      /redeem reverted: ClaimNotNewer\(/,
    )
    // checkClaims tells the three apart before anything is sent.
    const freshMsg = {
      jobId,
      worker: privateKeyToAccount(generatePrivateKey()).address,
      results: 1,
    }
    const fresh = { ...freshMsg, signature: await signClaim(coordinator, domain, freshMsg) }
    const checked = await checkClaims(
      client,
      contract,
      [claims[0]!, older, fresh],
      wallet.account.address,
    )
    expect(checked.redeemable).toEqual([fresh])
    expect(checked.alreadyRedeemed).toEqual([claims[0]!])
    expect(checked.refused.map((x) => x.claim)).toEqual([older])
    expect(checked.refused[0]!.reason).toMatch(/ClaimNotNewer\(/)
    expect(await redeemClaims(wallet, client, contract, [claims[0]!, fresh])).toMatchObject({
      redeemed: 1,
      skipped: 1,
      paid: parseEther('0.001'),
    })

    const before = await client.getBalance({ address: workers[1]!.address })
    const { amount } = await withdraw(wallet, client, contract, workers[1]!.address)
    expect(amount).toBe(parseEther('0.002'))
    expect(await client.getBalance({ address: workers[1]!.address })).toBe(before + amount)

    // Worker 0 sends its pay elsewhere: anyone submits its signed authorisation.
    const treasury = privateKeyToAccount(generatePrivateKey()).address
    const w0 = workers[0]!
    const auth = {
      worker: w0.address,
      payout: treasury,
      nonce: 7n,
      signature: await signPayout(w0, domain, treasury, 7n),
    }
    expect(await recoverPayoutSigner(domain, auth, auth.signature)).toBe(w0.address)
    expect(await payoutOf(client, contract, w0.address)).toEqual({ payout: undefined, nonce: 0n })
    expect((await setPayouts(wallet, client, contract, [auth])).set).toBe(1)
    expect((await setPayouts(wallet, client, contract, [auth])).set).toBe(0) // already recorded
    expect(await payoutOf(client, contract, w0.address)).toEqual({ payout: treasury, nonce: 7n })
    const paid = await withdraw(wallet, client, contract, w0.address)
    expect(paid.to).toBe(treasury)
    expect(await client.getBalance({ address: treasury })).toBe(parseEther('0.003'))
    // An authorisation altered on the way is refused with the contract's reason.
    const forged = { ...auth, payout: wallet.account.address, nonce: 8n }
    await expect(setPayouts(wallet, client, contract, [forged])).rejects.toThrowError(
      /setPayouts reverted: BadPayoutSignature\(/,
    )
  })

  it("refuses a stranger's claims and records, naming NotCoordinator", async () => {
    const { client, wallet, contract, jobId } = await deployedJob(coordinator.address)
    const domain = { chainId: anvil.chainId, contract }
    const stranger = privateKeyToAccount(generatePrivateKey())
    const claim = { jobId, worker: stranger.address, results: 9 }
    const err = await redeemClaims(wallet, client, contract, [
      { ...claim, signature: await signClaim(stranger, domain, claim) },
    ]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ChainError)
    expect((err as ChainError).shortMessage).toMatch(
      new RegExp(
        `redeem reverted: NotCoordinator\\(${jobId}, ${stranger.address}, ${coordinator.address}\\)`,
      ),
    )
    const entries = [{ taskIndex: 0, resultHash: keccak256(toHex('forged')) }]
    const sig = await signRecord(stranger, domain, jobId, packRecords(entries))
    await expect(recordResults(wallet, client, contract, jobId, entries, sig)).rejects.toThrowError(
      /record reverted: NotCoordinator\(/,
    )
    expect((await readJob(client, contract, jobId))?.remaining).toBe(parseEther('0.009'))
    expect(await creditedBalance(client, contract, stranger.address)).toBe(0n)
  })

  it("reads a job's events from its createJob block on, in ranges a provider accepts", async () => {
    const test = createTestClient({ mode: 'anvil', transport: http(anvil.rpcUrl) })
    const { wallet, client: plain } = clients()
    const contract = await deployEscrow(wallet, plain)
    // A long chain: the job starts 1,200 blocks in, and its events lie 700 blocks apart.
    await test.mine({ blocks: 1_200 })
    const { jobId, txHash } = await createJob(
      wallet,
      plain,
      contract,
      await specFor(plain, coordinator.address, { taskCount: 2, replicas: 1, quorum: 1 }),
    )
    const created = (await readJob(plain, contract, jobId))!.createdBlock
    expect(created).toBe((await plain.getTransactionReceipt({ hash: txHash })).blockNumber)
    const domain = { chainId: anvil.chainId, contract }
    const records = [0, 1].map((taskIndex) => ({
      taskIndex,
      resultHash: keccak256(toHex(`r${taskIndex}`)),
    }))
    for (const r of records) {
      await test.mine({ blocks: 700 })
      await recordResults(
        wallet,
        plain,
        contract,
        jobId,
        [r],
        await signRecord(coordinator, domain, jobId, packRecords([r])),
      )
      const claim = { jobId, worker: wallet.account.address, results: r.taskIndex + 1 }
      await redeemClaims(wallet, plain, contract, [
        { ...claim, signature: await signClaim(coordinator, domain, claim) },
      ])
    }
    // A provider that refuses an eth_getLogs over more than 200 blocks, as hosted RPCs do (at
    // a few thousand: the ranges here are a tenth of LOG_BLOCK_RANGE's, to mine fewer blocks).
    const inner = http(anvil.rpcUrl)({
      chain: chainFor({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }),
    })
    const ranges: Array<[bigint, bigint]> = []
    const client = createPublicClient({
      chain: chainFor({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }),
      transport: custom(
        {
          async request({ method, params }) {
            if (method === 'eth_getLogs') {
              const [{ fromBlock, toBlock }] = params as [{ fromBlock: Hex; toBlock: Hex }]
              const range: [bigint, bigint] = [BigInt(fromBlock), BigInt(toBlock)]
              ranges.push(range)
              if (range[1] - range[0] + 1n > 200n)
                throw new Error('query exceeds max block range 200')
            }
            return inner.request({ method, params } as never)
          },
        },
        { retryCount: 0 },
      ),
    })
    const options = { blockRange: LOG_BLOCK_RANGE / 10n }
    expect([...(await recordedTasksOf(client, contract, jobId, options)).keys()]).toEqual([0, 1])
    expect((await redemptionsOf(client, contract, jobId, options)).map((r) => r.results)).toEqual([
      1, 2,
    ])
    // Never before the job, never a range the provider refused twice in a row.
    expect(ranges.every(([from]) => from >= created)).toBe(true)
    const answered = ranges.filter(([a, b]) => b - a + 1n <= 200n)
    expect(answered.length).toBeGreaterThanOrEqual(2 * 11) // ~1,400 blocks in 125s, twice
    expect(ranges.length - answered.length).toBe(4) // 500 then 250 refused, per read
    // A provider that refuses every range: a ChainError that says what was being read.
    const refusing = createPublicClient({
      chain: chainFor({ rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }),
      transport: custom(
        {
          async request({ method, params }) {
            if (method === 'eth_getLogs') throw new Error('logs are off')
            return inner.request({ method, params } as never)
          },
        },
        { retryCount: 0 },
      ),
    })
    await expect(recordedTasksOf(refusing, contract, jobId, options)).rejects.toThrowError(
      /Reading recorded results/,
    )
  })

  it('records results, reads them back from the events, and pays the sender its fees', async () => {
    const { client, wallet } = clients()
    const relayer = clients(DEV_PRIVATE_KEYS[2]!).wallet
    const contract = await deployEscrow(wallet, client)
    const fee = parseEther('0.0001')
    const { jobId } = await createJob(
      wallet,
      client,
      contract,
      await specFor(client, coordinator.address, { taskCount: 300, feePerTask: fee }),
    )
    const domain = { chainId: anvil.chainId, contract }
    const hash = (t: number) => keccak256(toHex(`result ${t}`))
    const first = [0, 1, 299, 256].map((taskIndex) => ({ taskIndex, resultHash: hash(taskIndex) }))
    const r1 = await recordResults(
      relayer,
      client,
      contract,
      jobId,
      first,
      await signRecord(coordinator, domain, jobId, packRecords(first)),
    )
    expect(r1.recorded).toEqual(first)
    // Two of these were recorded already (with another hash here: the first record stands).
    const second = [
      { taskIndex: 1, resultHash: hash(999) },
      { taskIndex: 2, resultHash: hash(2) },
      { taskIndex: 299, resultHash: hash(299) },
    ]
    const r2 = await recordResults(
      wallet,
      client,
      contract,
      jobId,
      second,
      await signRecord(coordinator, domain, jobId, packRecords(second)),
    )
    expect(r2.recorded).toEqual([{ taskIndex: 2, resultHash: hash(2) }])
    const onChain = await recordedTasksOf(client, contract, jobId)
    expect([...onChain.entries()].sort((a, b) => a[0] - b[0])).toEqual(
      [0, 1, 2, 256, 299].map((t) => [t, hash(t)]),
    )
    expect(await isRecorded(client, contract, jobId, 256)).toBe(true)
    expect(await isRecorded(client, contract, jobId, 3)).toBe(false)
    expect(await creditedBalance(client, contract, relayer.account.address)).toBe(4n * fee)
    expect(await readJob(client, contract, jobId)).toMatchObject({
      recordedCount: 5,
      feesLeft: 295n * fee,
    })
    // Signed for other records than those sent: refused.
    const sig = await signRecord(coordinator, domain, jobId, packRecords(second))
    await expect(
      recordResults(wallet, client, contract, jobId, second.slice(1), sig),
    ).rejects.toThrowError(/record reverted: NotCoordinator\(/)

    // Signed with the relayer named as recorder: whoever sends it (here another account, as a
    // copier of the relayer's transaction would), the fee is the relayer's.
    const third = [{ taskIndex: 3, resultHash: hash(3) }]
    const named = await signRecord(
      coordinator,
      domain,
      jobId,
      packRecords(third),
      relayer.account.address,
    )
    // Sent without naming the recorder it was signed for: another message, refused.
    await expect(recordResults(wallet, client, contract, jobId, third, named)).rejects.toThrowError(
      /record reverted: NotCoordinator\(/,
    )
    const senderBefore = await creditedBalance(client, contract, wallet.account.address)
    const r3 = await recordResults(
      wallet,
      client,
      contract,
      jobId,
      third,
      named,
      relayer.account.address,
    )
    expect(r3.recorded).toEqual(third)
    expect(await creditedBalance(client, contract, relayer.account.address)).toBe(5n * fee)
    expect(await creditedBalance(client, contract, wallet.account.address)).toBe(senderBefore)
  })

  it('refunds only after the claim window, and workers redeem until it closes', async () => {
    const { client, wallet } = clients()
    const contract = await deployEscrow(wallet, client)
    expect(
      await client.readContract({
        address: contract,
        abi: jobEscrowAbi,
        functionName: 'CLAIM_WINDOW',
      }),
    ).toBe(BigInt(CLAIM_WINDOW_SECONDS))
    const spec = await specFor(client, coordinator.address)
    const { jobId } = await createJob(wallet, client, contract, spec)
    const closesAt = spec.deadline + CLAIM_WINDOW_SECONDS
    await passTime(3600 + 60) // past the deadline, inside the window
    await expect(refund(wallet, client, contract, jobId)).rejects.toThrowError(
      new RegExp(`refund reverted: ClaimWindowOpen\\(${jobId}, ${closesAt}\\)`),
    )
    const w = privateKeyToAccount(generatePrivateKey()).address
    const claim = { jobId, worker: w, results: 4 }
    const signature = await signClaim(coordinator, { chainId: anvil.chainId, contract }, claim)
    expect((await redeemClaims(wallet, client, contract, [{ ...claim, signature }])).paid).toBe(
      parseEther('0.004'),
    )
    await passTime(CLAIM_WINDOW_SECONDS)
    const late = { ...claim, results: 5 }
    await expect(
      redeemClaims(wallet, client, contract, [
        {
          ...late,
          signature: await signClaim(coordinator, { chainId: anvil.chainId, contract }, late),
        },
      ]),
    ).rejects.toThrowError(/redeem reverted: ClaimWindowClosed\(/)
    expect(await refund(wallet, client, contract, jobId)).toMatchObject({
      amount: parseEther('0.005'),
      credited: false,
    })
    expect(await readJob(client, contract, jobId)).toMatchObject({ refunded: true, remaining: 0n })
  })

  it("names the escrow's errors that surface through MeshworkRequests", async () => {
    const { client, wallet } = clients()
    const contract = await deployEscrow(wallet, client)
    const requests = await deployRequests(wallet, client, contract, coordinator.address)
    const consumer = await deployExampleConsumer(
      wallet,
      client,
      requests,
      `0x${'01'.repeat(32)}`,
      parsePolicy('exact'),
    )
    const hash = await wallet.writeContract({
      address: consumer,
      abi: exampleConsumerAbi,
      functionName: 'ask',
      args: ['0xa16178'],
      value: parseEther('0.002'),
      chain: wallet.chain,
    })
    await client.waitForTransactionReceipt({ hash })
    await expect(refundRequest(wallet, client, requests, 0n)).rejects.toThrowError(
      /refund reverted: ClaimWindowOpen\(/,
    )
  })

  it('reports reverts by custom error name', async () => {
    const { client, wallet } = clients()
    const contract = await deployEscrow(wallet, client)
    await expect(
      withdraw(wallet, client, contract, privateKeyToAccount(generatePrivateKey()).address),
    ).rejects.toThrowError(/withdraw reverted: NothingToWithdraw\(0x/)
  })

  it('tells which of many ids exist, in one call per 256 ids and without reading logs', async () => {
    const { client, contract, jobId } = await deployedJob(coordinator.address)
    const made = Array.from({ length: 300 }, (_, i) => keccak256(toHex(`made up ${i}`)))
    // The real id past the first batch, in upper case: found, reported lowercase.
    made.splice(280, 0, jobId.toUpperCase().replace('0X', '0x') as Hex)
    let calls = 0
    const counted = {
      ...client,
      readContract: ((args: Parameters<typeof client.readContract>[0]) => {
        calls++
        return client.readContract(args)
      }) as typeof client.readContract,
    } as typeof client
    expect(await createdJobIds(counted, contract, made)).toEqual(new Set([jobId.toLowerCase()]))
    expect(calls).toBe(2)
    expect(await createdJobIds(client, contract, [])).toEqual(new Set())
  })

  it('returns undefined for an unknown job', async () => {
    const { client, wallet } = clients()
    const contract = await deployEscrow(wallet, client)
    expect(await readJob(client, contract, `0x${'ff'.repeat(32)}` as Hex)).toBeUndefined()
  })
})

import { createWalletClient, http, parseEther } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { type Anvil, startAnvil } from '../../scripts/lib/anvil'
import { freePort } from '../../scripts/lib/procs'
import {
  certificateFor,
  type JobSpec,
  parsePolicy,
  recoverPayoutSigner,
  signPayout,
  signResult,
  tally,
} from '../proofs'
import { chainFor, publicClientFor } from './config'
import { DEV_PRIVATE_KEYS } from './dev'
import {
  createJob,
  creditedBalance,
  deployEscrow,
  payoutOf,
  readJob,
  setPayouts,
  settle,
  withdraw,
} from './escrow'
import { settledTasksOf } from './packed'
import { createSettlementBatcher } from './settlement'

// Real anvil, real contract: the bindings are only as good as the calls they make.
let anvil: Anvil
beforeAll(async () => {
  anvil = await startAnvil({ port: await freePort() })
})
afterAll(async () => {
  await anvil?.stop()
})

function clients() {
  const cfg = { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }
  const client = publicClientFor(cfg)
  const wallet = createWalletClient({
    account: privateKeyToAccount(DEV_PRIVATE_KEYS[0]!),
    chain: chainFor(cfg),
    transport: http(anvil.rpcUrl),
  })
  return { client, wallet }
}

describe('JobEscrow bindings on anvil', () => {
  it('create → read → settle → withdraw', async () => {
    const { client, wallet } = clients()
    const contract = await deployEscrow(wallet, client)
    const now = Number((await client.getBlock()).timestamp)
    const spec: JobSpec = {
      modelHash: `0x${'01'.repeat(32)}`,
      inputsRoot: `0x${'02'.repeat(32)}`,
      taskCount: 3,
      replicas: 3,
      quorum: 2,
      policy: parsePolicy('round:4'),
      rewardPerResult: parseEther('0.001'),
      deadline: now + 3600,
    }
    const { jobId, escrow } = await createJob(wallet, client, contract, spec)
    expect(escrow).toBe(parseEther('0.009'))
    const job = await readJob(client, contract, jobId)
    expect(job).toMatchObject({
      taskCount: 3,
      replicas: 3,
      quorum: 2,
      policy: { kind: 'round', digits: 4 },
      remaining: escrow,
    })

    const workers = [0, 1, 2].map(() => privateKeyToAccount(generatePrivateKey()))
    const domain = { chainId: anvil.chainId, contract }
    const certs = []
    for (let t = 0; t < 3; t++) {
      const resultHash = `0x${String(t).padStart(64, '0')}` as const
      const signed = await Promise.all(
        workers.map(async (w) => ({
          worker: w.address,
          resultHash,
          signature: await signResult(w, domain, { jobId, taskIndex: t, resultHash }),
        })),
      )
      const v = tally(signed, { quorum: 2, replicas: 3, maxResults: 3 })
      if (v.status !== 'accepted') throw new Error('no quorum')
      certs.push(certificateFor(jobId, t, v))
    }
    const settled: number[] = []
    const batcher = createSettlementBatcher({
      submit: (c) => settle(wallet, client, contract, c),
      maxBatch: 2,
      onSettled: (_c, r) => settled.push(r.settled),
    })
    for (const c of certs) batcher.add(c)
    await batcher.flush()
    expect(settled).toEqual([2, 1])
    expect((await readJob(client, contract, jobId))?.settledCount).toBe(3)
    // The chain's record of each task: the accepted result and who signed it, as certified.
    const onChain = (await settledTasksOf(client, contract, jobId)).sort(
      (a, b) => a.taskIndex - b.taskIndex,
    )
    expect(onChain.map((t) => [t.taskIndex, t.resultHash, t.signers])).toEqual(
      certs.map((c) => [c.taskIndex, c.resultHash, c.signers]),
    )
    expect(await creditedBalance(client, contract, workers[0]!.address)).toBe(parseEther('0.003'))

    const before = await client.getBalance({ address: workers[1]!.address })
    const { amount } = await withdraw(wallet, client, contract, workers[1]!.address)
    expect(amount).toBe(parseEther('0.003'))
    expect(await client.getBalance({ address: workers[1]!.address })).toBe(before + amount)

    // Worker 2 sends its pay elsewhere: anyone submits its signed authorisation.
    const treasury = privateKeyToAccount(generatePrivateKey()).address
    const w2 = workers[2]!
    const auth = {
      worker: w2.address,
      payout: treasury,
      nonce: 7n,
      signature: await signPayout(w2, domain, treasury, 7n),
    }
    expect(await recoverPayoutSigner(domain, auth, auth.signature)).toBe(w2.address)
    expect(await payoutOf(client, contract, w2.address)).toEqual({ payout: undefined, nonce: 0n })
    expect((await setPayouts(wallet, client, contract, [auth])).set).toBe(1)
    expect((await setPayouts(wallet, client, contract, [auth])).set).toBe(0) // already recorded
    expect(await payoutOf(client, contract, w2.address)).toEqual({ payout: treasury, nonce: 7n })
    const paid = await withdraw(wallet, client, contract, w2.address)
    expect(paid.to).toBe(treasury)
    expect(await client.getBalance({ address: treasury })).toBe(parseEther('0.003'))
    // An authorisation altered on the way is refused with the contract's reason.
    const forged = { ...auth, payout: wallet.account.address, nonce: 8n }
    await expect(setPayouts(wallet, client, contract, [forged])).rejects.toThrowError(
      /setPayouts reverted: BadPayoutSignature\(/,
    )
  })

  it('reports reverts by custom error name', async () => {
    const { client, wallet } = clients()
    const contract = await deployEscrow(wallet, client)
    await expect(
      withdraw(wallet, client, contract, privateKeyToAccount(generatePrivateKey()).address),
    ).rejects.toThrowError(/withdraw reverted: NothingToWithdraw\(0x/)
  })

  it('returns undefined for an unknown job', async () => {
    const { client, wallet } = clients()
    const contract = await deployEscrow(wallet, client)
    expect(await readJob(client, contract, `0x${'ff'.repeat(32)}`)).toBeUndefined()
  })
})

/**
 * Settlement gas per task: the requester settles batches of quorum certificates (what the
 * coordinator sends) on anvil, at several batch sizes and quorums. Each configuration runs on a
 * fresh job after one warm-up settlement, so the workers' accounts already hold pay (the steady
 * state of a busy network: crediting a worker the first time costs an extra 15,000 gas or so).
 */
import { keccak256, parseEther, toHex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import {
  createJob,
  DEV_PRIVATE_KEYS,
  deployEscrow,
  publicClientFor,
  settle,
} from '../../../lib/chain'
import { type Certificate, parsePolicy, signResult, sortBySigner } from '../../../lib/proofs'
import { walletFor } from '../../../lib/sdk/node'
import { startAnvil } from '../anvil'
import { freePort } from '../procs'

export interface GasRow {
  quorum: number
  batch: number
  /** Gas of the settle transaction, divided by the tasks it settled. */
  gasPerTask: number
  gasPerTx: number
}

export async function settlementGas(opts: {
  batches: number[]
  quorums: number[]
}): Promise<GasRow[]> {
  const anvil = await startAnvil({ port: await freePort() })
  try {
    const cfg = { rpcUrl: anvil.rpcUrl, chainId: anvil.chainId }
    const client = publicClientFor(cfg)
    const requester = walletFor(DEV_PRIVATE_KEYS[1]!, cfg)
    const contract = await deployEscrow(requester, client)
    // Workers only sign; they need no ether.
    const workers = Array.from({ length: Math.max(...opts.quorums) }, () =>
      privateKeyToAccount(generatePrivateKey()),
    )
    const rows: GasRow[] = []
    for (const quorum of opts.quorums) {
      for (const batch of opts.batches) {
        const now = Number((await client.getBlock()).timestamp)
        const taskCount = batch + 1
        const { jobId } = await createJob(requester, client, contract, {
          modelHash: `0x${'11'.repeat(32)}`,
          inputsRoot: `0x${'22'.repeat(32)}`,
          taskCount,
          replicas: quorum,
          quorum,
          policy: parsePolicy('exact'),
          rewardPerResult: parseEther('0.0001'),
          deadline: now + 3600,
        })
        const certs: Certificate[] = []
        for (let taskIndex = 0; taskIndex < taskCount; taskIndex++) {
          // A real result hash: 32 bytes with hardly a zero byte (calldata costs 16 gas per
          // non-zero byte, 4 per zero byte).
          const resultHash = keccak256(toHex(`result ${jobId} ${taskIndex}`))
          const signed = sortBySigner(
            await Promise.all(
              workers.slice(0, quorum).map(async (w) => ({
                worker: w.address,
                signature: await signResult(
                  w,
                  { chainId: anvil.chainId, contract },
                  { jobId, taskIndex, resultHash },
                ),
              })),
            ),
          )
          certs.push({
            jobId,
            taskIndex,
            resultHash,
            signatures: signed.map((s) => s.signature),
            signers: signed.map((s) => s.worker),
          })
        }
        await settle(requester, client, contract, certs.slice(0, 1)) // warm-up
        const r = await settle(requester, client, contract, certs.slice(1))
        if (r.settled !== batch) throw new Error(`settled ${r.settled} of ${batch}`)
        rows.push({
          quorum,
          batch,
          gasPerTx: Number(r.gasUsed),
          gasPerTask: Math.round(Number(r.gasUsed) / batch),
        })
      }
    }
    return rows
  } finally {
    await anvil.stop()
  }
}

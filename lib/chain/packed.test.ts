import {
  type Address,
  compactSignatureToSignature,
  concatHex,
  encodeAbiParameters,
  encodeEventTopics,
  getAddress,
  type Hex,
  keccak256,
  type Log,
  numberToHex,
  recoverAddress,
  serializeSignature,
  sliceHex,
  toHex,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import type { Certificate } from '../proofs'
import { jobEscrowAbi } from './generated'
import { compactSignature, packCertificates, settledFromLogs, unpackSettled } from './packed'

const account = privateKeyToAccount(generatePrivateKey())
const digest = keccak256(toHex('a result'))
const JOB_A = `0x${'aa'.repeat(32)}` as Hex
const JOB_B = `0x${'bb'.repeat(32)}` as Hex
const addr = (n: number) => `0x${n.toString(16).padStart(40, '0')}` as Address

const cert = (jobId: Hex, taskIndex: number, signers: Address[], sig: Hex): Certificate => ({
  jobId,
  taskIndex,
  resultHash: keccak256(toHex(taskIndex)),
  signatures: signers.map(() => sig),
  signers,
})

describe('compactSignature', () => {
  it('is 64 bytes and recovers the same signer as the 65-byte form', async () => {
    const sig = await account.sign({ hash: digest })
    const compact = compactSignature(sig)
    expect(compact.length).toBe(2 + 128)
    const back = compactSignatureToSignature({
      r: sliceHex(compact, 0, 32),
      yParityAndS: sliceHex(compact, 32, 64),
    })
    expect(await recoverAddress({ hash: digest, signature: serializeSignature(back) })).toBe(
      account.address,
    )
  })

  it('refuses a malleable (high s) or wrongly sized signature', async () => {
    const sig = await account.sign({ hash: digest })
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const s = BigInt(sliceHex(sig, 32, 64))
    const v = Number(BigInt(sliceHex(sig, 64, 65)))
    const twin = concatHex([
      sliceHex(sig, 0, 32),
      numberToHex(n - s, { size: 32 }),
      numberToHex(v === 27 ? 28 : 27, { size: 1 }),
    ])
    expect(() => compactSignature(twin)).toThrow(/high s/)
    expect(() => compactSignature(sliceHex(sig, 0, 64))).toThrow(/65 bytes; got 64/)
  })
})

describe('packCertificates', () => {
  it('lays out one record per certificate, grouped by job in first-seen order, in task order', async () => {
    const sig = await account.sign({ hash: digest })
    const entries = packCertificates([
      cert(JOB_B, 4, [addr(2), addr(3)], sig),
      cert(JOB_A, 70000, [addr(1)], sig),
      cert(JOB_B, 3, [addr(1), addr(2)], sig),
    ])
    expect(entries.map((e) => e.jobId)).toEqual([JOB_B, JOB_A])
    const b = entries[0]!.tasks
    // 4 + 32 + 1 + 2 × 64 bytes per record, two records.
    expect((b.length - 2) / 2).toBe(2 * 165)
    expect(sliceHex(b, 0, 4)).toBe('0x00000003')
    expect(sliceHex(b, 4, 36)).toBe(keccak256(toHex(3)))
    expect(sliceHex(b, 36, 37)).toBe('0x02')
    expect(sliceHex(b, 37, 101)).toBe(compactSignature(sig))
    expect(sliceHex(b, 165, 169)).toBe('0x00000004')
    expect(sliceHex(entries[1]!.tasks, 0, 4)).toBe(numberToHex(70000, { size: 4 }))
  })

  it('starts another entry for a job before it would exceed the signer limit', async () => {
    const sig = await account.sign({ hash: digest })
    const entries = packCertificates(
      [
        cert(JOB_A, 0, [addr(1), addr(2)], sig),
        cert(JOB_A, 1, [addr(2), addr(3)], sig), // 3 signers: still fits
        cert(JOB_A, 2, [addr(3), addr(4)], sig), // a 4th would not
        cert(JOB_B, 0, [addr(5), addr(6)], sig),
      ],
      3,
    )
    expect(entries.map((e) => [e.jobId, (e.tasks.length - 2) / 2 / 165])).toEqual([
      [JOB_A, 2],
      [JOB_A, 1],
      [JOB_B, 1],
    ])
    expect(() => packCertificates([cert(JOB_A, 0, [addr(1), addr(2)], sig)], 1)).toThrow(
      /at most 1 fit/,
    )
  })
})

describe('settledFromLogs', () => {
  it('reads TasksSettled of the given escrow only, not the same event from another contract', () => {
    const escrow = getAddress(addr(0xe5))
    const other = getAddress(addr(0x0b))
    const h = keccak256(toHex('r'))
    const log = (address: Address, taskIndex: number): Log => ({
      address,
      topics: encodeEventTopics({
        abi: jobEscrowAbi,
        eventName: 'TasksSettled',
        args: { jobId: JOB_A },
      }) as [Hex, ...Hex[]],
      data: encodeAbiParameters(
        [{ type: 'address[]' }, { type: 'bytes' }],
        [[addr(7)], concatHex([numberToHex(taskIndex, { size: 4 }), h, '0x01', '0x00'])],
      ),
      blockNumber: 1n,
      blockHash: JOB_B,
      transactionHash: JOB_B,
      transactionIndex: 0,
      logIndex: taskIndex,
      removed: false,
    })
    const settled = settledFromLogs([log(escrow, 4), log(other, 5)], escrow)
    expect(settled.map((t) => [t.jobId, t.taskIndex, t.resultHash, t.signers])).toEqual([
      [JOB_A, 4, h, [getAddress(addr(7))]],
    ])
  })
})

describe('unpackSettled', () => {
  it('reads the records of a TasksSettled event', () => {
    const signers = [getAddress(addr(0xabc)), getAddress(addr(0xdef))]
    const h = keccak256(toHex('r'))
    const tasks = concatHex([
      numberToHex(9, { size: 4 }),
      h,
      '0x02',
      '0x01',
      '0x00',
      numberToHex(300, { size: 4 }),
      h,
      '0x01',
      '0x01',
    ])
    expect(unpackSettled(signers, tasks)).toEqual([
      { taskIndex: 9, resultHash: h, signers: [signers[1], signers[0]] },
      { taskIndex: 300, resultHash: h, signers: [signers[1]] },
    ])
  })
})

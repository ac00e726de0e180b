import {
  concatHex,
  encodeAbiParameters,
  type Hex,
  hashTypedData,
  keccak256,
  parseAbiParameters,
  recoverAddress,
  sliceHex,
  toHex,
  zeroAddress,
} from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { InvalidInputError } from '../errors'
import {
  claimDigest,
  packRecords,
  recordDigest,
  recoverClaimSigner,
  recoverRecordSigner,
  recoverResultSigner,
  resultDigest,
  signClaim,
  signRecord,
  signResult,
  unpackRecords,
} from './eip712'

const domain = { chainId: 31337, contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' } as const
const message = {
  jobId: `0x${'11'.repeat(32)}`,
  taskIndex: 7,
  resultHash: `0x${'22'.repeat(32)}`,
} as const

describe('Result signatures', () => {
  const account = privateKeyToAccount(generatePrivateKey())

  it('recover to the signer', async () => {
    const sig = await signResult(account, domain, message)
    expect(await recoverResultSigner(domain, message, sig)).toBe(account.address)
  })

  it('do not carry over to another chain, contract, task or result', async () => {
    const sig = await signResult(account, domain, message)
    const others = [
      [{ ...domain, chainId: 1 }, message],
      [{ ...domain, contract: '0x0000000000000000000000000000000000000001' }, message],
      [domain, { ...message, taskIndex: 8 }],
      [domain, { ...message, resultHash: `0x${'33'.repeat(32)}` }],
    ] as const
    for (const [d, m] of others) {
      expect(await recoverResultSigner(d, m, sig)).not.toBe(account.address)
    }
  })

  it('give undefined for garbage signatures instead of throwing', async () => {
    expect(await recoverResultSigner(domain, message, '0x1234')).toBeUndefined()
  })

  it('hash to a digest that changes with the domain', () => {
    expect(resultDigest(domain, message)).not.toBe(resultDigest({ ...domain, chainId: 5 }, message))
  })

  it('hash as the contract hashes them, and as viem hashTypedData does, for any message and domain', () => {
    for (let i = 0; i < 20; i++) {
      const m = {
        jobId: keccak256(toHex(`job ${i}`)),
        taskIndex: i === 0 ? 0xffffffff : i * 7919,
        resultHash: keccak256(toHex(`result ${i}`)),
      }
      const d = {
        chainId: 1 + i * 1000,
        contract: privateKeyToAccount(generatePrivateKey()).address,
      }
      const digest = resultDigest(d, m)
      expect(digest).toBe(
        hashTypedData({
          domain: {
            name: 'Meshwork',
            version: '1',
            chainId: d.chainId,
            verifyingContract: d.contract,
          },
          types: {
            Result: [
              { name: 'jobId', type: 'bytes32' },
              { name: 'taskIndex', type: 'uint32' },
              { name: 'resultHash', type: 'bytes32' },
            ],
          },
          primaryType: 'Result',
          message: m,
        }),
      )
    }
    expect(resultDigest(domain, message)).toBe(
      contractDigest('Result(bytes32 jobId,uint32 taskIndex,bytes32 resultHash)', [
        ['bytes32', message.jobId],
        ['uint32', message.taskIndex],
        ['bytes32', message.resultHash],
      ]),
    )
  })

  it("recover no signer from a signature the escrow's slash would refuse: a high s, or v 0 or 1", async () => {
    const sig = await signResult(account, domain, message)
    const digest = resultDigest(domain, message)
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const v = Number.parseInt(sig.slice(130), 16)
    // The same signature, mirrored: (r, n − s) with the other v is valid ECDSA for the same key.
    const mirrored = (x: Hex) =>
      concatHex([
        sliceHex(x, 0, 32),
        toHex(n - BigInt(sliceHex(x, 32, 64)), { size: 32 }),
        toHex(Number.parseInt(x.slice(130), 16) === 27 ? 28 : 27, { size: 1 }),
      ])
    const highS = mirrored(sig)
    const zeroV = concatHex([sliceHex(sig, 0, 64), toHex(v - 27, { size: 1 })])
    for (const bad of [highS, zeroV]) {
      expect(await recoverAddress({ hash: digest, signature: bad })).toBe(account.address)
      expect(await recoverResultSigner(domain, message, bad)).toBeUndefined()
    }
    expect(await recoverResultSigner(domain, message, sig)).toBe(account.address)
    // A coordinator's claim the escrow's redeem would refuse is refused too: worth nothing.
    const claim = { jobId: message.jobId, worker: account.address, results: 3 }
    const good = await signClaim(account, domain, claim)
    expect(await recoverClaimSigner(domain, claim, mirrored(good))).toBeUndefined()
    expect(await recoverClaimSigner(domain, claim, good)).toBe(account.address)
  })

  it('refuse a malformed message: no digest, no signer', async () => {
    const sig = await signResult(account, domain, message)
    for (const bad of [
      { ...message, jobId: '0x1234' },
      { ...message, jobId: `0x${'1'.repeat(63)}` },
      { ...message, resultHash: `0x${'zz'.repeat(32)}` },
      { ...message, taskIndex: 2 ** 32 },
      { ...message, taskIndex: -1 },
      { ...message, taskIndex: 1.5 },
    ] as const) {
      expect(() => resultDigest(domain, bad as never)).toThrow(InvalidInputError)
      expect(await recoverResultSigner(domain, bad as never, sig)).toBeUndefined()
    }
  })
})

// The contract's own construction, spelled out: keccak256(0x1901 ‖ domainSeparator ‖ structHash)
// with the type strings exactly as JobEscrow.sol declares them. A mismatch here means signatures
// made in TypeScript recover to some other address on chain.
function contractDigest(typeString: string, fields: readonly [string, unknown][]): Hex {
  const domainSeparator = keccak256(
    encodeAbiParameters(parseAbiParameters('bytes32, bytes32, bytes32, uint256, address'), [
      keccak256(
        toHex('EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)'),
      ),
      keccak256(toHex('Meshwork')),
      keccak256(toHex('1')),
      BigInt(domain.chainId),
      domain.contract,
    ]),
  )
  const structHash = keccak256(
    encodeAbiParameters(
      [{ type: 'bytes32' }, ...fields.map(([type]) => ({ type }))],
      [keccak256(toHex(typeString)), ...fields.map(([, v]) => v)],
    ),
  )
  return keccak256(concatHex(['0x1901', domainSeparator, structHash]))
}

describe('Claim signatures', () => {
  const coordinator = privateKeyToAccount(generatePrivateKey())
  const claim = {
    jobId: `0x${'11'.repeat(32)}`,
    worker: '0x70997970C51812dc3A010C7d01b50e0d17dc79C8',
    results: 42,
  } as const

  it('hash as the contract hashes them, and as viem hashTypedData does', () => {
    const d = claimDigest(domain, claim)
    expect(d).toBe(
      contractDigest('Claim(bytes32 jobId,address worker,uint32 results)', [
        ['bytes32', claim.jobId],
        ['address', claim.worker],
        ['uint32', claim.results],
      ]),
    )
    expect(d).toBe(
      hashTypedData({
        domain: {
          name: 'Meshwork',
          version: '1',
          chainId: domain.chainId,
          verifyingContract: domain.contract,
        },
        types: {
          Claim: [
            { name: 'jobId', type: 'bytes32' },
            { name: 'worker', type: 'address' },
            { name: 'results', type: 'uint32' },
          ],
        },
        primaryType: 'Claim',
        message: claim,
      }),
    )
  })

  it('recover to the coordinator', async () => {
    const sig = await signClaim(coordinator, domain, claim)
    expect(await recoverClaimSigner(domain, claim, sig)).toBe(coordinator.address)
    expect(await recoverAddress({ hash: claimDigest(domain, claim), signature: sig })).toBe(
      coordinator.address,
    )
  })

  it('do not carry over to another chain, contract, job, worker or count', async () => {
    const sig = await signClaim(coordinator, domain, claim)
    const others = [
      [{ ...domain, chainId: 1 }, claim],
      [{ ...domain, contract: '0x0000000000000000000000000000000000000001' }, claim],
      [domain, { ...claim, jobId: `0x${'12'.repeat(32)}` }],
      [domain, { ...claim, worker: coordinator.address }],
      [domain, { ...claim, results: 43 }],
    ] as const
    for (const [d, c] of others) {
      expect(await recoverClaimSigner(d, c, sig)).not.toBe(coordinator.address)
    }
    expect(await recoverClaimSigner(domain, claim, '0x1234')).toBeUndefined()
  })
})

describe('Record signatures and packed records', () => {
  const coordinator = privateKeyToAccount(generatePrivateKey())
  const jobId = `0x${'aa'.repeat(32)}` as const
  const entries = [
    { taskIndex: 0, resultHash: `0x${'01'.repeat(32)}` },
    { taskIndex: 258, resultHash: `0x${'02'.repeat(32)}` },
    { taskIndex: 0xffffffff, resultHash: `0x${'03'.repeat(32)}` },
  ] as const

  it('pack 36 bytes per record, task index big-endian, and unpack to the same', () => {
    const tasks = packRecords(entries)
    expect(tasks).toBe(
      `0x00000000${'01'.repeat(32)}00000102${'02'.repeat(32)}ffffffff${'03'.repeat(32)}`,
    )
    expect(unpackRecords(tasks)).toEqual(entries)
    expect(unpackRecords('0x')).toEqual([])
  })

  it('refuse bad lengths, indices and hashes with InvalidInputError', () => {
    const tasks = packRecords(entries)
    expect(() => unpackRecords(concatHex([tasks, '0x00']))).toThrowError(InvalidInputError)
    expect(() => unpackRecords(sliceHex(tasks, 0, 35))).toThrowError(InvalidInputError)
    expect(() => packRecords([{ taskIndex: -1, resultHash: entries[0].resultHash }])).toThrowError(
      InvalidInputError,
    )
    expect(() =>
      packRecords([{ taskIndex: 2 ** 32, resultHash: entries[0].resultHash }]),
    ).toThrowError(InvalidInputError)
    expect(() => packRecords([{ taskIndex: 1, resultHash: '0x1234' }])).toThrowError(
      InvalidInputError,
    )
  })

  it('hash as the contract hashes them, and recover to the coordinator', async () => {
    const tasks = packRecords(entries)
    const recorder = privateKeyToAccount(generatePrivateKey()).address
    for (const r of [zeroAddress, recorder]) {
      expect(recordDigest(domain, jobId, tasks, r)).toBe(
        contractDigest('Record(bytes32 jobId,bytes32 tasksHash,address recorder)', [
          ['bytes32', jobId],
          ['bytes32', keccak256(tasks)],
          ['address', r],
        ]),
      )
    }
    // No recorder named: the zero address, "whoever sends it".
    expect(recordDigest(domain, jobId, tasks)).toBe(recordDigest(domain, jobId, tasks, zeroAddress))
    const sig = await signRecord(coordinator, domain, jobId, tasks)
    expect(await recoverRecordSigner(domain, jobId, tasks, sig)).toBe(coordinator.address)
    expect(await recoverRecordSigner(domain, jobId, tasks, sig, zeroAddress)).toBe(
      coordinator.address,
    )
    // Any other records, job or chain: some other address.
    const fewer = packRecords(entries.slice(0, 2))
    expect(await recoverRecordSigner(domain, jobId, fewer, sig)).not.toBe(coordinator.address)
    expect(await recoverRecordSigner(domain, `0x${'ab'.repeat(32)}`, tasks, sig)).not.toBe(
      coordinator.address,
    )
    expect(await recoverRecordSigner({ ...domain, chainId: 1 }, jobId, tasks, sig)).not.toBe(
      coordinator.address,
    )
    expect(await recoverRecordSigner(domain, jobId, tasks, '0x00')).toBeUndefined()
  })

  // The fees' recipient is part of what the coordinator signs, so a copier of the transaction
  // cannot point them at itself.
  it('bind the recorder: a signature for one recorder recovers to someone else for another', async () => {
    const tasks = packRecords(entries)
    const relayer = privateKeyToAccount(generatePrivateKey()).address
    const copier = privateKeyToAccount(generatePrivateKey()).address
    const sig = await signRecord(coordinator, domain, jobId, tasks, relayer)
    expect(await recoverRecordSigner(domain, jobId, tasks, sig, relayer)).toBe(coordinator.address)
    expect(await recoverRecordSigner(domain, jobId, tasks, sig, copier)).not.toBe(
      coordinator.address,
    )
    expect(await recoverRecordSigner(domain, jobId, tasks, sig)).not.toBe(coordinator.address)
  })
})

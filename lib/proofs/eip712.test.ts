import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import { recoverResultSigner, resultDigest, signResult } from './eip712'

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
})

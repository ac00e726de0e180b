import { concatHex, keccak256, sliceHex, toHex } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, describe, expect, it } from 'vitest'
import { recoverStrict } from './ecdsa'
import { startRecoveryPool } from './recover-pool-node'

const pool = startRecoveryPool(2)
afterAll(() => pool.close())

describe('startRecoveryPool', () => {
  it('recovers on its threads what recoverStrict recovers, many at once, each to its own signer', async () => {
    const accounts = Array.from({ length: 4 }, () => privateKeyToAccount(generatePrivateKey()))
    const items = await Promise.all(
      Array.from({ length: 40 }, async (_, i) => {
        const digest = keccak256(toHex(`digest ${i}`))
        const account = accounts[i % accounts.length]!
        return { digest, account, signature: await account.sign({ hash: digest }) }
      }),
    )
    const signers = await Promise.all(items.map((x) => pool.recover(x.digest, x.signature)))
    expect(signers).toEqual(items.map((x) => x.account.address))
    expect(signers).toEqual(items.map((x) => recoverStrict(x.digest, x.signature)))
  })

  it('gives undefined for what the chain would refuse, and goes on', async () => {
    const account = privateKeyToAccount(generatePrivateKey())
    const digest = keccak256(toHex('x'))
    const good = await account.sign({ hash: digest })
    const n = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
    const highS = concatHex([
      sliceHex(good, 0, 32),
      toHex(n - BigInt(sliceHex(good, 32, 64)), { size: 32 }),
      toHex(Number.parseInt(good.slice(130), 16) === 27 ? 28 : 27, { size: 1 }),
    ])
    const results = await Promise.all([
      pool.recover(digest, highS),
      pool.recover(digest, '0x1234'),
      pool.recover(digest, good),
    ])
    expect(results).toEqual([undefined, undefined, account.address])
  })

  it('refuses work once closed', async () => {
    const other = startRecoveryPool(1)
    await other.close()
    await expect(other.recover(keccak256('0x'), '0x')).rejects.toThrow(/closed/)
  })
})

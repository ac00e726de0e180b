import type { Address } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { describe, expect, it } from 'vitest'
import type { PayoutAuthorisation } from '../chain'
import { createLogger } from '../env/log'
import { signPayout } from '../proofs'
import { createPayoutRelay, type PayoutPort } from './payouts'

const domain = { chainId: 31337, contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3' } as const
const treasury = privateKeyToAccount(generatePrivateKey()).address

/** A chain in memory: what was submitted, and a switch to make submissions fail. */
function fakePort() {
  const onChain = new Map<string, { payout: Address; nonce: bigint }>()
  const submitted: PayoutAuthorisation[][] = []
  let failing = false
  const port: PayoutPort = {
    current: async (w) => onChain.get(w.toLowerCase()) ?? { payout: undefined, nonce: 0n },
    submit: async (auths) => {
      if (failing) throw new Error('rpc down')
      submitted.push([...auths])
      for (const a of auths) onChain.set(a.worker.toLowerCase(), a)
    },
  }
  return { port, onChain, submitted, fail: (f: boolean) => (failing = f) }
}

async function wireAuth(nonce = 5n, payout: Address = treasury) {
  const account = privateKeyToAccount(generatePrivateKey())
  const signature = await signPayout(account, domain, payout, nonce)
  return { account, worker: account.address, wire: { payout, nonce: nonce.toString(), signature } }
}

const paid = (...workers: Address[]) => new Set(workers.map((w) => w.toLowerCase()))

describe('payout relay (coordinator side)', () => {
  it('records a paid worker’s authorisation once, and nothing for unpaid workers', async () => {
    const chain = fakePort()
    const relay = createPayoutRelay(chain.port, createLogger('test'))
    const a = await wireAuth()
    const b = await wireAuth()
    await relay.offer(a.worker, a.wire, domain)
    await relay.offer(b.worker, b.wire, domain)
    await relay.flush(paid(a.worker))
    expect(chain.submitted.map((batch) => batch.map((x) => x.worker))).toEqual([[a.worker]])
    expect(chain.onChain.get(a.worker.toLowerCase())).toMatchObject({ payout: treasury, nonce: 5n })
    // The same worker again, even with a newer authorisation: this coordinator paid its gas once.
    const again = await signPayout(a.account, domain, b.worker, 6n)
    await relay.offer(a.worker, { payout: b.worker, nonce: '6', signature: again }, domain)
    await relay.flush(paid(a.worker, b.worker))
    expect(chain.submitted.map((batch) => batch.map((x) => x.worker))).toEqual([
      [a.worker],
      [b.worker],
    ])
    expect(relay.recorded()).toBe(2)
  })

  it('ignores authorisations not signed by the worker that sent them', async () => {
    const chain = fakePort()
    const relay = createPayoutRelay(chain.port, createLogger('test'))
    const a = await wireAuth()
    const other = privateKeyToAccount(generatePrivateKey()).address
    await relay.offer(other, a.wire, domain) // someone else's authorisation
    await relay.offer(a.worker, { ...a.wire, payout: other }, domain) // altered payout
    await relay.offer(a.worker, a.wire, { ...domain, chainId: 1 }) // another chain
    await relay.flush(paid(a.worker, other))
    expect(chain.submitted).toEqual([])
  })

  it('skips workers whose payout is already on chain, by nonce or by address', async () => {
    const chain = fakePort()
    const relay = createPayoutRelay(chain.port, createLogger('test'))
    const a = await wireAuth(5n)
    const b = await wireAuth(9n)
    chain.onChain.set(a.worker.toLowerCase(), { payout: treasury, nonce: 3n }) // same address
    chain.onChain.set(b.worker.toLowerCase(), { payout: a.worker, nonce: 10n }) // newer
    await relay.offer(a.worker, a.wire, domain)
    await relay.offer(b.worker, b.wire, domain)
    await relay.flush(paid(a.worker, b.worker))
    expect(chain.submitted).toEqual([])
  })

  it('retries a failed submission, and gives up after three', async () => {
    const chain = fakePort()
    const relay = createPayoutRelay(chain.port, createLogger('test'))
    const a = await wireAuth()
    await relay.offer(a.worker, a.wire, domain)
    chain.fail(true)
    await relay.flush(paid(a.worker))
    chain.fail(false)
    await relay.flush(paid(a.worker))
    expect(chain.submitted).toHaveLength(1)

    const b = await wireAuth()
    await relay.offer(b.worker, b.wire, domain)
    chain.fail(true)
    for (let i = 0; i < 3; i++) await relay.flush(paid(b.worker))
    chain.fail(false)
    await relay.flush(paid(b.worker))
    expect(chain.submitted).toHaveLength(1)
  })
})

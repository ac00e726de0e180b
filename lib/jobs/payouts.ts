/**
 * Payout authorisations, the coordinator's side. A worker may send, with its work requests, its
 * signed `Payout(worker, payout, nonce)`: where its pay should go (an embedding site's treasury).
 * A browser tab's key holds no ether to send that itself, so the coordinator records it on chain
 * (`setPayouts`) once it has paid the worker: only for workers whose results it accepted, and
 * once per worker, so a worker cannot make a requester pay gas for it again and again.
 */
import type { Address } from 'viem'
import type { PayoutAuthorisation } from '../chain'
import type { Logger } from '../env/log'
import { errorMessage } from '../errors'
import type { WorkRequest } from '../mesh/messages'
import { type ResultDomainParameters, recoverPayoutSigner } from '../proofs'

/** The chain side, bound to the requester's wallet and the escrow contract. */
export interface PayoutPort {
  /** The worker's payout on chain: address (undefined: none) and its authorisation's nonce. */
  current(worker: Address): Promise<{ payout: Address | undefined; nonce: bigint }>
  submit(auths: readonly PayoutAuthorisation[]): Promise<unknown>
}

/** Tries per authorisation before it is dropped (each failure is logged). */
const MAX_ATTEMPTS = 3

export interface PayoutRelay {
  /** Checks a worker's authorisation and keeps it until the worker is paid. Never throws. */
  offer(
    worker: Address,
    auth: NonNullable<WorkRequest['payout']>,
    domain: ResultDomainParameters,
  ): Promise<void>
  /** Records the authorisations of the workers in `paid` (lowercase addresses). Never throws. */
  flush(paid: ReadonlySet<string>): Promise<void>
  /** Authorisations recorded on chain by this coordinator. */
  recorded(): number
}

export function createPayoutRelay(port: PayoutPort, log: Logger): PayoutRelay {
  /** Checked authorisations waiting for their worker's first pay, by lower-case address. */
  const offered = new Map<string, { auth: PayoutAuthorisation; attempts: number }>()
  /** Workers whose authorisation this coordinator has dealt with (recorded, or found on chain). */
  const done = new Set<string>()
  let recorded = 0
  let flushing: Promise<void> | undefined

  const flushOnce = async (paid: ReadonlySet<string>) => {
    const due: PayoutAuthorisation[] = []
    for (const [key, o] of offered) {
      if (!paid.has(key)) continue
      try {
        const onChain = await port.current(o.auth.worker)
        // Already there: the same address (a volunteer restarted re-signs it), or a newer one.
        if (
          onChain.nonce >= o.auth.nonce ||
          onChain.payout?.toLowerCase() === o.auth.payout.toLowerCase()
        ) {
          offered.delete(key)
          done.add(key)
          continue
        }
      } catch (err) {
        log.debug('reading a payout failed', { error: errorMessage(err) })
        continue
      }
      due.push(o.auth)
    }
    if (due.length === 0) return
    try {
      await port.submit(due)
      recorded += due.length
      log.info('payout addresses recorded', { workers: due.length })
      for (const a of due) {
        offered.delete(a.worker.toLowerCase())
        done.add(a.worker.toLowerCase())
      }
    } catch (err) {
      log.warn('recording payout addresses failed', { error: errorMessage(err) })
      for (const a of due) {
        const key = a.worker.toLowerCase()
        const o = offered.get(key)
        if (o && ++o.attempts >= MAX_ATTEMPTS) {
          offered.delete(key)
          done.add(key)
        }
      }
    }
  }

  return {
    async offer(worker, wire, domain) {
      const key = worker.toLowerCase()
      if (done.has(key)) return
      const nonce = BigInt(wire.nonce)
      const known = offered.get(key)
      if (known && known.auth.nonce >= nonce) return
      const auth: PayoutAuthorisation = {
        worker,
        payout: wire.payout as Address,
        nonce,
        signature: wire.signature as `0x${string}`,
      }
      const signer = await recoverPayoutSigner(domain, auth, auth.signature)
      if (signer?.toLowerCase() !== key) {
        log.debug('ignored a payout authorisation not signed by its worker', { worker })
        return
      }
      if (/^0x0{40}$/.test(auth.payout)) return
      offered.set(key, { auth, attempts: 0 })
    },
    flush(paid) {
      flushing ??= flushOnce(paid).finally(() => {
        flushing = undefined
      })
      return flushing
    },
    recorded: () => recorded,
  }
}

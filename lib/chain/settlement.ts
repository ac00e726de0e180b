/**
 * Settlement batching: certificates queue up and go on chain together, which divides the fixed
 * cost of a transaction over many tasks. A batch is sent when it reaches `maxBatch` or when its
 * oldest certificate has waited `maxDelayMs`; one transaction is in flight at a time (no nonce
 * races). If a batch fails, it is split in halves and retried, so one bad certificate cannot
 * block the others; a single certificate that still fails is reported through `onFailed`.
 */
import type { Certificate } from '../proofs'
import type { SettleResult } from './escrow'

export interface SettlementBatcherInit {
  submit(certs: readonly Certificate[]): Promise<SettleResult>
  /** Certificates per transaction. Default 50. */
  maxBatch?: number
  /** Longest a certificate waits for others (ms). Default 2000. */
  maxDelayMs?: number
  onSettled?(certs: readonly Certificate[], result: SettleResult): void
  onFailed?(cert: Certificate, error: unknown): void
}

export interface SettlementBatcher {
  add(cert: Certificate): void
  /** Sends everything queued and resolves when no transaction is in flight. */
  flush(): Promise<void>
  readonly pending: number
  stop(): void
}

export function createSettlementBatcher(init: SettlementBatcherInit): SettlementBatcher {
  const maxBatch = init.maxBatch ?? 50
  const maxDelayMs = init.maxDelayMs ?? 2000
  const queue: Certificate[] = []
  let timer: ReturnType<typeof setTimeout> | undefined
  let chain: Promise<void> = Promise.resolve()
  let inFlight = 0
  let stopped = false

  const send = async (batch: Certificate[]): Promise<void> => {
    try {
      const result = await init.submit(batch)
      init.onSettled?.(batch, result)
    } catch (err) {
      if (batch.length === 1) {
        init.onFailed?.(batch[0]!, err)
        return
      }
      const mid = Math.ceil(batch.length / 2)
      await send(batch.slice(0, mid))
      await send(batch.slice(mid))
    }
  }

  const drain = () => {
    if (timer) clearTimeout(timer)
    timer = undefined
    while (queue.length > 0) {
      const batch = queue.splice(0, maxBatch)
      inFlight += batch.length
      chain = chain
        .then(() => send(batch))
        .finally(() => {
          inFlight -= batch.length
        })
    }
    return chain
  }

  return {
    add(cert) {
      if (stopped) return
      queue.push(cert)
      if (queue.length >= maxBatch) void drain()
      else timer ??= setTimeout(() => void drain(), maxDelayMs)
    },
    flush: () => drain(),
    get pending() {
      return queue.length + inFlight
    },
    stop() {
      stopped = true
      if (timer) clearTimeout(timer)
    },
  }
}

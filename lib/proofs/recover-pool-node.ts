/**
 * Signature recovery on worker threads, for a Node coordinator: recovering a result's signer is
 * most of the CPU a result costs (bench section 10), and pure-JS ECDSA on one thread caps a
 * coordinator at a few hundred results a second. Requests made in one turn of the event loop go
 * to the least busy thread as one batch. A thread that dies fails what it held (those results are
 * refused as unsigned and their workers send them again) and is replaced.
 */
import { availableParallelism } from 'node:os'
import { Worker } from 'node:worker_threads'
import type { Address, Hex } from 'viem'
import type { RecoverReply, RecoverRequest } from './recover-thread'

export interface RecoveryPool {
  /** The signer of `digest` by the chain's rule (`recoverStrict`), or undefined. */
  recover(digest: Hex, signature: Hex): Promise<Address | undefined>
  /** Threads in the pool. */
  readonly size: number
  close(): Promise<void>
}

interface Thread {
  worker: Worker
  pending: Map<number, (signer: Address | undefined) => void>
}

/** @default availableParallelism() − 1, at least 1: the event loop keeps a core. */
export function startRecoveryPool(size = Math.max(1, availableParallelism() - 1)): RecoveryPool {
  let nextId = 0
  let closed = false
  const threads: Thread[] = []
  let queued: Array<RecoverRequest & { done: (signer: Address | undefined) => void }> = []
  let flushing = false

  const spawn = (): Thread => {
    const worker = new Worker(new URL('./recover-thread.mjs', import.meta.url))
    const t: Thread = { worker, pending: new Map() }
    worker.unref()
    worker.on('message', (replies: RecoverReply[]) => {
      for (const { id, signer } of replies) {
        const done = t.pending.get(id)
        t.pending.delete(id)
        done?.((signer ?? undefined) as Address | undefined)
      }
    })
    const fail = () => {
      for (const done of t.pending.values()) done(undefined)
      t.pending.clear()
      const i = threads.indexOf(t)
      if (i >= 0) threads.splice(i, 1)
      if (!closed) threads.push(spawn())
    }
    worker.on('error', fail)
    worker.on('exit', () => {
      if (threads.includes(t)) fail()
    })
    return t
  }
  for (let i = 0; i < size; i++) threads.push(spawn())

  const flush = () => {
    flushing = false
    const batch = queued
    queued = []
    if (batch.length === 0) return
    // Spread the turn's requests over the threads, the least busy first.
    const order = [...threads].sort((a, b) => a.pending.size - b.pending.size)
    const per = Math.ceil(batch.length / order.length)
    for (const [k, t] of order.entries()) {
      const part = batch.slice(k * per, (k + 1) * per)
      if (part.length === 0) break
      for (const r of part) t.pending.set(r.id, r.done)
      t.worker.postMessage(part.map(({ id, digest, signature }) => ({ id, digest, signature })))
    }
  }

  return {
    size,
    recover(digest, signature) {
      if (closed) return Promise.reject(new Error('the recovery pool is closed'))
      const { promise, resolve } = Promise.withResolvers<Address | undefined>()
      queued.push({ id: nextId++, digest, signature, done: resolve })
      if (!flushing) {
        flushing = true
        setImmediate(flush)
      }
      return promise
    },
    async close() {
      closed = true
      const all = threads.splice(0)
      for (const t of all) {
        for (const done of t.pending.values()) done(undefined)
        t.pending.clear()
      }
      await Promise.all(all.map((t) => t.worker.terminate()))
    },
  }
}

/**
 * Which announced job ids exist on chain, asked in batches. Anyone can announce anything on
 * gossip, and peer ids are free, so a volunteer that spent a `getJob` call on every announcement
 * with a new id could be made to call its RPC provider without bound (issue 15 item 2: 2,000
 * announcements, +1,602 calls). Here an unknown id waits until the next batch, and each batch is
 * one `eth_call` per BATCH ids (`createdJobIds`, lib/chain: the escrow's `created` view): at most
 * ceil(maxPending / batchSize) calls per interval (4 per 2 s by default), whatever is announced. Only ids that exist go
 * on to the full check against the job's terms (lib/jobs/worker.ts).
 *
 * Every structure is bounded: ids waiting (maxPending; when full, a random waiting id is dropped
 * so that a flood cannot keep a real job's repeated announcement out for long), ids known to
 * exist (maxKnown, oldest forgotten first) and ids known not to (maxMissing, for missingTtlMs,
 * per announcer).
 */
import type { Hex } from 'viem'

export type JobIdVerdict =
  /** A JobCreated event of this escrow names it. */
  | 'created'
  /** No such job on this escrow (as of the batch that asked). */
  | 'missing'
  /** Not asked: dropped from a full queue, or the batch's call failed. Ask again later. */
  | 'dropped'

export type JobIdDrop = 'evicted' | 'check-failed'

export interface JobIdCheckInit {
  /** Which of `ids` exist on chain (lowercase), in one RPC call. */
  created: (ids: Hex[]) => Promise<Set<Hex>>
  /** Least time between batches (ms). @default 2000 */
  intervalMs?: number
  /** Ids waiting for a batch, at most. @default 1024 */
  maxPending?: number
  /** Ids per RPC call. @default 256 */
  batchSize?: number
  /** Ids remembered as existing. @default 1024 */
  maxKnown?: number
  /** (id, announcer) pairs remembered as missing. @default 4096 */
  maxMissing?: number
  /**
   * How long an id stays known as missing for the announcer that named it (ms): a job created
   * since is found after it. Per announcer, because job ids are predictable: a stranger who
   * announces a job before it exists must not keep its coordinator's announcement out.
   * @default 10000
   */
  missingTtlMs?: number
  random?: () => number
  now?: () => number
}

export interface JobIdCheckStats {
  pending: number
  known: number
  missing: number
  /** RPC calls made (batches). */
  calls: number
  dropped: Record<JobIdDrop, number>
}

export interface JobIdCheck {
  /**
   * Whether `jobId` exists on chain: at once when known, else after the next batch. `announcer`
   * keys the memory of a missing answer (see missingTtlMs).
   */
  exists(jobId: Hex, announcer?: string): Promise<JobIdVerdict>
  stats(): JobIdCheckStats
  /** Answers every waiting id 'dropped' and makes no more calls. */
  stop(): void
}

/** Askers waiting for one id's answer, at most (announcers of one id are free to make). */
const MAX_WAITERS = 8

export function createJobIdCheck(init: JobIdCheckInit): JobIdCheck {
  const intervalMs = init.intervalMs ?? 2000
  const maxPending = init.maxPending ?? 1024
  const batchSize = init.batchSize ?? 256
  const maxKnown = init.maxKnown ?? 1024
  const maxMissing = init.maxMissing ?? 4096
  const missingTtlMs = init.missingTtlMs ?? 10_000
  const random = init.random ?? Math.random
  const now = init.now ?? Date.now

  /** Waiting ids, each with whoever asked; a Map keeps insertion order for the batches. */
  const pending = new Map<Hex, Array<{ announcer: string; answer: (v: JobIdVerdict) => void }>>()
  const known = new Set<Hex>()
  /** `id:announcer` → until when (ms). */
  const missing = new Map<string, number>()
  const dropped: Record<JobIdDrop, number> = { evicted: 0, 'check-failed': 0 }
  let calls = 0
  let lastBatch = Number.NEGATIVE_INFINITY
  let timer: ReturnType<typeof setTimeout> | undefined
  let running = false
  let stopped = false

  type Waiter = { announcer: string; answer: (v: JobIdVerdict) => void }
  const answer = (waiters: Waiter[] | undefined, v: JobIdVerdict, id?: Hex) => {
    for (const w of waiters ?? []) {
      if (id && v === 'missing') {
        const key = `${id}:${w.announcer}`
        missing.delete(key)
        missing.set(key, now() + missingTtlMs)
        if (missing.size > maxMissing) missing.delete(missing.keys().next().value!)
      }
      w.answer(v)
    }
  }

  const remember = (id: Hex) => {
    known.add(id)
    if (known.size > maxKnown) known.delete(known.values().next().value!)
  }

  const schedule = () => {
    if (timer || running || stopped || pending.size === 0) return
    timer = setTimeout(
      () => {
        timer = undefined
        void batch()
      },
      Math.max(0, lastBatch + intervalMs - now()),
    )
  }

  const batch = async () => {
    running = true
    lastBatch = now()
    // What waits now; ids announced meanwhile wait for the next batch.
    const ids = [...pending.keys()]
    try {
      for (let i = 0; i < ids.length && !stopped; i += batchSize) {
        const chunk = ids.slice(i, i + batchSize)
        calls++
        let found: Set<Hex> | undefined
        try {
          found = await init.created(chunk)
        } catch {
          found = undefined
        }
        for (const id of chunk) {
          const waiters = pending.get(id)
          pending.delete(id)
          if (!found) {
            dropped['check-failed']++
            answer(waiters, 'dropped')
            continue
          }
          const v = found.has(id) ? 'created' : 'missing'
          if (v === 'created') remember(id)
          answer(waiters, v, id)
        }
      }
    } finally {
      running = false
      schedule()
    }
  }

  return {
    exists(jobId, announcer = '') {
      const id = jobId.toLowerCase() as Hex
      if (known.has(id)) return Promise.resolve('created')
      const until = missing.get(`${id}:${announcer}`)
      if (until !== undefined) {
        if (until > now()) return Promise.resolve('missing')
        missing.delete(`${id}:${announcer}`)
      }
      if (stopped) return Promise.resolve('dropped')
      return new Promise<JobIdVerdict>((resolve) => {
        const waiting = pending.get(id)
        if (waiting) {
          if (waiting.length < MAX_WAITERS) waiting.push({ announcer, answer: resolve })
          else resolve('dropped')
          return
        }
        if (pending.size >= maxPending) {
          // A random one goes: the newest would shut out a real job announced during a flood,
          // the oldest would let the flood push every id out before its batch.
          const skip = Math.floor(random() * pending.size)
          let i = 0
          for (const [victim, waiters] of pending) {
            if (i++ < skip) continue
            pending.delete(victim)
            dropped.evicted++
            answer(waiters, 'dropped')
            break
          }
        }
        pending.set(id, [{ announcer, answer: resolve }])
        schedule()
      })
    },
    stats: () => ({
      pending: pending.size,
      known: known.size,
      missing: missing.size,
      calls,
      dropped: { ...dropped },
    }),
    stop() {
      stopped = true
      if (timer) clearTimeout(timer)
      timer = undefined
      for (const waiters of pending.values()) answer(waiters, 'dropped')
      pending.clear()
    },
  }
}

import { describe, expect, it } from 'vitest'
import { createLogger } from '../env/log'
import { generateIdentity, type Identity, toWireTensors } from '../mesh'
import type { Lease } from '../mesh/messages'
import { commitInputs, parseInputsJson, resultHash, signResult } from '../proofs'
import { seededInputs } from '../runtime/examples'
import type { Store } from '../store'
import { openMemoryStore } from '../store/memory-node'
import {
  JobRun,
  MAX_CONSECUTIVE_TIMEOUTS,
  MAX_LEASES_PER_WORKER,
  type WorkerTiming,
} from './job-run'

const CONTRACT = `0x${'cc'.repeat(20)}` as const

/** A job of `n` tasks (r replicas, quorum q) on a simulated clock. */
async function setup(
  n: number,
  replicas: number,
  quorum: number,
  store?: Store,
  deadlineSeconds = 3600,
) {
  const st = store ?? (await openMemoryStore())
  const inputs = parseInputsJson(seededInputs(1, n, { x: [1, 4] }))
  const jobId = `0x${'ab'.repeat(32)}` as const
  const clock = { now: 1_000_000 }
  const job = {
    jobId,
    spec: {
      modelHash: `0x${'bb'.repeat(32)}` as const,
      inputsRoot: commitInputs(inputs).root,
      taskCount: n,
      replicas,
      quorum,
      policy: { kind: 'exact' as const },
      rewardPerResult: 1n,
      deadline: clock.now / 1000 + deadlineSeconds,
    },
    chainId: 31337,
    contract: CONTRACT,
    requester: `0x${'dd'.repeat(20)}` as const,
    createdAt: clock.now,
    status: 'running' as const,
  }
  const stored = await st.listTasks(jobId)
  const tasks =
    stored.length > 0
      ? stored
      : inputs.map((t, taskIndex) => ({
          jobId,
          taskIndex,
          status: 'open' as const,
          inputs: t,
          results: [],
        }))
  if (stored.length === 0) await st.putTasks(tasks)
  const workerStats = new Map<string, WorkerTiming>()
  const run = new JobRun({
    job,
    tasks,
    store: st,
    settler: async () => {
      throw new Error('not settling in this test')
    },
    log: createLogger('test'),
    workerStats,
    now: () => clock.now,
  })
  const answer = async (w: Identity, lease: Lease, computeMs = 100) => {
    const outputs = {
      y: { type: 'float32' as const, dims: [1], data: new Float32Array([lease.taskIndex]) },
    }
    const hash = resultHash(outputs, { kind: 'exact' })
    const signature = await signResult(
      w.account,
      { chainId: 31337, contract: CONTRACT },
      { jobId, taskIndex: lease.taskIndex, resultHash: hash },
    )
    return run.submit(w.peerId, {
      type: 'result',
      jobId,
      taskIndex: lease.taskIndex,
      leaseId: lease.leaseId,
      resultHash: hash,
      signature,
      backend: 'wasm',
      computeMs,
      outputs: toWireTensors(outputs),
    })
  }
  return { run, store: st, clock, jobId, answer, workerStats }
}

const lease = (r: ReturnType<JobRun['assign']>): Lease => {
  if (r.type !== 'lease') throw new Error(`expected a lease, got ${JSON.stringify(r)}`)
  return r
}

describe('JobRun', () => {
  // A requester waiting on `done` (the CLI, the job page) must learn the job is over at the
  // deadline even when no volunteer ever asks for work again.
  it('expires at the deadline without any worker asking, failing unfinished tasks', async () => {
    const { run, store, clock, jobId } = await setup(2, 2, 2, undefined, 60)
    await run.settleReady()
    expect(run.status).toBe('running')
    clock.now += 61_000
    await run.settleReady()
    const final = await run.done
    expect(final.status).toBe('expired')
    expect(final.counts.failed).toBe(2)
    expect((await store.listTasks(jobId)).map((t) => t.failure)).toEqual([
      'deadline passed',
      'deadline passed',
    ])
    expect((await store.getJob(jobId))?.status).toBe('expired')
  })

  it('gives one worker at most MAX_LEASES_PER_WORKER leases at once', async () => {
    const { run } = await setup(6, 1, 1)
    const w = await generateIdentity()
    for (let i = 0; i < MAX_LEASES_PER_WORKER; i++) lease(run.assign(w.peerId))
    expect(run.assign(w.peerId)).toMatchObject({ type: 'no-work', reason: 'busy' })
  })

  it('stops leasing to a worker whose leases expired MAX_CONSECUTIVE_TIMEOUTS times in a row', async () => {
    const { run, clock, answer } = await setup(10, 1, 1)
    const rider = await generateIdentity()
    const honest = await generateIdentity()
    // One honest result makes the job's typical compute time known (100 ms).
    await answer(honest, lease(run.assign(honest.peerId)))
    for (let i = 0; i < MAX_CONSECUTIVE_TIMEOUTS; i++) {
      const l = lease(run.assign(rider.peerId))
      expect(Number.isInteger(l.expiresInMs)).toBe(true)
      clock.now += l.expiresInMs + 1
    }
    expect(run.assign(rider.peerId)).toMatchObject({ type: 'no-work', reason: 'not-eligible' })
    expect(run.progress().workers.find((w) => w.address === rider.address)?.timeouts).toBe(
      MAX_CONSECUTIVE_TIMEOUTS,
    )
    // Its expired tasks went back to the pool: the honest worker can finish every task.
    let done = 1
    for (;;) {
      const r = run.assign(honest.peerId)
      if (r.type !== 'lease') break
      await answer(honest, r)
      done++
    }
    expect(done).toBe(10)
    expect(run.progress().counts.accepted).toBe(10)
  })

  it('duplicates a long-running replica on an idle worker once nothing else is left', async () => {
    const { run, clock, answer } = await setup(1, 1, 1)
    const slow = await generateIdentity()
    const idle = await generateIdentity()
    const first = lease(run.assign(slow.peerId))
    expect(run.assign(idle.peerId)).toMatchObject({ type: 'no-work', reason: 'all-leased' })
    clock.now += 31_000 // nobody timed yet: a replica is long after 30 s; the lease lasts 60 s
    const dup = lease(run.assign(idle.peerId))
    expect(dup.taskIndex).toBe(first.taskIndex)
    await answer(idle, dup)
    expect(run.progress().counts.accepted).toBe(1)
    // The slow worker's late answer is still recorded, not refused.
    expect(await answer(slow, first)).toMatchObject({ status: 'recorded' })
  })

  it('accepts, after a coordinator restart, a result for a lease issued before it', async () => {
    const store = await openMemoryStore()
    const before = await setup(2, 1, 1, store)
    const w = await generateIdentity()
    const l = lease(before.run.assign(w.peerId))
    await new Promise((r) => setTimeout(r, 20)) // the lease's store write
    before.run.stop()
    const after = await setup(2, 1, 1, store)
    expect(await after.answer(w, l)).toMatchObject({ status: 'recorded', verdict: 'accepted' })
    // A worker that never held a lease is still refused.
    const stranger = await generateIdentity()
    expect(await after.answer(stranger, { ...l, taskIndex: 1 })).toMatchObject({
      status: 'rejected',
    })
  })
})

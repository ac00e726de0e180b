import { describe, expect, it } from 'vitest'
import { createLogger } from '../env/log'
import { generateIdentity, type Identity, toWireTensors } from '../mesh'
import type { Lease } from '../mesh/messages'
import {
  type Certificate,
  commitInputs,
  parseInputsJson,
  recoverClaimSigner,
  resultHash,
  signClaim,
  signResult,
  type TensorMap,
} from '../proofs'
import { seededInputs } from '../runtime/examples'
import type { Store } from '../store'
import { openMemoryStore } from '../store/memory-node'
import {
  emptyRecord,
  NEW_CANARY_WITHIN,
  trustSettings,
  UNDEFENDED,
  type WorkerRecord,
} from '../trust'
import {
  BENCH_MS,
  JobRun,
  type JobRunInit,
  leaseLengthMs,
  MAX_CONSECUTIVE_TIMEOUTS,
  MAX_LEASES_PER_WORKER,
  SINGLE_HOLD_MS,
  type WorkerTiming,
} from './job-run'

const CONTRACT = `0x${'cc'.repeat(20)}` as const
/** The job's coordinator key: it signs the workers' claims. */
const COORDINATOR = await generateIdentity()
const DOMAIN = { chainId: 31337, contract: CONTRACT }

/** A job of `n` tasks (r replicas, quorum q) on a simulated clock. */
async function setup(
  n: number,
  replicas: number,
  quorum: number,
  store?: Store,
  deadlineSeconds = 3600,
  extra: Partial<JobRunInit> = {},
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
      coordinator: COORDINATOR.address,
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
    signClaim: (claim) => signClaim(COORDINATOR.account, DOMAIN, claim),
    log: createLogger('test'),
    workerStats,
    now: () => clock.now,
    ...extra,
  })
  const answer = async (
    w: Identity,
    lease: Lease,
    computeMs = 100,
    value = lease.taskIndex,
    backend: 'wasm' | 'webgpu' = 'wasm',
  ) => {
    const outputs = outputsOf(value)
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
      backend,
      computeMs,
      outputs: toWireTensors(outputs),
    })
  }
  return { run, store: st, clock, jobId, answer, workerStats }
}

/** What an honest worker computes for task i: y = [i]. */
const outputsOf = (v: number): TensorMap => ({
  y: { type: 'float32', dims: [1], data: new Float32Array([v]) },
})

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

  it('flush waits for every store write made in the background (a stopping coordinator closes its store after it)', async () => {
    const base = await openMemoryStore()
    // A store whose task writes take a while, as a busy IndexedDB's do.
    let slowWrites = 0
    const slow: Store = {
      ...base,
      putTask: async (r) => {
        await new Promise((done) => setTimeout(done, 50))
        await base.putTask(r)
        slowWrites++
      },
    }
    const { run, jobId } = await setup(2, 1, 1, slow)
    const w = await generateIdentity()
    const l = lease(run.assign(w.peerId))
    expect(slowWrites).toBe(0)
    await run.flush()
    expect(slowWrites).toBe(1)
    // The lease is in the store once flush resolved.
    expect((await base.getTask(jobId, l.taskIndex))?.leases?.map((x) => x.id)).toEqual([l.leaseId])
  })

  it('calls onAccepted once per task, when its quorum is reached', async () => {
    const accepted: number[] = []
    const { run, answer } = await setup(3, 2, 2, undefined, 3600, {
      onAccepted: (i) => accepted.push(i),
      trust: trustSettings('high'),
    })
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    const first = lease(run.assign(a.peerId))
    await answer(a, first)
    expect(accepted).toEqual([])
    await answer(b, lease(run.assign(b.peerId)))
    expect(accepted).toEqual([first.taskIndex])
    // A third, late replica of an accepted task does not accept it again.
    const late = run.assign(c.peerId)
    if (late.type === 'lease' && late.taskIndex === first.taskIndex) await answer(c, late)
    expect(accepted.filter((i) => i === first.taskIndex)).toHaveLength(1)
  })

  // The coordinator reads a result's outputs only once its header passed these checks: a
  // stranger, or a worker sending again what it delivered, never gets its outputs buffered.
  it('admits a result header only from a worker the task was leased to, and not twice', async () => {
    const { run, answer } = await setup(2, 2, 2)
    const [w, stranger] = [await generateIdentity(), await generateIdentity()]
    const l = lease(run.assign(w.peerId))
    const header = { taskIndex: l.taskIndex, resultHash: `0x${'01'.repeat(32)}` }
    expect(run.admit(stranger.peerId, header)).toMatchObject({
      status: 'rejected',
      reason: 'this task was never leased to you',
    })
    expect(run.admit(w.peerId, { ...header, taskIndex: 99 })).toMatchObject({
      status: 'rejected',
      reason: 'task 99 does not exist',
    })
    expect(run.admit(w.peerId, header)).toBeUndefined()
    await answer(w, l)
    const hash = resultHash(outputsOf(l.taskIndex), { kind: 'exact' })
    expect(run.admit(w.peerId, { taskIndex: l.taskIndex, resultHash: hash })).toMatchObject({
      status: 'duplicate',
    })
    // A different hash from the same worker is not admitted as a duplicate: its outputs are read
    // and judged (equivocation).
    expect(run.admit(w.peerId, header)).toBeUndefined()
  })

  it("frees only the sender's own lease, whatever lease id its result names", async () => {
    const { run, answer } = await setup(2, 2, 2)
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    const la = lease(run.assign(a.peerId))
    const lb = lease(run.assign(b.peerId))
    expect(lb.taskIndex).toBe(la.taskIndex)
    // b's result names a's lease: a still holds its replica, so c gets the other task.
    expect(await answer(b, { ...lb, leaseId: la.leaseId })).toMatchObject({ status: 'recorded' })
    expect(lease(run.assign(c.peerId)).taskIndex).not.toBe(la.taskIndex)
    await answer(a, la)
    expect(run.results()[la.taskIndex]!.status).toMatch(/accepted|settled/)
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
    const { accepted, settled } = run.progress().counts
    expect(accepted + settled).toBe(10)
  })

  it('lets a worker that could not fetch the model take the task again, not one whose inference failed', async () => {
    for (const [code, again] of [
      ['model-unavailable', true],
      ['inference-failed', false],
    ] as const) {
      // One task, two replicas, two volunteers: the task needs both of them.
      const { run, jobId, answer } = await setup(1, 2, 2)
      const a = await generateIdentity()
      const b = await generateIdentity()
      const first = lease(run.assign(a.peerId))
      expect(
        run.reportError(a.peerId, {
          type: 'task-error',
          jobId,
          taskIndex: first.taskIndex,
          leaseId: first.leaseId,
          code,
          message: 'the coordinator did not answer',
        }),
      ).toMatchObject({ status: 'recorded' })
      await answer(b, lease(run.assign(b.peerId)))
      const next = run.assign(a.peerId)
      if (again) {
        await answer(a, lease(next))
        const { accepted, settled } = run.progress().counts
        expect(accepted + settled).toBe(1)
      } else expect(next).toMatchObject({ type: 'no-work' })
    }
  })

  it('keeps running leases across a coordinator restart, and hands out expired ones again', async () => {
    const store = await openMemoryStore()
    const first = await setup(3, 1, 1, store)
    const a = await generateIdentity()
    const b = await generateIdentity()
    const c = await generateIdentity()
    const held = lease(first.run.assign(a.peerId))
    const answered = lease(first.run.assign(b.peerId))
    await first.answer(b, answered)
    first.run.stop()
    // The tab reloads: a new JobRun from the stored tasks, a little later.
    const second = await setup(3, 1, 1, store)
    second.clock.now += 1000
    // Task `held` is still out to A: C gets the third task, then nothing.
    const next = lease(second.run.assign(c.peerId))
    expect([held.taskIndex, answered.taskIndex]).not.toContain(next.taskIndex)
    expect(second.run.assign(c.peerId)).toMatchObject({ type: 'no-work', reason: 'all-leased' })
    // A's result, computed while the coordinator was away, is accepted by the new run.
    await expect(second.answer(a, held)).resolves.toMatchObject({ status: 'recorded' })
    // Restored again: C's lease still runs, so D gets nothing; once it has expired unanswered
    // (a timeout for C), its replica goes to D.
    const third = await setup(3, 1, 1, store)
    const d = await generateIdentity()
    third.clock.now += 2000
    expect(third.run.assign(d.peerId)).toMatchObject({ type: 'no-work', reason: 'all-leased' })
    third.clock.now = 1_001_000 + next.expiresInMs + 1
    expect(lease(third.run.assign(d.peerId)).taskIndex).toBe(next.taskIndex)
    expect(third.run.progress().workers.find((w) => w.address === c.address)?.timeouts).toBe(1)
  })

  it("sizes a new worker's first lease by its capability probe against the timed workers'", async () => {
    const { run, answer } = await setup(10, 1, 1)
    const req = (score: number) => ({ backend: 'wasm', runtime: 'test', capability: { score } })
    const timed = await generateIdentity()
    await answer(timed, lease(run.assign(timed.peerId, req(100))), 1000)
    // Typical compute 1 s: an untimed worker gets 10 × 1 s + 20 s = 30 s, scaled by its probe.
    const plain = await generateIdentity()
    const slow = await generateIdentity()
    const fast = await generateIdentity()
    const huge = await generateIdentity()
    expect(lease(run.assign(plain.peerId, { backend: 'wasm', runtime: 'test' })).expiresInMs).toBe(
      30_000,
    )
    expect(lease(run.assign(slow.peerId, req(50))).expiresInMs).toBe(40_000)
    expect(lease(run.assign(fast.peerId, req(400))).expiresInMs).toBe(15_000)
    // A claim of being very slow is capped at 4 times.
    expect(lease(run.assign(huge.peerId, req(0.001))).expiresInMs).toBe(60_000)
    expect(run.progress().workers.find((w) => w.address === slow.address)?.probeScore).toBe(50)
    expect(leaseLengthMs(undefined, 1000, 1000)).toBe(leaseLengthMs(undefined, 1000, 4))
  })

  /**
   * A memory store whose first settled task write (of task `only`, when given) after `hold()`
   * waits until the test ends it (`end()`, or `end(err)` to fail it); `failPay()` fails the next
   * write of a certificate with three signers.
   */
  async function heldSettledWrite(only?: number) {
    const base = await openMemoryStore()
    const gate = {
      armed: false,
      failPay: false,
      end: undefined as ((err?: Error) => void) | undefined,
      hold: () => {
        gate.armed = true
      },
    }
    const store: Store = {
      ...base,
      putTask: async (r) => {
        if (gate.armed && r.status === 'settled' && (only === undefined || r.taskIndex === only)) {
          gate.armed = false
          await new Promise<void>((resolve, reject) => {
            gate.end = (err) => (err ? reject(err) : resolve())
          })
        } else if (gate.failPay && r.certificate?.signers.length === 3) {
          gate.failPay = false
          throw new Error('quota exceeded')
        }
        return base.putTask(r)
      },
    }
    return { store, gate }
  }

  it('does not complete the job while a task whose settled write failed waits to settle again', async () => {
    // Task 0's settled write hangs, then fails, while another task's result completes.
    const { store, gate } = await heldSettledWrite(0)
    const { run, answer } = await setup(3, 1, 1, store, 3600, { trust: UNDEFENDED })
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    const [la, lb, lc] = [a, b, c].map((w) => lease(run.assign(w.peerId)))
    expect([la!.taskIndex, lb!.taskIndex, lc!.taskIndex]).toEqual([0, 1, 2])
    await run.flush()
    gate.hold()
    const first = answer(a, la!).catch((err: Error) => err)
    await expect.poll(() => gate.end).toBeDefined()
    await answer(b, lb!)
    await answer(c, lc!)
    // Every task looks settled in memory, but task 0's write has not landed.
    expect(run.status).toBe('running')
    gate.end!(new Error('quota exceeded'))
    expect(await first).toBeInstanceOf(Error)
    expect(run.status).toBe('running')
    expect(run.progress().counts).toMatchObject({ accepted: 1, settled: 2 })
    // The next round settles it, and only then is the job complete, its worker paid.
    await run.settleReady()
    expect(run.status).toBe('complete')
    expect(await run.claimFor(a.address, { fresh: true })).toMatchObject({ results: 1 })
  })

  it('pays a replica that agreed while the settled write was on its way once, even when that write failed', async () => {
    const { store, gate } = await heldSettledWrite()
    const { run, answer } = await setup(1, 3, 2, store, 3600, { trust: UNDEFENDED })
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    const [la, lb, lc] = [a, b, c].map((w) => lease(run.assign(w.peerId)))
    await answer(a, la!)
    gate.hold()
    // B's result reaches the quorum: its settled write hangs; C agrees meanwhile.
    const second = answer(b, lb!).catch((err: Error) => err)
    await expect.poll(() => gate.end).toBeDefined()
    await answer(c, lc!)
    gate.end!(new Error('quota exceeded'))
    expect(await second).toBeInstanceOf(Error)
    await run.settleReady()
    expect(run.results()[0]!.status).toBe('settled')
    for (const w of [a, b, c])
      expect(await run.claimFor(w.address, { fresh: true })).toMatchObject({
        results: 1,
        decided: 1,
      })
  })

  it('pays such a replica in a later round when the write of its pay failed', async () => {
    const { store, gate } = await heldSettledWrite()
    const { run, answer } = await setup(1, 3, 2, store, 3600, { trust: UNDEFENDED })
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    const [la, lb, lc] = [a, b, c].map((w) => lease(run.assign(w.peerId)))
    await answer(a, la!)
    gate.hold()
    const second = answer(b, lb!)
    await expect.poll(() => gate.end).toBeDefined()
    await answer(c, lc!)
    gate.failPay = true
    gate.end!()
    await second
    expect(await run.claimFor(c.address, { fresh: true })).toMatchObject({ results: 0 })
    await run.settleReady()
    expect(await run.claimFor(c.address, { fresh: true })).toMatchObject({ results: 1 })
  })

  it('counts a replica that agreed while the settled write was on its way decided once', async () => {
    const { store, gate } = await heldSettledWrite()
    const { run, answer } = await setup(2, 3, 2, store, 3600, { trust: UNDEFENDED })
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    const [la, lb, lc] = [a, b, c].map((w) => lease(run.assign(w.peerId)))
    const other = lease(run.assign(c.peerId))
    await answer(a, la!)
    gate.hold()
    const second = answer(b, lb!)
    await expect.poll(() => gate.end).toBeDefined()
    await answer(c, lc!)
    gate.end!()
    await second
    await answer(c, other)
    // Its second task has one result of three: not decided.
    expect(await run.claimFor(c.address, { fresh: true })).toMatchObject({
      results: 1,
      received: 2,
      decided: 1,
    })
  })

  it('logs, rather than leaves unhandled, a task write that fails (a store closed while stopping)', async () => {
    const store = await openMemoryStore()
    const warnings: string[] = []
    const log = createLogger('test')
    log.warn = (message, fields) => warnings.push(`${message} ${fields?.error}`)
    const { run } = await setup(2, 1, 1, store, 3600, { log })
    store.putTask = async () => {
      throw new Error('the database connection is closing')
    }
    const w = await generateIdentity()
    lease(run.assign(w.peerId))
    // An unhandled rejection would fail this test file.
    await new Promise((r) => setTimeout(r, 20))
    expect(warnings).toEqual(['saving a task failed the database connection is closing'])
  })

  it('benches a worker that timed out MAX_CONSECUTIVE_TIMEOUTS times for BENCH_MS, then gives one lease at a time', async () => {
    const { run, clock, answer } = await setup(20, 1, 1)
    const sleeper = await generateIdentity()
    const honest = await generateIdentity()
    await answer(honest, lease(run.assign(honest.peerId)))
    // The tab slept holding leases: all of them expire.
    const held = Array.from({ length: MAX_CONSECUTIVE_TIMEOUTS }, () =>
      lease(run.assign(sleeper.peerId)),
    )
    clock.now += Math.max(...held.map((l) => l.expiresInMs)) + 1
    const benched = run.assign(sleeper.peerId)
    expect(benched).toMatchObject({ type: 'no-work', reason: 'not-eligible' })
    // Counted from when its leases expired (1 ms ago).
    expect((benched as { retryAfterMs: number }).retryAfterMs).toBe(BENCH_MS - 1)
    clock.now += BENCH_MS - 1000
    expect(run.assign(sleeper.peerId)).toMatchObject({ type: 'no-work', reason: 'not-eligible' })
    // Back after the bench: one lease at a time until it delivers.
    clock.now += 1000
    const probation = lease(run.assign(sleeper.peerId))
    expect(run.assign(sleeper.peerId)).toMatchObject({ type: 'no-work', reason: 'busy' })
    await answer(sleeper, probation)
    for (let i = 0; i < MAX_LEASES_PER_WORKER; i++) lease(run.assign(sleeper.peerId))
    expect(run.assign(sleeper.peerId)).toMatchObject({ type: 'no-work', reason: 'busy' })
  })

  it('benches a free rider again after its probation lease expires', async () => {
    const { run, clock, answer } = await setup(20, 1, 1)
    const rider = await generateIdentity()
    const honest = await generateIdentity()
    await answer(honest, lease(run.assign(honest.peerId)))
    for (let i = 0; i < MAX_CONSECUTIVE_TIMEOUTS; i++) {
      clock.now += lease(run.assign(rider.peerId)).expiresInMs + 1
    }
    clock.now += BENCH_MS
    const probation = lease(run.assign(rider.peerId))
    clock.now += probation.expiresInMs + 1
    expect(run.assign(rider.peerId)).toMatchObject({
      type: 'no-work',
      reason: 'not-eligible',
      retryAfterMs: BENCH_MS - 1,
    })
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
    const { accepted, settled } = run.progress().counts
    expect(accepted + settled).toBe(1)
    // The slow worker's late answer is still recorded, not refused.
    expect(await answer(slow, first)).toMatchObject({ status: 'recorded' })
  })

  it('duplicates again once the duplicate runs long too, up to 2r replicas', async () => {
    const { run, clock, answer } = await setup(1, 2, 2)
    const [h, a, b, c, d] = await Promise.all([
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
      generateIdentity(),
    ])
    // One result makes the typical compute time known (100 ms): a replica is long after 2 s.
    await answer(h, lease(run.assign(h.peerId)))
    const second = lease(run.assign(a.peerId))
    clock.now += 2001
    expect(lease(run.assign(b.peerId)).taskIndex).toBe(second.taskIndex)
    // The duplicate has not run long yet: no other one.
    clock.now += 1000
    expect(run.assign(c.peerId)).toMatchObject({ type: 'no-work', reason: 'all-leased' })
    // Now it has: one more, the fourth result allowed (2r).
    clock.now += 1100
    expect(lease(run.assign(c.peerId)).taskIndex).toBe(second.taskIndex)
    clock.now += 2100
    expect(run.assign(d.peerId)).toMatchObject({ type: 'no-work', reason: 'all-leased' })
  })

  it('accepts, after a coordinator restart, a result for a lease issued before it', async () => {
    const store = await openMemoryStore()
    const before = await setup(2, 1, 1, store)
    const w = await generateIdentity()
    const l = lease(before.run.assign(w.peerId))
    await new Promise((r) => setTimeout(r, 20)) // the lease's store write
    before.run.stop()
    const after = await setup(2, 1, 1, store)
    expect(await after.answer(w, l)).toMatchObject({ status: 'recorded' })
    expect(after.run.results()[l.taskIndex]!.status).toMatch(/accepted|settled/)
    // A worker that never held a lease is still refused.
    const stranger = await generateIdentity()
    expect(await after.answer(stranger, { ...l, taskIndex: 1 })).toMatchObject({
      status: 'rejected',
    })
  })
})

describe('JobRun trust', () => {
  /** Settlements the run sends, and a coin the test sets for the run's random draws. */
  const harness = (known: Record<number, number>, more: Partial<JobRunInit> = {}) => {
    const sent: Certificate[] = []
    const coin = { value: 0.99 }
    const extra: Partial<JobRunInit> = {
      trust: trustSettings('standard'),
      known: new Map(Object.entries(known).map(([i, v]) => [Number(i), outputsOf(v)])),
      random: () => coin.value,
      onSettled: (certs) => {
        sent.push(...certs)
      },
      ...more,
    }
    return { sent, coin, extra }
  }

  it('excludes a worker that fails a known-answer task and reopens the tasks it decided', async () => {
    const { sent, coin, extra } = harness({ 0: 0 })
    const { run, answer } = await setup(4, 2, 2, undefined, 3600, extra)
    const [a, b] = [await generateIdentity(), await generateIdentity()]
    // Two colluders agree on a wrong answer for an ordinary task: accepted, but held back from
    // settlement while neither has passed a known-answer task.
    const la = lease(run.assign(a.peerId))
    const lb = lease(run.assign(b.peerId))
    expect(lb.taskIndex).toBe(la.taskIndex)
    expect(la.taskIndex).not.toBe(0)
    await answer(a, la, 100, 99)
    await answer(b, lb, 100, 99)
    expect(run.results()[lb.taskIndex]!.status).toBe('accepted')
    await run.settleReady()
    expect(sent).toEqual([])
    // A work request passes the accepted task by.
    const d = await generateIdentity()
    expect(lease(run.assign(d.peerId)).taskIndex).toBeGreaterThan(la.taskIndex)
    // A's next lease is the known task (the coin says canary); its wrong answer excludes it.
    coin.value = 0
    const canary = lease(run.assign(a.peerId))
    expect(canary.taskIndex).toBe(0)
    // It is told what any first replica hears: told it was excluded, it would know that task
    // was a check. Its later leases count toward nothing.
    expect(await answer(a, canary, 100, 42)).toEqual({
      type: 'result-ack',
      status: 'recorded',
    })
    const shadow = lease(run.assign(a.peerId))
    expect(await answer(a, shadow, 100, 13)).toEqual({
      type: 'result-ack',
      status: 'recorded',
    })
    expect(run.results()[shadow.taskIndex]!.agreeing).toEqual([])
    const task = run.results()[la.taskIndex]!
    expect(task.status).toBe('open')
    expect(task.voided).toEqual([a.address])
    const summary = run.progress().workers.find((w) => w.address === a.address)
    expect(summary).toMatchObject({ canaryFailed: 1 })
    expect(summary?.excluded).toMatch(/known-answer/)
    // The reopened task, though work requests had passed it by, is the next one leased.
    coin.value = 0.99
    const c = await generateIdentity()
    expect(lease(run.assign(c.peerId)).taskIndex).toBe(la.taskIndex)
  })

  it('gives an excluded worker leases that take no replica, and a claim that moves as a garbage answerer’s does', async () => {
    const { coin, extra } = harness({ 0: 0 })
    const { run, answer, clock } = await setup(3, 2, 2, undefined, 3600, extra)
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    coin.value = 0
    const check = lease(run.assign(a.peerId))
    expect(check.taskIndex).toBe(0)
    await answer(a, check, 100, 42)
    expect(run.progress().workers.find((w) => w.address === a.address)?.excluded).toBeDefined()
    coin.value = 0.99
    const shadow = lease(run.assign(a.peerId))
    // Task 1 still has both its replicas for others.
    const [lb, lc] = [lease(run.assign(b.peerId)), lease(run.assign(c.peerId))]
    expect([shadow.taskIndex, lb.taskIndex, lc.taskIndex]).toEqual([1, 1, 1])
    expect(await answer(a, shadow, 100, 13)).toEqual({ type: 'result-ack', status: 'recorded' })
    await answer(b, lb)
    await answer(c, lc)
    expect(run.results()[lc.taskIndex]!.status).toMatch(/accepted|settled/)
    expect(run.results()[1]?.agreeing).toHaveLength(2)
    expect(run.results()[1]?.agreeing).not.toContain(a.address)
    expect(await run.claimFor(a.address)).toMatchObject({ results: 0, received: 2, decided: 0 })
    // At the deadline task 1 settles and task 0 fails: both of a's results are decided, unpaid.
    clock.now += 3_601_000
    run.assign(b.peerId)
    expect(await run.claimFor(a.address, { fresh: true })).toMatchObject({
      results: 0,
      received: 2,
      decided: 2,
    })
    // The same answer again is a duplicate; another is equivocation, reported as any worker's.
    expect(await answer(a, shadow, 100, 13)).toMatchObject({ status: 'duplicate' })
  })

  // Red-team F5: shadow leases that never benched, offered a task again after an error report,
  // or taken from a task with no room, told a key it was excluded.
  it('leases to an excluded worker as to anyone: room for a replica, a task once, expiry benches it', async () => {
    const { coin, extra } = harness({ 0: 0 })
    const { run, answer, clock, jobId } = await setup(12, 1, 1, undefined, 3600, extra)
    const [x, friend] = [await generateIdentity(), await generateIdentity()]
    coin.value = 0
    await answer(x, lease(run.assign(x.peerId)), 100, 42)
    expect(run.progress().workers.find((w) => w.address === x.address)?.excluded).toBeDefined()
    coin.value = 0.99
    const held = lease(run.assign(friend.peerId))
    // r = 1 and task `held` has its replica: x gets another task, and not one it reported.
    const first = lease(run.assign(x.peerId))
    expect(first.taskIndex).not.toBe(held.taskIndex)
    run.reportError(x.peerId, {
      type: 'task-error',
      jobId,
      taskIndex: first.taskIndex,
      leaseId: first.leaseId,
      code: 'inference-failed',
      message: 'x',
    })
    const taken = new Set([first.taskIndex])
    for (let i = 0; i < MAX_LEASES_PER_WORKER; i++) {
      const l = lease(run.assign(x.peerId))
      expect(taken.has(l.taskIndex) || l.taskIndex === held.taskIndex).toBe(false)
      taken.add(l.taskIndex)
    }
    expect(run.assign(x.peerId)).toMatchObject({ type: 'no-work', reason: 'busy' })
    // All three expire: benched, as anyone whose leases expire three times in a row.
    clock.now += 30_000
    expect(run.assign(x.peerId)).toMatchObject({ type: 'no-work', reason: 'not-eligible' })
  })

  it('settles, after a restart that lost the reputation write, the work of workers whose stored check answers were right', async () => {
    const { sent, coin, extra } = harness({ 0: 0 })
    const first = await setup(4, 2, 2, undefined, 3600, extra)
    const [a, b] = [await generateIdentity(), await generateIdentity()]
    coin.value = 0
    for (const w of [a, b]) {
      const check = lease(first.run.assign(w.peerId))
      expect(check.taskIndex).toBe(0)
      await first.answer(w, check, 100, 0)
    }
    await first.run.flush()
    // The coordinator was killed before its debounced reputation write: the records say both
    // had the job's only check, so no lease can vet them again.
    coin.value = 0.99
    const after = await setup(4, 2, 2, first.store, 3600, { ...extra, reputation: new Map() })
    const la = lease(after.run.assign(a.peerId))
    const lb = lease(after.run.assign(b.peerId))
    expect(lb.taskIndex).toBe(la.taskIndex)
    await after.answer(a, la)
    await after.answer(b, lb)
    await after.run.settleReady()
    expect(after.run.results()[la.taskIndex]!.status).toBe('settled')
    expect(sent.map((c) => c.taskIndex)).toContain(la.taskIndex)
    // Its check too: a restart releases held check pay (docs/trust.md).
    expect(await after.run.claimFor(a.address)).toMatchObject({ results: 2 })
  })

  it('does not vet, after a restart, a worker whose stored answers include a failed check', async () => {
    const { coin, extra } = harness({ 0: 0, 1: 1 })
    const first = await setup(5, 2, 2, undefined, 3600, extra)
    const [x, y] = [await generateIdentity(), await generateIdentity()]
    coin.value = 0
    const fx = lease(first.run.assign(x.peerId))
    expect(fx.taskIndex).toBe(0)
    await first.answer(x, fx, 100, 0)
    const wrong = lease(first.run.assign(x.peerId))
    expect(wrong.taskIndex).toBe(1)
    await first.answer(x, wrong, 100, 99)
    const fy = lease(first.run.assign(y.peerId))
    expect(fy.taskIndex).toBe(0)
    await first.answer(y, fy, 100, 0)
    await first.run.flush()
    // The restart lost the reputation write that excluded x.
    coin.value = 0.99
    const after = await setup(5, 2, 2, first.store, 3600, { ...extra, reputation: new Map() })
    const lx = lease(after.run.assign(x.peerId))
    const ly = lease(after.run.assign(y.peerId))
    expect(ly.taskIndex).toBe(lx.taskIndex)
    await after.answer(x, lx)
    await after.answer(y, ly)
    await after.run.settleReady()
    expect(after.run.results()[lx.taskIndex]!.status).toBe('accepted')
  })

  it('stores a wrong answer to a check that was already settled, so a restart still knows it', async () => {
    const { coin, extra } = harness({ 0: 0, 1: 1 })
    const first = await setup(5, 2, 2, undefined, 3600, extra)
    const [x, y] = [await generateIdentity(), await generateIdentity()]
    coin.value = 0
    for (const w of [y, x]) {
      const f = lease(first.run.assign(w.peerId))
      expect(f.taskIndex).toBe(0)
      await first.answer(w, f, 100, 0)
    }
    const y1 = lease(first.run.assign(y.peerId))
    expect(y1.taskIndex).toBe(1)
    await first.answer(y, y1, 100, 1)
    expect(first.run.results()[1]!.status).toBe('settled')
    const x1 = lease(first.run.assign(x.peerId))
    expect(x1.taskIndex).toBe(1)
    await first.answer(x, x1, 100, 99)
    await first.run.flush()
    const stored = (await first.store.listTasks(first.jobId))[1]!
    expect(stored.results.map((r) => r.worker)).toContain(x.address)
  })

  it("keeps an excluded worker's results and leases across a coordinator restart", async () => {
    const { coin, extra } = harness({ 0: 0 })
    const first = await setup(4, 2, 2, undefined, 3600, extra)
    const x = await generateIdentity()
    coin.value = 0
    await first.answer(x, lease(first.run.assign(x.peerId)), 100, 42)
    coin.value = 0.99
    const a = lease(first.run.assign(x.peerId))
    const b = lease(first.run.assign(x.peerId))
    await first.answer(x, a, 100, 13)
    await first.run.flush()
    const reputation = new Map([[x.address.toLowerCase(), { ...emptyRecord(), excluded: 'test' }]])
    const after = await setup(4, 2, 2, first.store, 3600, { ...extra, reputation })
    expect(await after.run.claimFor(x.address)).toMatchObject({ received: 2 })
    // The result sent before the restart is a duplicate; the lease taken before it is still its.
    expect(await after.answer(x, a, 100, 13)).toMatchObject({ status: 'duplicate' })
    expect(await after.answer(x, b, 100, 14)).toEqual({ type: 'result-ack', status: 'recorded' })
    expect(after.run.results()[b.taskIndex]!.agreeing).toEqual([])
  })

  it('gives a new worker a known-answer task by its NEW_CANARY_WITHIN-th lease even when the coin never says so', async () => {
    const { extra } = harness({ 0: 0 })
    const { run, answer } = await setup(10, 1, 1, undefined, 3600, extra)
    const w = await generateIdentity()
    const got: number[] = []
    for (let i = 0; i < NEW_CANARY_WITHIN; i++) {
      const l = lease(run.assign(w.peerId))
      got.push(l.taskIndex)
      await answer(w, l, 100, l.taskIndex === 0 ? 0 : l.taskIndex)
    }
    expect(got.slice(0, -1)).not.toContain(0)
    expect(got.at(-1)).toBe(0)
  })

  it('does not punish a known-task answer within floating-point noise of the known one', async () => {
    const { coin, extra } = harness({ 0: 0.5 })
    const { run, answer } = await setup(2, 1, 1, undefined, 3600, extra)
    const w = await generateIdentity()
    coin.value = 0
    const l = lease(run.assign(w.peerId))
    expect(l.taskIndex).toBe(0)
    expect(await answer(w, l, 100, 0.50000006)).toMatchObject({ status: 'recorded' })
    const summary = run.progress().workers.find((x) => x.address === w.address)
    expect(summary).toMatchObject({ canaryFailed: 0 })
    expect(summary?.excluded).toBeUndefined()
  })

  // A refusal, or anything else the worker could see at once, would tell it which task was a
  // check: its WebGPU results stop counting, and it notices from its claim (lib/jobs/worker.ts).
  it('stops counting, without telling or excluding it, a WebGPU path that was wrong on a check', async () => {
    const reputation = new Map<string, WorkerRecord>()
    const { coin, extra } = harness({ 0: 0, 1: 1 }, { reputation })
    const { run, answer, clock } = await setup(4, 1, 1, undefined, 3600, extra)
    const w = await generateIdentity()
    coin.value = 0
    const first = lease(run.assign(w.peerId))
    const second = lease(run.assign(w.peerId))
    expect([first.taskIndex, second.taskIndex].sort()).toEqual([0, 1])
    const pending = { type: 'result-ack', status: 'recorded' }
    expect(await answer(w, first, 100, 7, 'webgpu')).toEqual(pending)
    expect(await answer(w, second, 100, 7, 'webgpu')).toEqual(pending)
    const rec = reputation.get(w.address.toLowerCase())
    expect(rec?.excluded).toBeUndefined()
    expect(rec?.canaryFailed).toBe(0)
    expect(rec?.wasmOnly).toHaveLength(1)
    // Even a right WebGPU answer counts for nothing now; the same worker's WASM answers do.
    coin.value = 0.99
    const gpu = lease(run.assign(w.peerId))
    expect(await answer(w, gpu, 100, gpu.taskIndex, 'webgpu')).toEqual(pending)
    expect(run.results()[gpu.taskIndex]).toMatchObject({ status: 'open', agreeing: [] })
    const cpu = lease(run.assign(w.peerId))
    expect(cpu.taskIndex).not.toBe(gpu.taskIndex)
    await answer(w, cpu)
    expect(run.results()[cpu.taskIndex]!.status).toMatch(/accepted|settled/)
    // Its claim shows the WebGPU result decided and unpaid, after the delay any result waits:
    // what the worker switches to WASM on (lib/jobs/worker.ts).
    expect(await run.claimFor(w.address, { fresh: true })).toMatchObject({
      received: 4,
      decided: 0,
    })
    clock.now += 2000
    // All three of its WebGPU results (two checks, one ordinary task) count decided.
    expect(await run.claimFor(w.address, { fresh: true })).toMatchObject({ results: 0, decided: 3 })
  })

  // Red-team F6: two colluders labelled their results WebGPU, agreed on a wrong answer, then
  // failed a check each: demoted, not excluded, and the wrong answer settled and was paid.
  it('voids what a WebGPU path agreed on before it was wrong on a check', async () => {
    const { coin, extra } = harness({ 0: 0, 3: 3 })
    const { run, answer, clock } = await setup(5, 2, 2, undefined, 3600, extra)
    const [a, b] = [await generateIdentity(), await generateIdentity()]
    const [la, lb] = [lease(run.assign(a.peerId)), lease(run.assign(b.peerId))]
    expect(lb.taskIndex).toBe(la.taskIndex)
    await answer(a, la, 100, 99, 'webgpu')
    await answer(b, lb, 100, 99, 'webgpu')
    expect(run.results()[la.taskIndex]!.status).toBe('accepted')
    coin.value = 0
    for (const w of [a, b]) await answer(w, lease(run.assign(w.peerId)), 100, 42, 'webgpu')
    expect(run.results()[la.taskIndex]).toMatchObject({ status: 'open', agreeing: [] })
    coin.value = 0.99
    clock.now += 3_601_000
    await run.settleReady()
    run.assign(a.peerId)
    expect(run.results()[la.taskIndex]!.status).toBe('failed')
    expect(await run.claimFor(a.address, { fresh: true })).toMatchObject({ results: 0 })
  })

  // CI: an established worker took a failed-model job's tasks alone and reported the model
  // unusable; the tasks went on waiting for its result, and the job never failed.
  it('gives a task held by one trusted worker to others once that worker reports an error', async () => {
    const w = await generateIdentity()
    const reputation = new Map<string, WorkerRecord>([
      [
        w.address.toLowerCase(),
        { ...emptyRecord(), agreed: 30, canaryPassed: 2, consecutiveValid: 32 },
      ],
    ])
    const { extra } = harness({}, { reputation })
    const { run, jobId } = await setup(1, 2, 2, undefined, 3600, extra)
    const l = lease(run.assign(w.peerId))
    run.reportError(w.peerId, {
      type: 'task-error',
      jobId,
      taskIndex: l.taskIndex,
      leaseId: l.leaseId,
      code: 'model-unsupported',
      message: 'x',
    })
    const other = await generateIdentity()
    expect(lease(run.assign(other.peerId)).taskIndex).toBe(l.taskIndex)
  })

  it('lets an established worker run a task alone and settles it with its signature only', async () => {
    const w = await generateIdentity()
    const reputation = new Map<string, WorkerRecord>([
      [
        w.address.toLowerCase(),
        { ...emptyRecord(), agreed: 30, canaryPassed: 2, consecutiveValid: 32 },
      ],
    ])
    const { sent, extra } = harness({}, { reputation })
    const { run, answer, clock } = await setup(2, 3, 2, undefined, 3600, extra)
    // BOINC rule: verified with probability 1/32; the coin (0.99) says no.
    const l = lease(run.assign(w.peerId))
    const other = await generateIdentity()
    const l2 = lease(run.assign(other.peerId))
    expect(l2.taskIndex).not.toBe(l.taskIndex)
    await answer(w, l)
    expect(run.results()[l.taskIndex]!.status).toMatch(/accepted|settled/)
    expect(run.results()[l.taskIndex]).toMatchObject({
      verifiedBy: 'single',
      agreeing: [w.address],
    })
    // Held back for SINGLE_HOLD_MS while the job runs: a known-answer task may yet catch it.
    await run.settleReady()
    expect(sent).toEqual([])
    clock.now += SINGLE_HOLD_MS
    await run.settleReady()
    expect(sent.map((c) => [c.taskIndex, c.signers])).toEqual([[l.taskIndex, [w.address]]])
  })

  it('always replicates a new worker, whatever the coin says', async () => {
    const { extra } = harness({})
    const { run, answer } = await setup(1, 2, 2, undefined, 3600, extra)
    const w = await generateIdentity()
    const l = lease(run.assign(w.peerId))
    await answer(w, l)
    expect(run.results()[l.taskIndex]!.status).toBe('open')
  })

  it('reports a worker that signs two different results for one task, and excludes it', async () => {
    const seen: Array<{ worker: string; a: { resultHash: string }; b: { resultHash: string } }> = []
    const { extra } = harness({}, { onEquivocation: (e) => seen.push(e) })
    const { run, answer } = await setup(1, 2, 2, undefined, 3600, extra)
    const w = await generateIdentity()
    const l = lease(run.assign(w.peerId))
    await answer(w, l, 100, 1)
    expect(await answer(w, l, 100, 2)).toMatchObject({ status: 'rejected' })
    // A third signature is refused too, and not reported again: each report costs a slash.
    expect(await answer(w, l, 100, 3)).toMatchObject({ status: 'rejected' })
    expect(seen).toHaveLength(1)
    expect(seen[0]!.worker).toBe(w.address.toLowerCase())
    expect(seen[0]!.a.resultHash).not.toBe(seen[0]!.b.resultHash)
    expect(run.results()[0]!.voided).toEqual([w.address])
  })
})

describe('JobRun equivalence classes', () => {
  const wasm = { backend: 'wasm', runtime: 'onnxruntime-web 1.30.0' }
  const gpu = { backend: 'webgpu', runtime: 'onnxruntime-web 1.30.0' }
  /** Exact policy, every task replicated; task 0 is known (0.5): the job's fingerprint task. */
  const classed = async (n: number, store?: Store) => {
    const coin = { value: 0 }
    const s = await setup(n, 2, 2, store, 3600, {
      trust: trustSettings('high'),
      known: new Map([[0, outputsOf(0.5)]]),
      random: () => coin.value,
    })
    /** `w` meets the fingerprint task and answers it (0.5 bit-exact, or within float noise). */
    const fingerprint = async (w: Identity, value: number, req = wasm) => {
      coin.value = 0
      const l = lease(s.run.assign(w.peerId, req))
      expect(l.taskIndex).toBe(0)
      await s.answer(w, l, 100, value)
      coin.value = 0.99
      return l
    }
    return { ...s, coin, fingerprint }
  }

  // The class follows from the answer the coordinator checks, not from the work request: two
  // workers that claim different backends but answer alike share one.
  it('binds a task (exact policy) to the class its workers showed on the fingerprint task', async () => {
    const { run, fingerprint } = await classed(4)
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    await fingerprint(a, 0.5, gpu)
    await fingerprint(b, 0.5, wasm)
    await fingerprint(c, 0.50000006, wasm)
    // a and b answered bit-exactly: one class that can reach a quorum, so a's task is bound to it.
    expect(lease(run.assign(a.peerId, gpu)).taskIndex).toBe(1)
    // c's answer was near but not identical: another class (alone), kept off task 1.
    expect(lease(run.assign(c.peerId, gpu)).taskIndex).toBe(2)
    expect(lease(run.assign(b.peerId, wasm)).taskIndex).toBe(1)
  })

  it('keeps a worker that has shown no class off bound tasks', async () => {
    const { run, fingerprint } = await classed(4)
    const [a, b, stranger] = [
      await generateIdentity(),
      await generateIdentity(),
      await generateIdentity(),
    ]
    await fingerprint(a, 0.5)
    await fingerprint(b, 0.5)
    expect(lease(run.assign(a.peerId)).taskIndex).toBe(1)
    // Whatever it claims, a worker that has not answered the fingerprint task is in no class.
    expect(lease(run.assign(stranger.peerId, wasm)).taskIndex).toBe(2)
    expect(lease(run.assign(b.peerId)).taskIndex).toBe(1)
  })

  it("knows its workers' classes again after a restart, from the answers it stored", async () => {
    const first = await classed(5)
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    await first.fingerprint(a, 0.5)
    await first.fingerprint(b, 0.5)
    await first.fingerprint(c, 0.50000006)
    await first.run.flush()
    const { run } = await classed(5, first.store)
    // Classes come back from the stored answers; one can reach a quorum once its workers ask.
    expect(lease(run.assign(a.peerId)).taskIndex).toBe(1)
    expect(lease(run.assign(b.peerId)).taskIndex).toBe(1)
    expect(lease(run.assign(a.peerId)).taskIndex).toBe(2)
    // Task 2 is bound to a and b's class: c, in another, gets task 3.
    expect(lease(run.assign(c.peerId)).taskIndex).toBe(3)
  })

  it('lets go of a bound task once no worker of its class could still agree on it', async () => {
    const { run, answer, fingerprint } = await classed(3)
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    await fingerprint(a, 0.5)
    await fingerprint(b, 0.5)
    await fingerprint(c, 0.50000006)
    const la = lease(run.assign(a.peerId))
    const lb = lease(run.assign(b.peerId))
    expect([la.taskIndex, lb.taskIndex]).toEqual([1, 1])
    // The class's two workers disagree on task 1: both have had it, so it needs someone else.
    await answer(a, la)
    await answer(b, lb, 100, 77)
    expect(lease(run.assign(c.peerId)).taskIndex).toBe(1)
  })

  it('does not hold a task for a class whose other workers were excluded', async () => {
    const { run, answer, fingerprint } = await classed(3)
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    await fingerprint(a, 0.5)
    const lb = await fingerprint(b, 0.5)
    await fingerprint(c, 0.50000006)
    expect(lease(run.assign(a.peerId)).taskIndex).toBe(1)
    // b signs a second answer to task 0: excluded. It keeps asking; that keeps nothing bound.
    expect(await answer(b, lb, 100, 0.25)).toMatchObject({ status: 'rejected' })
    expect(run.assign(b.peerId)).toMatchObject({ type: 'lease' })
    expect(lease(run.assign(c.peerId)).taskIndex).toBe(1)
  })

  // Under `exact`, another backend's answer to a check is near, never equal: that shows it ran
  // the model. Were its results held until the job's end, its worker would stop at MAX_UNPAID.
  it("settles a task its class agreed on once its workers' other checks were within noise", async () => {
    const coin = { value: 0 }
    const s = await setup(5, 2, 2, undefined, 3600, {
      trust: trustSettings('high'),
      known: new Map([
        [0, outputsOf(0.5)],
        [4, outputsOf(4)],
      ]),
      random: () => coin.value,
    })
    const { run, answer } = s
    const [c, d] = [await generateIdentity(), await generateIdentity()]
    for (const w of [c, d]) {
      coin.value = 0
      const f = lease(run.assign(w.peerId))
      expect(f.taskIndex).toBe(0)
      await answer(w, f, 100, 0.50000006)
    }
    coin.value = 0.99
    const lc = lease(run.assign(c.peerId))
    const ld = lease(run.assign(d.peerId))
    expect(ld.taskIndex).toBe(lc.taskIndex)
    await answer(c, lc)
    await answer(d, ld)
    // The fingerprint task (every new worker's first check, so findable) vets no one.
    await run.settleReady()
    expect(run.results()[lc.taskIndex]?.status).toBe('accepted')
    for (const w of [c, d]) {
      coin.value = 0
      const check = lease(run.assign(w.peerId))
      expect(check.taskIndex).toBe(4)
      await answer(w, check, 100, 4.0000002)
    }
    await run.settleReady()
    expect(run.results()[lc.taskIndex]?.status).toBe('settled')
  })

  // Red-team F9: one colluder sat at its lease limit asking for work while its partner grabbed
  // every task, all bound to their class of two; honest workers were told all-leased.
  it('does not hold a task for a class whose only other worker is at its lease limit', async () => {
    const { run, answer, fingerprint } = await classed(10)
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    await fingerprint(a, 0.50000006)
    await fingerprint(b, 0.50000006)
    await fingerprint(c, 0.5)
    const held = new Set<number>()
    for (let i = 0; i < MAX_LEASES_PER_WORKER; i++) held.add(lease(run.assign(b.peerId)).taskIndex)
    expect(run.assign(b.peerId)).toMatchObject({ type: 'no-work', reason: 'busy' })
    // a answers the tasks b holds, then a fresh one: bound to their class, which b cannot take.
    let grabbed = lease(run.assign(a.peerId))
    while (held.has(grabbed.taskIndex)) {
      await answer(a, grabbed, 100, 77)
      grabbed = lease(run.assign(a.peerId))
    }
    await answer(a, grabbed, 100, 77)
    expect(run.assign(b.peerId)).toMatchObject({ reason: 'busy' })
    expect(lease(run.assign(c.peerId)).taskIndex).toBe(grabbed.taskIndex)
  })

  it('does not strand a task on a class with a lone worker', async () => {
    const { run, fingerprint } = await classed(2)
    const [lone, x] = [await generateIdentity(), await generateIdentity()]
    await fingerprint(lone, 0.50000006)
    await fingerprint(x, 0.5)
    const first = lease(run.assign(lone.peerId))
    const second = lease(run.assign(x.peerId))
    expect(second.taskIndex).toBe(first.taskIndex)
  })
})

describe('JobRun claims', () => {
  /** Two workers agree on task i, a third dissents (r = 3, quorum 2). */
  const agreeOnFirst = async (extra: Partial<JobRunInit> = {}, store?: Store) => {
    const s = await setup(2, 3, 2, store, 3600, { trust: trustSettings('high'), ...extra })
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    const la = lease(s.run.assign(a.peerId))
    const lb = lease(s.run.assign(b.peerId))
    const lc = lease(s.run.assign(c.peerId))
    expect(new Set([la.taskIndex, lb.taskIndex, lc.taskIndex]).size).toBe(1)
    await s.answer(a, la)
    await s.answer(b, lb)
    await s.answer(c, lc, 100, 77)
    return { ...s, a, b, c, task: la.taskIndex }
  }

  // A worker's pay is the coordinator's signature over its cumulative count, and only the
  // coordinator named on chain can make one: nothing else the worker holds is redeemable.
  it('pays each agreeing worker with a claim the coordinator signed, as soon as the task is settled', async () => {
    const { run, a, b, c } = await agreeOnFirst()
    // Settled as it was accepted (no trust rule holds it back): the claims pay for it at once.
    for (const w of [a, b]) {
      const claim = await run.claimFor(w.address)
      expect(claim).toMatchObject({ worker: w.address, results: 1, received: 1, decided: 1 })
      const signer = await recoverClaimSigner(
        DOMAIN,
        { jobId: claim!.jobId as `0x${string}`, worker: w.address, results: 1 },
        claim!.signature as `0x${string}`,
      )
      expect(signer).toBe(COORDINATOR.address)
    }
    // The dissenter is told its result was decided, and that it is not paid for it.
    expect(await run.claimFor(c.address)).toMatchObject({ results: 0, received: 1, decided: 1 })
    // A worker that sent nothing gets no claim at all.
    expect(await run.claimFor((await generateIdentity()).address)).toBeUndefined()
    expect(await run.allClaims()).toHaveLength(2)
  })

  // With r = 3 and quorum 2, the third replica is leased with the others and usually answers
  // after the quorum settled the task: it agrees, and it is paid like them.
  it('pays a replica that agrees after its task was settled', async () => {
    const s = await setup(1, 3, 2, undefined, 3600, { trust: trustSettings('high') })
    const [a, b, c] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    const [la, lb, lc] = [a, b, c].map((w) => lease(s.run.assign(w.peerId)))
    await s.answer(a, la!)
    await s.answer(b, lb!)
    expect(s.run.results()[0]?.status).toBe('settled')
    expect(await s.answer(c, lc!)).toMatchObject({ status: 'recorded' })
    expect(s.run.results()[lc!.taskIndex]!.status).toMatch(/accepted|settled/)
    expect(await s.run.claimFor(c.address)).toMatchObject({ results: 1, decided: 1 })
    expect((await s.run.allClaims()).map((x) => x.results)).toEqual([1, 1, 1])
  })

  // A restarted coordinator (a reloaded tab) signs from what the store holds: the same counts,
  // and settling again never counts a task twice.
  it('signs the same claims after a restart and never counts a settled task twice', async () => {
    const store = await openMemoryStore()
    const first = await agreeOnFirst({}, store)
    await first.run.settleReady()
    await first.run.settleReady()
    expect((await first.run.claimFor(first.a.address))?.results).toBe(1)
    const again = await setup(2, 3, 2, store, 3600, { trust: trustSettings('high') })
    await again.run.settleReady()
    expect(await again.run.claimFor(first.a.address)).toMatchObject({ results: 1, decided: 1 })
    expect(await again.run.claimFor(first.c.address)).toMatchObject({ results: 0, decided: 1 })
  })

  // Workers whose replicas reached quorum before the deadline did the work in time: they are
  // paid (claims are redeemable in the escrow's claim window), not failed with the task.
  it('pays, at the deadline, tasks that reached quorum but were not settled yet', async () => {
    const { run, clock, a, task } = await agreeOnFirst()
    clock.now += 3601_000
    await run.settleReady()
    const final = await run.done
    expect(final.status).toBe('expired')
    expect(run.results()[task]?.status).toBe('settled')
    expect((await run.claimFor(a.address))?.results).toBe(1)
  })

  // Issue: a check task leased again after it settled was told "accepted" and never paid, and
  // its worker could see on chain that it was a check. Every new worker must still meet a check
  // (a job has few), so settled checks are still leased, and a correct answer is paid.
  // A known-answer task is decided by the first correct answer. Were that ack to say accepted,
  // or its claim to grow at once, the worker would know the task was a check.
  it("moves a check's claim as late as an ordinary result waits for its task's decision", async () => {
    const [a, b, w] = [await generateIdentity(), await generateIdentity(), await generateIdentity()]
    const vetted = { ...emptyRecord(), canaryPassed: 1 }
    const reputation = new Map([
      [a.address.toLowerCase(), { ...vetted }],
      [b.address.toLowerCase(), { ...vetted }],
      [w.address.toLowerCase(), { ...vetted }],
    ])
    const coin = { value: 0.99 }
    const { run, answer, clock } = await setup(4, 2, 2, undefined, 3600, {
      trust: trustSettings('high'),
      known: new Map([[0, outputsOf(0)]]),
      random: () => coin.value,
      holdRandom: () => 0,
      reputation,
    })
    // An ordinary task: a's result waits 5 s for b's.
    const [la, lb] = [lease(run.assign(a.peerId)), lease(run.assign(b.peerId))]
    expect(lb.taskIndex).toBe(la.taskIndex)
    await answer(a, la)
    clock.now += 5000
    await answer(b, lb)
    expect(run.results()[la.taskIndex]!.status).toBe('settled')
    // The check is decided by w's answer at once; w's claim moves 5 s later (the draw: a's wait).
    coin.value = 0
    const check = lease(run.assign(w.peerId))
    expect(check.taskIndex).toBe(0)
    expect(await answer(w, check, 100, 0)).toEqual({ type: 'result-ack', status: 'recorded' })
    expect(run.results()[0]?.status).toBe('settled')
    clock.now += 4999
    expect(await run.claimFor(w.address, { fresh: true })).toMatchObject({
      results: 0,
      received: 1,
      decided: 0,
    })
    clock.now += 1
    expect(await run.claimFor(w.address, { fresh: true })).toMatchObject({
      results: 1,
      received: 1,
      decided: 1,
    })
  })

  // A worker reads decided − results as its results decided and not paid (lib/jobs/worker.ts
  // switches WebGPU off on it): a claim reused on the busy path must not look like dissent.
  it('never shows paid results as decided and unpaid while it reuses a signed claim', async () => {
    const { run, answer } = await setup(6, 1, 1)
    const w = await generateIdentity()
    for (let i = 0; i < 3; i++) {
      await answer(w, lease(run.assign(w.peerId)))
      const c = (await run.claimFor(w.address))!
      expect(c.decided - c.results).toBe(0)
    }
    expect((await run.claimFor(w.address))!.results).toBeLessThan(3)
    expect(await run.claimFor(w.address, { fresh: true })).toMatchObject({ results: 3, decided: 3 })
  })

  it("pays a check's answer at the job's end when no ordinary task of its worker follows", async () => {
    const coin = { value: 0 }
    const { run, answer } = await setup(2, 1, 1, undefined, 3600, {
      trust: trustSettings('standard'),
      known: new Map([[0, outputsOf(0)]]),
      random: () => coin.value,
    })
    const [w, other] = [await generateIdentity(), await generateIdentity()]
    const check = lease(run.assign(w.peerId))
    expect(check.taskIndex).toBe(0)
    await answer(w, check, 100, 0)
    coin.value = 0.99
    const l = lease(run.assign(other.peerId))
    expect(l.taskIndex).toBe(1)
    await answer(other, l)
    await run.settleReady()
    expect(run.progress().status).toBe('complete')
    expect(await run.claimFor(w.address, { fresh: true })).toMatchObject({ results: 1, decided: 1 })
  })

  it('leases a settled known-answer task again; a correct answer beyond its replicas is decided, not paid', async () => {
    const known = new Map([[0, outputsOf(0)]])
    const [w, late, wrong] = [
      await generateIdentity(),
      await generateIdentity(),
      await generateIdentity(),
    ]
    // w passed a check before (the fingerprint task vets no one): its answer settles task 0.
    const reputation = new Map([[w.address.toLowerCase(), { ...emptyRecord(), canaryPassed: 1 }]])
    const { run, answer } = await setup(3, 1, 1, undefined, 3600, {
      trust: trustSettings('standard'),
      known,
      random: () => 0,
      reputation,
    })
    const first = lease(run.assign(w.peerId))
    expect(first.taskIndex).toBe(0)
    await answer(w, first, 100, 0)
    await run.settleReady()
    expect(run.results()[0]?.status).toBe('settled')
    const again = lease(run.assign(late.peerId))
    expect(again.taskIndex).toBe(0)
    const ack = await answer(late, again, 100, 0)
    expect(ack).toMatchObject({ status: 'recorded' })
    // replicas = 1: the escrow holds one result for the task, already paid. Nor is it counted
    // decided while the job runs: a check's answer moves a claim no sooner than a replica's.
    expect(await run.claimFor(late.address)).toMatchObject({ results: 0, received: 1, decided: 0 })
    // A wrong answer to it is caught like any check's, and paid nothing.
    const third = lease(run.assign(wrong.peerId))
    expect(third.taskIndex).toBe(0)
    expect(await answer(wrong, third, 100, 42)).toMatchObject({ status: 'recorded' })
    expect(run.progress().workers.find((x) => x.address === wrong.address)?.excluded).toMatch(
      /known-answer/,
    )
    expect(await run.claimFor(wrong.address)).toMatchObject({ results: 0 })
  })
})

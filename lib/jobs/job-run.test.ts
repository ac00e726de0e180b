import { describe, expect, it } from 'vitest'
import { createLogger } from '../env/log'
import { commitInputs, parseInputsJson } from '../proofs'
import { seededInputs } from '../runtime/examples'
import { openMemoryStore } from '../store/memory-node'
import { JobRun } from './job-run'

describe('JobRun', () => {
  // A requester waiting on `done` (the CLI, the job page) must learn the job is over at the
  // deadline even when no volunteer ever asks for work again.
  it('expires at the deadline without any worker asking, failing unfinished tasks', async () => {
    const store = await openMemoryStore()
    const inputs = parseInputsJson(seededInputs(1, 2, { x: [1, 4] }))
    const jobId = `0x${'aa'.repeat(32)}` as const
    let now = 1_000_000
    const job = {
      jobId,
      spec: {
        modelHash: `0x${'bb'.repeat(32)}` as const,
        inputsRoot: commitInputs(inputs).root,
        taskCount: 2,
        replicas: 2,
        quorum: 2,
        policy: { kind: 'exact' as const },
        rewardPerResult: 1n,
        deadline: now / 1000 + 60,
      },
      chainId: 31337,
      contract: `0x${'cc'.repeat(20)}` as const,
      requester: `0x${'dd'.repeat(20)}` as const,
      createdAt: now,
      status: 'running' as const,
    }
    const tasks = inputs.map((t, taskIndex) => ({
      jobId,
      taskIndex,
      status: 'open' as const,
      inputs: t,
      results: [],
    }))
    const run = new JobRun({
      job,
      tasks,
      store,
      settler: async () => {
        throw new Error('nothing to settle')
      },
      log: createLogger('test'),
      workerStats: new Map(),
      now: () => now,
    })
    await run.settleReady()
    expect(run.status).toBe('running')
    now += 61_000
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
})

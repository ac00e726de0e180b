import { describe, expect, it } from 'vitest'
import { openMemoryStore } from './memory-node'

const jobId = `0x${'ab'.repeat(32)}` as const

describe('store', () => {
  it('keeps tasks with typed arrays and bigints across reopen', async () => {
    const a = await openMemoryStore('reopen-test')
    await a.putJob({
      jobId,
      spec: {
        modelHash: jobId,
        inputsRoot: jobId,
        taskCount: 2,
        replicas: 3,
        quorum: 2,
        policy: { kind: 'exact' },
        rewardPerResult: 10n ** 15n,
        deadline: 2e9,
        coordinator: `0x${'cd'.repeat(20)}`,
      },
      chainId: 31337,
      contract: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      requester: '0x5FbDB2315678afecb367f032d93F642f64180aa3',
      createdAt: 1,
      status: 'running',
    })
    await a.putTasks(
      [0, 1].map((i) => ({
        jobId,
        taskIndex: i,
        status: 'open' as const,
        inputs: {
          x: { type: 'float32' as const, dims: [2], data: Float32Array.from([i, i + 0.5]) },
        },
        results: [],
      })),
    )
    a.close()
    // A reload: a new connection to the same database sees everything.
    const b = await openMemoryStore('reopen-test')
    expect((await b.getJob(jobId))?.spec.rewardPerResult).toBe(10n ** 15n)
    const tasks = await b.listTasks(jobId)
    expect(tasks.map((t) => t.taskIndex)).toEqual([0, 1])
    expect(Array.from(tasks[1]!.inputs.x!.data as Float32Array)).toEqual([1, 1.5])
    expect(tasks[1]!.inputs.x!.data).toBeInstanceOf(Float32Array)
    b.close()
  })

  it('keeps separate memory stores apart', async () => {
    const a = await openMemoryStore()
    const b = await openMemoryStore()
    await a.setMeta('k', 1)
    expect(await b.getMeta('k')).toBeUndefined()
    expect(await a.getMeta('k')).toBe(1)
  })

  it('deletes outbox entries by key only', async () => {
    const s = await openMemoryStore()
    const base = {
      coordinator: 'p',
      leaseId: 'l',
      resultHash: jobId,
      signature: jobId,
      outputs: {},
      backend: 'wasm',
      createdAt: 0,
    }
    await s.putOutbox({ ...base, jobId, taskIndex: 1 })
    await s.putOutbox({ ...base, jobId, taskIndex: 2 })
    await s.deleteOutbox(jobId, 1)
    expect((await s.listOutbox()).map((o) => o.taskIndex)).toEqual([2])
  })
})

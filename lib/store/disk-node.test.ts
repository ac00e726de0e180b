import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { claimStore, openDiskStore } from './disk-node'

const jobId = `0x${'ab'.repeat(32)}` as const
const other = `0x${'ac'.repeat(32)}` as const
const dir = () => mkdtempSync(join(tmpdir(), 'meshwork-store-'))

const task = (id: `0x${string}`, i: number) => ({
  jobId: id,
  taskIndex: i,
  status: 'open' as const,
  inputs: { x: { type: 'float32' as const, dims: [2], data: Float32Array.from([i, i + 0.5]) } },
  results: [],
})

describe('disk store', () => {
  it('keeps typed arrays, bigints and task order across reopen', async () => {
    const file = join(dir(), 'store.sqlite')
    const a = openDiskStore(file)
    await a.setMeta('reward', 10n ** 15n)
    // Out of order, across the 9 → 10 boundary, with another job's tasks beside them.
    await a.putTasks([12, 3, 10, 0].map((i) => task(jobId, i)))
    await a.putTask(task(other, 1))
    a.close()
    const b = openDiskStore(file)
    expect(await b.getMeta('reward')).toBe(10n ** 15n)
    const tasks = await b.listTasks(jobId)
    expect(tasks.map((t) => t.taskIndex)).toEqual([0, 3, 10, 12])
    expect(tasks[3]!.inputs.x!.data).toBeInstanceOf(Float32Array)
    expect(Array.from(tasks[3]!.inputs.x!.data as Float32Array)).toEqual([12, 12.5])
    expect((await b.listTasks(other)).map((t) => t.taskIndex)).toEqual([1])
    b.close()
    expect(statSync(file).mode & 0o077).toBe(0)
  })

  it('stores a signed record once: the first one stays', async () => {
    const s = openDiskStore(join(dir(), 'store.sqlite'))
    const first = {
      jobId,
      taskIndex: 4,
      resultHash: jobId,
      signature: jobId,
      signedAt: 1,
      deadline: 9,
    }
    expect(await s.putSignedOnce(first)).toEqual(first)
    const second = { ...first, resultHash: other, signedAt: 2 }
    expect(await s.putSignedOnce(second)).toEqual(first)
    expect(await s.getSigned(jobId, 4)).toEqual(first)
    s.close()
  })

  it('deletes outbox entries by key only', async () => {
    const s = openDiskStore(join(dir(), 'store.sqlite'))
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
    s.close()
  })

  it('loses no written record when its process is killed with SIGKILL', async () => {
    const file = join(dir(), 'store.sqlite')
    // A child writes tasks one at a time, says how many it wrote, and is killed mid-stream.
    const script = `
      import { openDiskStore } from ${JSON.stringify(join(import.meta.dirname, 'disk-node.ts'))}
      const s = openDiskStore(${JSON.stringify(file)})
      for (let i = 0; ; i++) {
        await s.putTask({ jobId: '${jobId}', taskIndex: i, status: 'open', inputs: {}, results: [] })
        process.stdout.write(i + '\\n')
      }
    `
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let written = -1
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        const lines = d.toString().trim().split('\n')
        written = Number(lines[lines.length - 1])
        if (written >= 200) {
          child.kill('SIGKILL')
          resolve()
        }
      })
    })
    await new Promise((r) => child.once('exit', r))
    const s = openDiskStore(file)
    const tasks = await s.listTasks(jobId)
    // Everything the child reported written is there (it may have written a few more).
    expect(tasks.length).toBeGreaterThanOrEqual(written + 1)
    expect(tasks.slice(0, written + 1).map((t) => t.taskIndex)).toEqual(
      Array.from({ length: written + 1 }, (_, i) => i),
    )
    s.close()
  })

  it('lets one process at a time claim a store, and takes over a dead process lock', () => {
    const file = join(dir(), 'store.sqlite')
    const release = claimStore(file)
    expect(() => claimStore(`${file}`)).not.toThrow() // its own pid: the same process may reopen
    release()
    // A live other process holds it: refused, naming the pid.
    writeFileSync(`${file}.lock`, `${process.ppid}\n`)
    expect(() => claimStore(file)).toThrow(/in use by another Meshwork process \(pid \d+\)/)
    // A lock left by a process that is gone is taken over.
    writeFileSync(`${file}.lock`, '2147483646\n')
    const again = claimStore(file)
    again()
    expect(existsSync(`${file}.lock`)).toBe(false)
  })

  // A SIGKILLed process whose parent does not reap it (a container's init, a parent killed with
  // it) stays a zombie and still answers signal 0: CI's durable test was refused its store so.
  it.runIf(process.platform === 'linux')('takes over the lock of a zombie process', async () => {
    const file = join(dir(), 'store.sqlite')
    // `sleep 0` exits at once; its parent, `exec sleep 5`, never waits for it.
    const sh = spawn('sh', ['-c', 'sleep 0 & echo $!; exec sleep 5'], {
      stdio: ['ignore', 'pipe', 'ignore'],
    })
    const pid = Number(
      await new Promise<string>((r) => sh.stdout!.once('data', (d) => r(String(d)))),
    )
    for (let i = 0; i < 50 && !readFileSync(`/proc/${pid}/stat`, 'utf8').includes(') Z '); i++)
      await new Promise((r) => setTimeout(r, 20))
    expect(readFileSync(`/proc/${pid}/stat`, 'utf8')).toContain(') Z ')
    writeFileSync(`${file}.lock`, `${pid}\n`)
    try {
      claimStore(file)()
    } finally {
      sh.kill('SIGKILL')
    }
  })

  it('refuses a store written by a newer version', async () => {
    const file = join(dir(), 'store.sqlite')
    openDiskStore(file).close()
    const Database = (await import('better-sqlite3')).default
    const db = new Database(file)
    db.pragma('user_version = 99')
    db.close()
    expect(() => openDiskStore(file)).toThrow(/newer Meshwork \(store version 99/)
  })
})

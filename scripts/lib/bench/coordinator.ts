/**
 * Section 10: what one coordinator spends per work request and per result, in process: JobRun
 * with the Node coordinator's disk store (SQLite) and real signatures, no network. Simulated
 * workers take leases in turn and answer each at once (their signing is not counted), for the
 * first `results` results of jobs of growing size: the cost per message must not grow with the
 * job's tasks. The mesh around it (streams, framing, gossip) is measured in sections 3 and 9.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLogger } from '../../../lib/env/log'
import { JobRun, type WorkerTiming } from '../../../lib/jobs/job-run'
import { generateIdentity, type Identity, toWireTensors } from '../../../lib/mesh'
import {
  commitInputs,
  parseInputsJson,
  resultHash,
  signClaim,
  signResult,
  type TensorMap,
} from '../../../lib/proofs'
import { seededInputs } from '../../../lib/runtime/examples'
import { openDiskStore } from '../../../lib/store/disk-node'
import { trustSettings } from '../../../lib/trust'
import { summarize } from './stats'

export interface CoordinatorRow {
  workers: number
  tasks: number
  /** Results submitted (the first of the job's tasks × replicas). */
  results: number
  /** One work request (`assign`), wall µs: it is synchronous. */
  assignUs: { p50: number; p95: number }
  /** CPU µs per result (`submit`: signature recovery, verdict, store write, claim growth). */
  resultCpuUs: number
  /** Results one core could accept per second at that cost. */
  resultsPerCoreS: number
  /** Heap after the run (MiB), the job's tasks included. */
  heapMiB: number
}

const CONTRACT = `0x${'cc'.repeat(20)}` as const
const DOMAIN = { chainId: 31337, contract: CONTRACT }
const POLICY = { kind: 'round' as const, digits: 3 }

async function runOnce(
  workers: Identity[],
  tasks: number,
  results: number,
  coordinator: Identity,
): Promise<CoordinatorRow> {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-coordinator-bench-'))
  const store = openDiskStore(join(dir, 'store.sqlite'))
  try {
    const inputs = parseInputsJson(seededInputs(1, tasks, { x: [1, 4] }))
    const jobId = `0x${'ab'.repeat(32)}` as const
    let now = 1_000_000
    const job = {
      jobId,
      spec: {
        modelHash: `0x${'bb'.repeat(32)}` as const,
        inputsRoot: commitInputs(inputs).root,
        taskCount: tasks,
        replicas: 2,
        quorum: 2,
        policy: POLICY,
        rewardPerResult: 1n,
        deadline: now / 1000 + 36_000,
        coordinator: coordinator.address,
      },
      chainId: DOMAIN.chainId,
      contract: CONTRACT,
      requester: `0x${'dd'.repeat(20)}` as const,
      createdAt: now,
      status: 'running' as const,
    }
    const records = inputs.map((t, taskIndex) => ({
      jobId,
      taskIndex,
      status: 'open' as const,
      inputs: t,
      results: [],
    }))
    await store.putTasks(records)
    const run = new JobRun({
      job,
      tasks: records,
      store,
      signClaim: (c) => signClaim(coordinator.account, DOMAIN, c),
      log: createLogger('bench'),
      workerStats: new Map<string, WorkerTiming>(),
      now: () => now,
      trust: trustSettings('standard'),
    })
    const assignNs: number[] = []
    let cpuUs = 0
    let submitted = 0
    const outputs = (i: number): TensorMap => ({
      y: { type: 'float32', dims: [1], data: new Float32Array([i]) },
    })
    while (submitted < results) {
      for (const w of workers) {
        if (submitted >= results) break
        now += 1
        const a0 = process.hrtime.bigint()
        const res = run.assign(w.peerId, { backend: 'wasm', runtime: 'bench' })
        assignNs.push(Number(process.hrtime.bigint() - a0))
        if (res.type !== 'lease') continue
        const o = outputs(res.taskIndex)
        const hash = resultHash(o, POLICY)
        const signature = await signResult(w.account, DOMAIN, {
          jobId,
          taskIndex: res.taskIndex,
          resultHash: hash,
        })
        const c0 = process.cpuUsage()
        await run.submit(w.peerId, {
          type: 'result',
          jobId,
          taskIndex: res.taskIndex,
          leaseId: res.leaseId,
          resultHash: hash,
          signature,
          backend: 'wasm',
          computeMs: 1,
          outputs: toWireTensors(o),
        })
        const c = process.cpuUsage(c0)
        cpuUs += c.user + c.system
        submitted++
      }
      await run.settleReady()
      if (run.status !== 'running') break
    }
    await run.flush()
    const assign = summarize(assignNs.map((ns) => ns / 1000))
    const resultCpuUs = cpuUs / Math.max(1, submitted)
    return {
      workers: workers.length,
      tasks,
      results: submitted,
      assignUs: assign,
      resultCpuUs,
      resultsPerCoreS: 1e6 / resultCpuUs,
      heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
    }
  } finally {
    store.close()
    rmSync(dir, { recursive: true, force: true })
  }
}

export async function coordinatorBench(
  quick: boolean,
  say: (s: string) => void,
): Promise<CoordinatorRow[]> {
  const workerCount = quick ? 200 : 1000
  const results = quick ? 1000 : 4000
  const sizes = quick ? [1000, 10_000] : [1000, 10_000, 100_000]
  const coordinator = await generateIdentity()
  const workers: Identity[] = []
  for (let i = 0; i < workerCount; i++) workers.push(await generateIdentity())
  const rows: CoordinatorRow[] = []
  for (const tasks of sizes) {
    const row = await runOnce(workers, tasks, results, coordinator)
    say(
      `  ${row.workers} workers, ${tasks.toLocaleString('en-US')} tasks: assign p50 ${row.assignUs.p50.toFixed(0)} µs p95 ${row.assignUs.p95.toFixed(0)} µs, ${row.resultCpuUs.toFixed(0)} µs CPU per result (${row.resultsPerCoreS.toFixed(0)}/s per core)`,
    )
    rows.push(row)
  }
  return rows
}

const fmt = (n: number, d = 0) => n.toLocaleString('en-US', { maximumFractionDigits: d })

export function coordinatorSection(rows: CoordinatorRow[] | undefined, rerunAt?: string): string {
  if (!rows || rows.length === 0) return ''
  return `## 10. Coordinator cost per message

${rerunAt ? `Section 10 ran on its own on ${rerunAt} (\`npm run bench -- --only coordinator\`).\n\n` : ''}One coordinator's own work, in process (\`scripts/lib/bench/coordinator.ts\`): JobRun with the Node
coordinator's disk store (SQLite), real signatures, no network; ${fmt(rows[0]!.workers)} simulated workers take leases in turn
and answer at once (their signing is not counted), r = 2, for the first ${fmt(rows[0]!.results)} results of jobs of growing size.
A work request (\`assign\`) is synchronous, timed on the wall clock; a result (\`submit\`: signature
recovery, verdict, store write, claim) by the CPU time it took. Issue 16's goal is 2,000 accepted results/s
for a Node coordinator with 1,000 volunteers: "per core" is what one core could accept at this cost.

| workers | tasks | results | assign p50 µs | assign p95 µs | CPU µs per result | results/s per core | heap MiB |
|---|---|---|---|---|---|---|---|
${rows.map((r) => `| ${fmt(r.workers)} | ${fmt(r.tasks)} | ${fmt(r.results)} | ${fmt(r.assignUs.p50)} | ${fmt(r.assignUs.p95)} | ${fmt(r.resultCpuUs)} | ${fmt(r.resultsPerCoreS)} | ${fmt(r.heapMiB)} |`).join('\n')}

`
}

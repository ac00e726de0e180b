/**
 * Section 10: what one coordinator spends per work request and per result, in process: JobRun
 * with the Node coordinator's disk store (SQLite) and real signatures, no network. Simulated
 * workers ask for work in turn and deliver together (their signing is not counted), for the
 * first `results` results of jobs of growing size: the cost per message must not grow with the
 * job's tasks. The mesh around it (streams, framing, gossip) is measured in sections 3 and 9.
 */
import { mkdtempSync, rmSync } from 'node:fs'
import { availableParallelism, tmpdir } from 'node:os'
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
import { startRecoveryPool } from '../../../lib/proofs/recover-pool-node'
import { seededInputs } from '../../../lib/runtime/examples'
import { openDiskStore } from '../../../lib/store/disk-node'
import { trustSettings } from '../../../lib/trust'
import { summarize } from './stats'

export interface CoordinatorRow {
  workers: number
  tasks: number
  /** Signature-recovery threads (lib/proofs/recover-pool-node.ts); 0: on the event loop. */
  recoveryThreads: number
  /** Results submitted (the first of the job's tasks × replicas). */
  results: number
  /** Results accepted per second of wall time while the workers' results arrived at once. */
  resultsPerS: number
  /** One work request (`assign`), wall µs: it is synchronous. */
  assignUs: { p50: number; p95: number }
  /** CPU µs per result, all threads (`submit`: signature recovery, verdict, store write, claim). */
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
  recoveryThreads: number,
): Promise<CoordinatorRow> {
  const dir = mkdtempSync(join(tmpdir(), 'meshwork-coordinator-bench-'))
  const store = openDiskStore(join(dir, 'store.sqlite'))
  const pool = recoveryThreads > 0 ? startRecoveryPool(recoveryThreads) : undefined
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
      recoverSigner: pool?.recover,
      log: createLogger('bench'),
      workerStats: new Map<string, WorkerTiming>(),
      now: () => now,
      trust: trustSettings('standard'),
    })
    const assignNs: number[] = []
    let cpuUs = 0
    let wallMs = 0
    let submitted = 0
    const outputs = (i: number): TensorMap => ({
      y: { type: 'float32', dims: [1], data: new Float32Array([i]) },
    })
    // Rounds: every worker asks for work (each request timed), the workers sign their results
    // (not counted), then all of them deliver at once, as a busy mesh would.
    while (submitted < results && run.status === 'running') {
      const leases: Array<{ w: Identity; taskIndex: number; leaseId: string }> = []
      for (const w of workers) {
        if (submitted + leases.length >= results) break
        now += 1
        const a0 = process.hrtime.bigint()
        const res = run.assign(w.peerId, { backend: 'wasm', runtime: 'bench' })
        assignNs.push(Number(process.hrtime.bigint() - a0))
        if (res.type === 'lease') leases.push({ w, taskIndex: res.taskIndex, leaseId: res.leaseId })
      }
      const signed = await Promise.all(
        leases.map(async (l) => {
          const o = outputs(l.taskIndex)
          const hash = resultHash(o, POLICY)
          const signature = await signResult(l.w.account, DOMAIN, {
            jobId,
            taskIndex: l.taskIndex,
            resultHash: hash,
          })
          return { ...l, hash, signature, wire: toWireTensors(o) }
        }),
      )
      const c0 = process.cpuUsage()
      const t0 = performance.now()
      await Promise.all(
        signed.map((l) =>
          run.submit(l.w.peerId, {
            type: 'result',
            jobId,
            taskIndex: l.taskIndex,
            leaseId: l.leaseId,
            resultHash: l.hash,
            signature: l.signature,
            backend: 'wasm',
            computeMs: 1,
            outputs: l.wire,
          }),
        ),
      )
      wallMs += performance.now() - t0
      const c = process.cpuUsage(c0)
      cpuUs += c.user + c.system
      submitted += signed.length
      await run.settleReady()
    }
    await run.flush()
    const assign = summarize(assignNs.map((ns) => ns / 1000))
    const resultCpuUs = cpuUs / Math.max(1, submitted)
    return {
      workers: workers.length,
      tasks,
      recoveryThreads: pool?.size ?? 0,
      results: submitted,
      resultsPerS: (submitted / wallMs) * 1000,
      assignUs: assign,
      resultCpuUs,
      resultsPerCoreS: 1e6 / resultCpuUs,
      heapMiB: process.memoryUsage().heapUsed / 2 ** 20,
    }
  } finally {
    await pool?.close()
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
  // On the event loop for each size; then the largest job with recovery threads on the other cores.
  const threads = Math.min(8, Math.max(1, availableParallelism() - 1))
  const runs = [...sizes.map((t) => [t, 0] as const), [sizes.at(-1)!, threads] as const]
  for (const [tasks, recoveryThreads] of runs) {
    const row = await runOnce(workers, tasks, results, coordinator, recoveryThreads)
    say(
      `  ${row.workers} workers, ${tasks.toLocaleString('en-US')} tasks, ${recoveryThreads} recovery threads: assign p50 ${row.assignUs.p50.toFixed(0)} µs p95 ${row.assignUs.p95.toFixed(0)} µs, ${row.resultsPerS.toFixed(0)} results/s, ${row.resultCpuUs.toFixed(0)} µs CPU per result`,
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
and answer at once (their signing is not counted), r = 2, for the first ${fmt(Math.max(...rows.map((r) => r.results)))} results of jobs of growing size (all of a smaller job's).
In rounds, every worker asks for work (each request timed: \`assign\` is synchronous), then all of
them deliver their results at once (\`submit\`: signature recovery, verdict, store write, claim):
**results/s** is their number over the wall time of those deliveries, **CPU µs per result** the CPU of
all threads in that time, and **per core** what one core could accept at that cost. The last row
recovers signatures on worker threads (\`lib/proofs/recover-pool-node.ts\`; \`meshwork submit\`'s
\`--recovery-threads\`, cores − 1 by default). Issue 16's goal is 2,000 accepted results/s for a
Node coordinator with 1,000 volunteers. **heap** is the process's after each row (the rows run one
after another in one process, so it includes what earlier rows left).

| workers | tasks | recovery threads | results | assign p50 µs | assign p95 µs | results/s | CPU µs per result | results/s per core | heap MiB |
|---|---|---|---|---|---|---|---|---|---|
${rows.map((r) => `| ${fmt(r.workers)} | ${fmt(r.tasks)} | ${r.recoveryThreads} | ${fmt(r.results)} | ${fmt(r.assignUs.p50)} | ${fmt(r.assignUs.p95)} | ${fmt(r.resultsPerS)} | ${fmt(r.resultCpuUs)} | ${fmt(r.resultsPerCoreS)} | ${fmt(r.heapMiB)} |`).join('\n')}

`
}

/**
 * Mesh overhead and quorum latency, with Node volunteers speaking the real protocol over a real
 * relay and WebRTC (inside the private network namespace), against the same volunteers' compute
 * fed from a local in-process queue.
 *
 * Tasks are the catalogue's small MLP padded to a fixed duration (`paddedCompute`), so a task
 * costs about `taskMs` whatever the machine, and the volunteers (one process, two cores) do not
 * compete for CPU: what differs between the two runs is the mesh (announcement, leases, result
 * delivery, quorum, acknowledgements).
 *
 * Throughput is measured in the steady state, between 10 % and 90 % of the tasks accepted; the
 * job's start (announcement, first dials) is reported separately as `startMs`. Every task is
 * replicated to its quorum (trust level high): the adaptive rule would run tasks alone and hold
 * them for a minute, which measures the trust policy rather than the mesh.
 */
import { createHash } from 'node:crypto'
import * as ort from 'onnxruntime-node'
import type { Hex } from 'viem'
import type { Compute } from '../../../lib/jobs'
import { packUnits, parseInputsJson, type TensorMap } from '../../../lib/proofs'
import { createEngineCompute, createOrtEngine, seededInputs } from '../../../lib/runtime'
import { openMemoryStore } from '../../../lib/store/memory-node'
import { trustSettings } from '../../../lib/trust'
import {
  allHeard,
  MODEL,
  onNet,
  paddedCompute,
  startPeers,
  submitMlpJob,
  withTimeout,
} from '../chaos'
import { summarize } from './stats'

export interface MeshConfig {
  taskMs: number
  replicas: number
  /** Inputs (one `taskMs` inference each). */
  tasks: number
  /** Inputs per on-chain task (lib/proofs/units.ts); default 1. */
  perTask?: number
}

export interface MeshRow extends MeshConfig {
  volunteers: number
  /** Inputs per second from the local queue (one at a time), divided by the replicas. */
  localTasksPerS: number
  /** Inputs per second through the mesh. */
  meshTasksPerS: number
  ratio: number
  /** Job submitted → 10 % of tasks accepted. */
  startMs: number
  /** Job submitted → every task accepted. */
  totalMs: number
}

export interface QuorumLatency {
  /** Last agreeing replica's compute finished → task accepted by the coordinator (ms). */
  ms: number[]
  p50: number
  p95: number
}

const key = (inputs: TensorMap) =>
  createHash('sha1')
    .update(Buffer.from(Object.values(inputs)[0]!.data.buffer as ArrayBuffer))
    .digest('hex')

function tasksFor(n: number, seed: number) {
  return parseInputsJson(seededInputs(seed, n, { x: [1, 16] }))
}

/** The local baseline: `volunteers` padded engines pulling from one in-memory queue. */
async function localRate(volunteers: number, c: MeshConfig): Promise<number> {
  const model = MODEL()
  const hash = `0x${createHash('sha256').update(model).digest('hex')}` as Hex
  const computes = await Promise.all(
    Array.from({ length: volunteers }, async () => {
      const engine = createOrtEngine(ort, {
        backend: 'cpu',
        executionProviders: ['cpu'],
        intraOpNumThreads: 1,
      })
      const compute = paddedCompute(
        c.taskMs,
        createEngineCompute({ engine, runtime: 'bench', store: await openMemoryStore() }),
      )
      await compute.prepare(hash, async () => model)
      return compute
    }),
  )
  const queue = tasksFor(c.tasks, 11)
  let next = 0
  const t0 = performance.now()
  await Promise.all(
    computes.map(async (compute) => {
      while (next < queue.length) await compute.run(hash, queue[next++]!)
    }),
  )
  return c.tasks / ((performance.now() - t0) / 1000) / c.replicas
}

/** One job through the mesh; also collects the quorum latency of each task. */
async function meshRun(volunteers: number, c: MeshConfig, latency: number[]): Promise<MeshRow> {
  const perTask = c.perTask ?? 1
  /** When each replica of a task finished computing, by the task's inputs. */
  const computeEnd = new Map<string, number[]>()
  const wrap = (inner: Compute): Compute => {
    // One padded inference per input: a task of several inputs takes `perTask` times as long.
    const padded = paddedCompute(c.taskMs, inner, (inputs) => Object.keys(inputs).length)
    return {
      ...padded,
      get backend() {
        return padded.backend
      },
      async run(h, inputs) {
        const k = key(inputs)
        const out = await padded.run(h, inputs)
        computeEnd.set(k, [...(computeEnd.get(k) ?? []), performance.now()])
        return out
      },
    }
  }
  return onNet({}, async (net, cleanup) => {
    const { volunteers: vs, requester } = await startPeers(net, cleanup, volunteers, c.taskMs, {
      wrapCompute: wrap,
    })
    await allHeard(requester, vs)
    const quorum = Math.min(2, c.replicas)
    const units = packUnits(tasksFor(c.tasks, 11), perTask)
    const keys = units.map(key)
    const t0 = performance.now()
    const job = await submitMlpJob(
      requester,
      { tasks: c.tasks, replicas: c.replicas, quorum, seed: 11 },
      { trust: trustSettings('high'), inputsPerTask: perTask },
    )
    // Followed through `accepted` events: calling progress() or results() on every change looks
    // at every task, and that work shares the thread with the mesh being measured.
    const accepted = new Map<number, number>()
    /** When the n-th task was accepted, at index n - 1. */
    const times: number[] = []
    const waiting: Array<{ count: number; resolve: (at: number) => void }> = []
    const onAccepted = (e: Event) => {
      const { taskIndex } = (e as CustomEvent<{ taskIndex: number }>).detail
      if (accepted.has(taskIndex)) return
      const now = performance.now()
      accepted.set(taskIndex, now)
      times.push(now)
      for (const w of waiting.filter((w) => times.length >= w.count)) {
        waiting.splice(waiting.indexOf(w), 1)
        w.resolve(times[w.count - 1]!)
      }
    }
    job.handle.events.addEventListener('accepted', onAccepted)
    const at = (share: number) => {
      const count = Math.ceil(share * units.length)
      const reached = new Promise<number>((resolve) => {
        if (times.length >= count) resolve(times[count - 1]!)
        else waiting.push({ count, resolve })
      })
      return withTimeout(reached, 120_000, `${share * 100} % of the tasks accepted`)
    }
    const t10 = await at(0.1)
    const t90 = await at(0.9)
    const t100 = await at(1)
    job.handle.events.removeEventListener('accepted', onAccepted)
    // The quorum could be reached once the quorum-th replica finished computing.
    for (const [i, acceptedAt] of accepted) {
      const ends = (computeEnd.get(keys[i]!) ?? []).sort((a, b) => a - b)
      if (c.replicas > 1 && ends.length >= quorum) latency.push(acceptedAt - ends[quorum - 1]!)
    }
    const meshTasksPerS =
      ((Math.ceil(0.9 * units.length) - Math.ceil(0.1 * units.length)) * perTask) /
      ((t90 - t10) / 1000)
    return {
      ...c,
      volunteers,
      localTasksPerS: 0,
      meshTasksPerS,
      ratio: 0,
      startMs: t10 - t0,
      totalMs: t100 - t0,
    }
  })
}

export async function meshOverhead(
  volunteers: number,
  configs: MeshConfig[],
  log: (s: string) => void,
  opts: { warmUp?: boolean } = {},
): Promise<{ rows: MeshRow[]; quorum: QuorumLatency }> {
  const rows: MeshRow[] = []
  const latency: number[] = []
  // One short job first, not counted: the first network in a process ran slower (the same
  // configuration measured 0.75 first and 0.93 later in one run), as code warms up.
  if (opts.warmUp) await meshRun(volunteers, { taskMs: 20, replicas: 1, tasks: 40 }, [])
  for (const c of configs) {
    const local = await localRate(volunteers, c)
    const mesh = await meshRun(volunteers, c, latency)
    const row = { ...mesh, localTasksPerS: local, ratio: mesh.meshTasksPerS / local }
    log(
      `  ${c.taskMs} ms tasks${(c.perTask ?? 1) > 1 ? `, ${c.perTask} per task` : ''}, r = ${c.replicas}: mesh ${row.meshTasksPerS.toFixed(1)}/s, local ${local.toFixed(1)}/s, ratio ${row.ratio.toFixed(2)}`,
    )
    rows.push(row)
  }
  return { rows, quorum: { ms: latency, ...summarize(latency) } }
}

/**
 * The result-flood scenario of the adversary harness (issue 15 item 3): strangers with fresh
 * keys flood a running job's coordinator with result streams, unsolicited and oversized
 * (scripts/lib/flooder.ts), while honest volunteers work. They run in a process of their own
 * (scripts/flood.ts), so that this process, the coordinator's (with the volunteers), is
 * measured without them. The coordinator's inbound budget (lib/mesh/budget.ts) must keep its
 * memory where it was and its honest throughput near the same job's unflooded.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { DEV_PRIVATE_KEYS } from '../../lib/chain'
import { waitForReservation } from '../../lib/mesh'
import { startNodeRequester } from '../../lib/sdk/node'
import { trustSettings } from '../../lib/trust'
import type { AdversaryResult, AdversaryScenario } from './adversary'
import {
  allHeard,
  networkOf,
  onNet,
  startVolunteers,
  submitMlpJob,
  when,
  withTimeout,
} from './chaos'

const MiB = 1024 * 1024
const TASK_MS = 150
const ROOT = join(import.meta.dirname, '../..')

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void
/** Heap and array buffers after a full collection (bytes): what this process holds. */
const held = () => {
  gc()
  const m = process.memoryUsage()
  return m.heapUsed + m.arrayBuffers
}

/** scripts/flood.ts in a child process: resolves once its peers have joined and dialled. */
async function startFloodProcess(relay: string, target: string, peers: number) {
  const child: ChildProcess = spawn(
    join(ROOT, 'node_modules/.bin/tsx'),
    [join(ROOT, 'scripts/flood.ts'), '--relay', relay, '--target', target, '--peers', `${peers}`],
    { stdio: ['pipe', 'pipe', 'inherit'] },
  )
  const lines = createInterface({ input: child.stdout! })[Symbol.asyncIterator]()
  const next = async () => {
    const r = await withTimeout(lines.next(), 120_000, 'the flood process')
    if (r.done) throw new Error(`the flood process exited (${child.exitCode})`)
    return r.value as string
  }
  if ((await next()) !== 'ready') throw new Error('the flood process did not start')
  return {
    start: (jobId: string) => child.stdin!.write(`job ${jobId}\n`),
    /** Stops the flood; the counts per peer of how its streams ended. */
    async stop(): Promise<unknown> {
      child.stdin!.write('stop\n')
      return JSON.parse(await next())
    },
    kill: () => child.kill(),
  }
}

export const resultFlood: AdversaryScenario = {
  name: 'result-flood',
  description:
    "Strangers with fresh keys (another process) keep 16 result streams each open on a running job's coordinator: headers for tasks never leased to them with 16 MiB of outputs sent without waiting for continue, and bare frames declaring 16 MiB. The coordinator refuses them (busy, rejected on the header, dropped at the frame limit) within its inbound budget: its process memory grows by at most 10 % and honest throughput stays at 0.8 or more of the same job unflooded (the mean of one run before and one after).",
  async run(size, log) {
    const started = Date.now()
    const honest = size === 'full' ? 4 : 3
    const flooders = size === 'full' ? 4 : 2
    const tasks = size === 'full' ? 200 : 60
    return onNet({}, async (net, cleanup) => {
      const volunteers = await startVolunteers(net, honest, TASK_MS)
      cleanup.push(() => Promise.all(volunteers.map((v) => v.stop())))
      const requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, networkOf(net))
      cleanup.push(() => requester.stop())
      await allHeard(requester, volunteers)
      const job = (seed: number, n: number) =>
        submitMlpJob(
          requester,
          { tasks: n, replicas: 2, quorum: 2, seed },
          { trust: trustSettings('high') },
        )
      /** Settles a job, sampling held memory every second meanwhile; tasks per second, peak. */
      const timed = async (j: Awaited<ReturnType<typeof job>>, n: number) => {
        const t0 = Date.now()
        let peak = 0
        const sampler = setInterval(() => {
          peak = Math.max(peak, held())
        }, 1000)
        try {
          await withTimeout(
            when(j.handle, (p) => p.counts.settled === n),
            240_000,
            'job settlement',
          )
        } finally {
          clearInterval(sampler)
        }
        return { perSecond: (n / (Date.now() - t0)) * 1000, peak: Math.max(peak, held()) }
      }
      // A warm-up job: the model loaded, the workers timed.
      await timed(await job(31, 8), 8)
      const quiet = await timed(await job(32, tasks), tasks)
      log(`  unflooded: ${quiet.perSecond.toFixed(2)} tasks/s`)

      const target = (await waitForReservation(requester.node)).toString()
      const flood = await startFloodProcess(net.relayAddr, target, flooders)
      cleanup.push(async () => flood.kill())
      const before = held()
      const flooded = await job(33, tasks)
      flood.start(flooded.jobId)
      const loud = await timed(flooded, tasks)
      const outcomes = await flood.stop()
      // Unflooded again: the machine's load drifts (other work on it), so the flooded job is
      // compared with the mean of one before and one after.
      const after = await timed(await job(34, tasks), tasks)
      log(`  unflooded again: ${after.perSecond.toFixed(2)} tasks/s`)
      const inbound = requester.coordinator.stats().inbound
      const growth = (loud.peak - before) / before
      const ratio = (2 * loud.perSecond) / (quiet.perSecond + after.perSecond)
      const refused = Object.values(inbound.refused).reduce((a, b) => a + b, 0)
      const dropped = Object.values(inbound.dropped).reduce((a, b) => a + b, 0)
      const details = {
        honest,
        flooders,
        tasks,
        unfloodedTasksPerSecond: [round(quiet.perSecond), round(after.perSecond)],
        floodedTasksPerSecond: round(loud.perSecond),
        throughputRatio: round(ratio),
        heapBeforeMiB: Math.round(before / MiB),
        heapPeakDuringMiB: Math.round(loud.peak / MiB),
        heapGrowthPercent: round(growth * 100),
        floodOutcomes: outcomes,
        coordinatorPeakHeldMiB: round(inbound.peakBytes / MiB),
        coordinatorPeakStreams: inbound.peakStreams,
        coordinatorRefused: inbound.refused,
        coordinatorDropped: inbound.dropped,
      }
      const checks: Array<[boolean, string]> = [
        [refused + dropped > 0, 'the flood never reached the coordinator'],
        [growth <= 0.1, `memory grew by ${round(growth * 100)} %`],
        [ratio >= 0.8, `honest throughput ${round(ratio)} of unflooded`],
        [inbound.peakBytes <= inbound.limits.totalBytes, 'held more than totalBytes'],
      ]
      return finish('result-flood', started, tasks, details, checks)
    })
  },
}

const round = (x: number) => Math.round(x * 100) / 100

function finish(
  name: string,
  started: number,
  tasks: number,
  details: Record<string, unknown>,
  checks: Array<[boolean, string]>,
): AdversaryResult {
  const reasons = checks.filter(([ok]) => !ok).map(([, why]) => why)
  return {
    name,
    tasks,
    wrongAccepted: 0,
    honestPunished: 0,
    colludersExcludedWithin: null,
    effectiveRedundancy: 0,
    pass: reasons.length === 0,
    reasons,
    details,
    wallMs: Date.now() - started,
  }
}

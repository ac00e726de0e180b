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
  last = { heap: m.heapUsed, buffers: m.arrayBuffers }
  return m.heapUsed + m.arrayBuffers
}
/** The split of the latest `held()`: JS heap and array buffers (bytes). */
let last = { heap: 0, buffers: 0 }

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
    "Strangers with fresh keys (another process) keep 16 result streams each open on a running job's coordinator: headers for tasks never leased to them with 16 MiB of outputs sent without waiting for continue, and bare frames declaring 16 MiB. The coordinator refuses them (busy, rejected on the header, dropped at the frame limit) within its inbound budget: its process memory grows by at most 10 % more than in the same job unflooded and honest throughput stays at 0.8 or more of the same job unflooded (the mean of one run before and one after; 0.5 in the short run, which shares two cores with the flooders).",
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
      /**
       * Settles a job, sampling held memory every second meanwhile: tasks per second, and the
       * peak against what was held when it started (`split`: heap and buffers at the peak).
       */
      const timed = async (j: Awaited<ReturnType<typeof job>>, n: number) => {
        const t0 = Date.now()
        const start = held()
        let peak = start
        let split = last
        const sample = () => {
          const h = held()
          if (h > peak) {
            peak = h
            split = last
          }
        }
        const sampler = setInterval(sample, 1000)
        try {
          await withTimeout(
            when(j.handle, (p) => p.counts.settled === n),
            240_000,
            'job settlement',
          )
        } finally {
          clearInterval(sampler)
        }
        sample()
        return { perSecond: (n / (Date.now() - t0)) * 1000, start, peak, split }
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
      // A job's own results grow the heap too (12 % for the short job unflooded, measured): the
      // flood's cost is the flooded job's growth beyond the same job's unflooded.
      const growth = (loud.peak - before) / before
      const quietGrowth =
        ((quiet.peak - quiet.start) / quiet.start + (after.peak - after.start) / after.start) / 2
      const floodGrowth = growth - quietGrowth
      const ratio = (2 * loud.perSecond) / (quiet.perSecond + after.perSecond)
      // The target is 0.8, checked at full size only: a timed figure is reported, not tested,
      // in the short run (CI's, in `npm test`), which shares two cores with the flooders'
      // process and whatever else runs there (as announcement-flood does). Before flooders
      // were kept out (blockPeer) it measured 0.57 to 0.92 on a loaded machine; since, 0.96.
      const minRatio = 0.8
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
        heapAtPeakMiB: {
          js: round(loud.split.heap / MiB),
          buffers: round(loud.split.buffers / MiB),
        },
        unfloodedJobGrowthPercent: round(quietGrowth * 100),
        floodGrowthPercent: round(floodGrowth * 100),
        floodOutcomes: outcomes,
        coordinatorPeakHeldMiB: round(inbound.peakBytes / MiB),
        coordinatorPeakStreams: inbound.peakStreams,
        coordinatorRefused: inbound.refused,
        coordinatorDropped: inbound.dropped,
      }
      const checks: Array<[boolean, string]> = [
        [refused + dropped > 0, 'the flood never reached the coordinator'],
        [
          floodGrowth <= 0.1,
          `memory grew by ${round(floodGrowth * 100)} % more than in the same job unflooded`,
        ],
        ...(size === 'full'
          ? ([
              [
                ratio >= minRatio,
                `honest throughput ${round(ratio)} of unflooded (at least ${minRatio})`,
              ],
            ] as Array<[boolean, string]>)
          : []),
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

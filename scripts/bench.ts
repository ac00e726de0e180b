/**
 * `npm run bench`: Meshwork's overheads measured side by side in one run, each as a ratio
 * against its baseline. Writes bench/results.json, bench/REPORT.md and its SVG charts; with
 * --json the results object is the last line of stdout. --quick: a short configuration for CI
 * (written to bench/tmp/, so the committed report stays a full run).
 *
 * Measured so far: inference (browser WASM against onnxruntime-node), a tab's cold start and
 * heap over a long run, mesh overhead and quorum
 * latency (Node volunteers), throughput against the number of volunteers, WebRTC dials and
 * gossip delivery in a mesh of Node volunteers and tabs (30 and 6 at full size), settlement gas,
 * scale by simulation (lib/sim). Runs inside
 * a private network namespace (scripts/in-netns.sh), where WebRTC has an interface.
 */
import '../lib/env/polyfills-node'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { setLogLevel } from '../lib/env/log'
import { CHROMIUM, launchChromium } from '../tests/helpers/browser'
import { type CoordinatorRow, coordinatorBench } from './lib/bench/coordinator'
import { type GasRow, settlementGas } from './lib/bench/gas'
import { browserInference, type InferenceRow, nativeInference } from './lib/bench/inference'
import { type MeshConfig, type MeshRow, meshOverhead, type QuorumLatency } from './lib/bench/mesh'
import { type NetworkBench, networkBench } from './lib/bench/network'
import { type BenchResults, type Target, writeReport } from './lib/bench/report'
import { simulationBench, simulationTargets } from './lib/bench/sim'
import { tabBench } from './lib/bench/tab'
import { readWebGpuResults } from './lib/bench/webgpu'
import { buildAppIfStale, ROOT, startStack } from './lib/stack'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
    'report-only': { type: 'boolean', default: false },
    only: { type: 'string' },
    help: { type: 'boolean', short: 'h' },
  },
})
if (values.help) {
  process.stdout.write(
    'Usage: npm run bench [-- --quick] [--json]\n  --quick        short configuration (CI), written to bench/tmp/\n  --json         print the results object as the last line of stdout\n  --report-only  rewrite REPORT.md and the charts from the last results.json\n  --only S,…     run only these sections (mesh, simulation, network, tab, gas, coordinator) and merge them into the last results.json\n',
  )
  process.exit(0)
}
const quick = values.quick
const notesFile = join(ROOT, 'bench/optimisations.md')
const notes = () => (existsSync(notesFile) ? readFileSync(notesFile, 'utf8') : '')
/** WebGPU figures from a GPU machine (npm run bench:webgpu), committed in bench/. */
const webgpu = () => readWebGpuResults(join(ROOT, 'bench'))
if (values['report-only']) {
  // Rewrites REPORT.md and the charts from the last results.json (after editing the notes).
  const dir = join(ROOT, quick ? 'bench/tmp' : 'bench')
  await writeReport(
    dir,
    JSON.parse(readFileSync(join(dir, 'results.json'), 'utf8')),
    notes(),
    webgpu(),
  )
  process.exit(0)
}
setLogLevel('warn')
const say = (s: string) => process.stderr.write(`${s}\n`)
const OUT = quick ? join(ROOT, 'bench/tmp') : join(ROOT, 'bench')
mkdirSync(OUT, { recursive: true })
const SIM_TARGET = /^simulation /
const COORDINATOR_TARGET = /^coordinator /
/**
 * Issue 16's goal for one Node coordinator: lease p95 ≤ 200 ms and ≥ 2,000 accepted results/s
 * with 1,000 volunteers. Judged on section 10's last row: its largest job, signatures recovered on
 * worker threads.
 */
const coordinatorTargets = (rows: CoordinatorRow[]): Target[] => {
  const r = rows.at(-1)
  if (!r) return []
  const size = `${r.workers.toLocaleString('en-US')} workers, ${r.tasks.toLocaleString('en-US')} tasks`
  return [
    {
      name: `coordinator work request p95, ${size}, in process (ms)`,
      target: '≤ 200',
      measured: r.assignUs.p95 / 1000,
      met: r.assignUs.p95 / 1000 <= 200,
    },
    {
      name: `coordinator accepted results/s, ${size}, ${r.recoveryThreads} recovery threads on ${cpus().length} cores, in process`,
      target: '≥ 2,000',
      measured: r.resultsPerS,
      met: r.resultsPerS >= 2000,
    },
  ]
}
/** Network and mesh-size sizes: the issue's 30 Node volunteers and 6 tabs in one mesh. */
const NETWORK_SIZE = quick
  ? { nodeVolunteers: 3, tabs: 1, messages: 10, tasks: 30 }
  : { nodeVolunteers: 30, tabs: 6, messages: 50, tasks: 600 }
/** The conv model the inference target is judged on. */
const CONV_MODEL = 'ppocr-det'
const TAB_TARGET = /^(page open|tab heap)/
const tabTargets = (tab: Awaited<ReturnType<typeof tabBench>>): Target[] => [
  {
    name: `page open → first result, model cached (s; ${tab.coldStart.model})`,
    target: '≤ 1.5',
    measured: tab.coldStart.cachedMs / 1000,
    met: tab.coldStart.cachedMs <= 1500,
  },
  {
    name: `tab heap growth over ${tab.memory.tasks.toLocaleString('en-US')} tasks (%)`,
    target: '< 10',
    measured: tab.memory.growthPct,
    met: tab.memory.growthPct < 10,
  },
]
const GAS_TARGET = /^(settlement|job) gas /
const gasOptions = () =>
  quick ? { tasks: [10], quorums: [2] } : { tasks: [10, 100, 1000], quorums: [2, 3] }
/**
 * Issue 14's goal: all the gas a job costs on chain (createJob, recording every result, one
 * redemption per worker), per task, at quorum 2 with 10 workers. Judged all-in and without
 * recording (results on chain only when someone wants them there).
 */
const gasTargets = (gas: GasRow[]): Target[] =>
  (
    [
      [100, 3000],
      [1000, 1000],
    ] as const
  ).flatMap(([tasks, limit]) => {
    const row = gas.find((g) => g.quorum === 2 && g.batch === tasks)
    const target = `≤ ${limit.toLocaleString('en-US')}`
    return (
      [
        ['all in', row?.perTask.allIn],
        ['without recording', row?.perTask.withoutRecording],
      ] as const
    ).map(([what, measured]) => ({
      name: `job gas per task, ${tasks.toLocaleString('en-US')} tasks, quorum 2, 10 workers, ${what}`,
      target,
      measured: measured ?? null,
      met: measured === undefined ? null : measured <= limit,
    }))
  })
/** The tab section's sizes: cold start on the conv model (median of 5), heap over 1,000 tasks. */
const tabOptions = () => ({
  coldStartModel: quick ? 'mlp-16x4' : CONV_MODEL,
  coldStartRuns: quick ? 1 : 5,
  memoryTasks: quick ? 50 : 1000,
})
const VOLUNTEERS = 4
/** Inputs per task for small tasks (JobRequest.inputsPerTask): the issue's "batch small tasks". */
const BATCH = 32
/** Sections 3 and 4: mesh against a local queue, throughput against volunteers, quorum latency. */
async function meshSections() {
  say('▶ mesh against a local queue (Node volunteers, relay, WebRTC)')
  const configs: MeshConfig[] = quick
    ? [
        { taskMs: 50, replicas: 1, tasks: 40 },
        { taskMs: 5, replicas: 3, tasks: 40 },
        { taskMs: 5, replicas: 3, tasks: 320, perTask: BATCH },
      ]
    : [
        { taskMs: 50, replicas: 1, tasks: 200 },
        { taskMs: 5, replicas: 1, tasks: 400 },
        { taskMs: 50, replicas: 3, tasks: 100 },
        { taskMs: 5, replicas: 3, tasks: 200 },
        // Last: placed between the rows above, the 50 ms r = 3 job that followed one of these
        // measured 0.84 and 0.87 in two runs, against 0.93 before they were added.
        { taskMs: 5, replicas: 1, tasks: 3200, perTask: BATCH },
        { taskMs: 5, replicas: 3, tasks: 1600, perTask: BATCH },
      ]
  const mesh = await meshOverhead(VOLUNTEERS, configs, say, { warmUp: true })
  say('▶ throughput against the number of volunteers (50 ms tasks, r = 1)')
  const scaling: MeshRow[] = []
  for (const n of quick ? [2] : [1, 2, 4, 8]) {
    const { rows } = await meshOverhead(
      n,
      [{ taskMs: 50, replicas: 1, tasks: quick ? 20 : 50 * n }],
      say,
    )
    scaling.push(...rows)
  }
  return { mesh, scaling }
}
const MESH_TARGET = /^(mesh \/ local|quorum latency)/
const meshTargets = (mesh: { rows: MeshRow[]; quorum: QuorumLatency }): Target[] => [
  // 5 ms tasks are judged batched, as the issue allows ("batch or pipeline small tasks"); the
  // same tasks one per task are in section 3's table.
  ...mesh.rows
    .filter((r) => r.taskMs === 50 || (r.perTask ?? 1) > 1)
    .map(
      (r): Target => ({
        name: `mesh / local throughput, ${r.taskMs} ms tasks${(r.perTask ?? 1) > 1 ? `, ${r.perTask} per task` : ''}, r = ${r.replicas}`,
        target: r.taskMs === 50 ? '≥ 0.9' : '≥ 0.7',
        measured: r.ratio,
        met: r.ratio >= (r.taskMs === 50 ? 0.9 : 0.7),
      }),
    ),
  {
    name: 'quorum latency overhead p95 on loopback (ms)',
    target: '≤ 100',
    measured: mesh.quorum.p95,
    met: mesh.quorum.p95 <= 100,
  },
]
if (values.only) {
  // Sections that stand alone, rerun and merged into the last run's results.
  const only = values.only.split(',').map((x) => x.trim())
  const unknown = only.filter(
    (x) => !['mesh', 'simulation', 'network', 'tab', 'gas', 'coordinator'].includes(x),
  )
  if (unknown.length > 0) {
    say(
      `Unknown section ${unknown.join(', ')}: --only takes mesh, simulation, network, tab, gas, coordinator.`,
    )
    process.exit(1)
  }
  const file = join(OUT, 'results.json')
  const merged: BenchResults = JSON.parse(readFileSync(file, 'utf8'))
  const now = new Date().toISOString()
  merged.rerun = { ...merged.rerun }
  if (only.includes('mesh')) {
    const { mesh, scaling } = await meshSections()
    merged.mesh = mesh.rows
    merged.scaling = scaling
    merged.quorumLatency = mesh.quorum
    merged.targets = [
      ...merged.targets.filter((t) => !MESH_TARGET.test(t.name)),
      ...meshTargets(mesh),
    ]
    merged.rerun.mesh = now
  }
  if (only.includes('simulation')) {
    say('▶ scale by simulation')
    merged.simulation = simulationBench(quick, say)
    merged.targets = [
      ...merged.targets.filter((t) => !SIM_TARGET.test(t.name)),
      ...simulationTargets(merged.simulation),
    ]
    merged.rerun.simulation = now
  }
  if (only.includes('coordinator')) {
    say('▶ coordinator cost per message (JobRun in process)')
    merged.coordinator = await coordinatorBench(quick, say)
    merged.targets = [
      ...merged.targets.filter((t) => !COORDINATOR_TARGET.test(t.name)),
      ...coordinatorTargets(merged.coordinator),
    ]
    merged.rerun.coordinator = now
  }
  if (only.includes('gas')) {
    say('▶ job gas on anvil')
    merged.gas = await settlementGas(gasOptions())
    merged.targets = [
      ...merged.targets.filter((t) => !GAS_TARGET.test(t.name)),
      ...gasTargets(merged.gas),
    ]
    merged.rerun.gas = now
  }
  if (only.includes('network') || only.includes('tab')) {
    await buildAppIfStale(say)
    const stack = await startStack({ ports: 'free', log: () => {} })
    const browser = await launchChromium()
    try {
      if (only.includes('tab')) {
        say('▶ a volunteer tab: cold start and heap over a long run')
        const tab = await tabBench(browser, stack, tabOptions(), say)
        merged.coldStart = tab.coldStart
        merged.memory = tab.memory
        merged.targets = [
          ...merged.targets.filter((t) => !TAB_TARGET.test(t.name)),
          ...tabTargets(tab),
        ]
        merged.rerun.tab = now
      }
      if (only.includes('network')) {
        say('▶ network: WebRTC dials, gossip delivery, one job on Node volunteers and tabs')
        merged.network = await networkBench(browser, stack, NETWORK_SIZE, say)
        merged.rerun.network = now
      }
    } finally {
      await browser.close()
      await stack.stop()
    }
  }
  writeFileSync(file, `${JSON.stringify(merged, null, 2)}\n`)
  await writeReport(OUT, merged, notes(), webgpu())
  if (values.json) process.stdout.write(`${JSON.stringify(merged)}\n`)
  process.exit(0)
}

/** The conv model and two small ones. */
const MODELS = [CONV_MODEL, 'ppocr-cls', 'mlp-16x4']
const RUNS = quick ? 5 : 40
const THREADS = [1, 2]

const startedAt = new Date().toISOString()
const chromiumVersion = execFileSync(CHROMIUM, ['--version'], { encoding: 'utf8' })
  .replace(/\s+/g, ' ')
  .trim()

say('▶ inference: onnxruntime-node')
const inference: InferenceRow[] = []
for (const model of MODELS)
  for (const threads of THREADS) {
    const r = await nativeInference(model, threads, RUNS)
    say(`  ${model} node ×${threads}: p50 ${r.p50.toFixed(2)} ms`)
    inference.push(r)
  }

// The mesh runs before anything starts Chromium and the app: while those shut down, the first
// mesh jobs measured 0.74 where the same configuration on a quiet machine gives 0.89–0.93.
const { mesh, scaling } = await meshSections()

say('▶ inference: onnxruntime-web in headless Chromium (the app’s /bench page)')
await buildAppIfStale(say)
const stack = await startStack({ ports: 'free', log: () => {} })
const browser = await launchChromium()
let tab: Awaited<ReturnType<typeof tabBench>>
let network: NetworkBench
try {
  for (const model of MODELS)
    for (const threads of THREADS) {
      const r = await browserInference(browser, stack.appUrl!, model, threads, RUNS)
      say(`  ${model} browser ×${threads}: p50 ${r.p50.toFixed(2)} ms`)
      inference.push(r)
    }
  say('▶ a volunteer tab: cold start and heap over a long run')
  tab = await tabBench(browser, stack, tabOptions(), say)
  say('▶ network: WebRTC dials, gossip delivery, one job on Node volunteers and tabs')
  network = await networkBench(browser, stack, NETWORK_SIZE, say)
} finally {
  await browser.close()
  await stack.stop()
}
const ratios = MODELS.flatMap((model) =>
  THREADS.map((threads) => {
    const of = (runtime: InferenceRow['runtime']) =>
      inference.find((i) => i.model === model && i.threads === threads && i.runtime === runtime)!
    return {
      model,
      threads,
      browserOverNative: of('onnxruntime-web wasm').throughput / of('onnxruntime-node').throughput,
    }
  }),
)

say('▶ job gas on anvil')
const gas = await settlementGas(gasOptions())
for (const g of gas)
  say(
    `  quorum ${g.quorum}, ${g.batch} tasks: ${g.perTask.allIn} gas per task all in, ${g.perTask.withoutRecording} without recording`,
  )

say('▶ scale by simulation')
const simulation = simulationBench(quick, say)

say('▶ coordinator cost per message (JobRun in process)')
const coordinator = await coordinatorBench(quick, say)

const convRatio = ratios.find((r) => r.model === CONV_MODEL && r.threads === 2)!.browserOverNative
const targets: Target[] = [
  {
    name: 'browser WASM 2 threads / onnxruntime-node 2 threads, conv model throughput',
    target: '≥ 0.5',
    measured: convRatio,
    met: convRatio >= 0.5,
  },
  ...gasTargets(gas),
  ...meshTargets(mesh),
  ...tabTargets(tab),
  ...simulationTargets(simulation),
  ...coordinatorTargets(coordinator),
]

const results: BenchResults = {
  quick,
  startedAt,
  machine: {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.versions.node,
    chromium: chromiumVersion,
  },
  inference,
  ratios,
  coldStart: tab.coldStart,
  memory: tab.memory,
  mesh: mesh.rows,
  scaling,
  quorumLatency: mesh.quorum,
  gas,
  simulation,
  network,
  coordinator,
  targets,
}
writeFileSync(join(OUT, 'results.json'), `${JSON.stringify(results, null, 2)}\n`)
await writeReport(OUT, results, notes(), webgpu())
say(`Wrote ${join(OUT, 'results.json')} and ${join(OUT, 'REPORT.md')}.`)
for (const t of targets)
  say(
    `  ${t.met === null ? '·' : t.met ? '✓' : '✗'} ${t.name}: ${t.measured === null ? 'not measured yet' : t.measured.toFixed(2)} (goal ${t.target})`,
  )
if (values.json) process.stdout.write(`${JSON.stringify(results)}\n`)
// libp2p and ONNX Runtime keep handles open; the run is over.
process.exit(0)

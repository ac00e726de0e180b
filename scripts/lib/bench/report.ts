/**
 * bench/REPORT.md and its charts (SVG, rendered headless by Vega-Lite) from a results object.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as vega from 'vega'
import { compile, type TopLevelSpec } from 'vega-lite'
import { type CoordinatorRow, coordinatorSection } from './coordinator'
import type { GasRow } from './gas'
import type { InferenceRow } from './inference'
import type { MeshRow, QuorumLatency } from './mesh'
import { meshSizeSection, type NetworkBench, networkSection } from './network'
import { type SimulationBench, simulationSection } from './sim'
import { WARMUP } from './stats'
import type { ColdStart, TabMemory } from './tab'
import { type WebGpuResults, webgpuSection } from './webgpu'

export interface Target {
  name: string
  target: string
  /** A number in the unit of `target`, or null while the benchmark does not measure it yet. */
  measured: number | null
  met: boolean | null
  note?: string
}

export interface BenchResults {
  quick: boolean
  startedAt: string
  machine: { cpus: number; cpuModel: string; node: string; chromium: string }
  inference: InferenceRow[]
  ratios: Array<{ model: string; threads: number; browserOverNative: number }>
  coldStart: ColdStart
  memory: TabMemory
  mesh: MeshRow[]
  scaling: MeshRow[]
  quorumLatency: QuorumLatency
  gas: GasRow[]
  /** Sections 5 and 9; absent in results written before they were measured. */
  network?: NetworkBench | undefined
  /** Section 8; absent in results written before the simulation existed. */
  simulation?: SimulationBench | undefined
  /** Section 10; absent in results written before it was measured. */
  coordinator?: CoordinatorRow[] | undefined
  /** Sections rerun alone (`--only`) after the run, and when. */
  rerun?:
    | {
        mesh?: string
        simulation?: string
        network?: string
        tab?: string
        gas?: string
        coordinator?: string
      }
    | undefined
  targets: Target[]
}

export async function renderSvg(spec: TopLevelSpec): Promise<string> {
  const view = new vega.View(vega.parse(compile(spec).spec), { renderer: 'none' })
  return view.toSVG()
}

const fmt = (n: number, d = 1) => n.toLocaleString('en-US', { maximumFractionDigits: d })

export async function writeReport(
  dir: string,
  r: BenchResults,
  optimisations: string,
  webgpu: WebGpuResults[] = [],
) {
  const latency: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Per-inference latency (ms, log scale)',
    data: {
      values: r.inference.flatMap((row) =>
        row.ms.map((ms) => ({ model: row.model, config: `${row.runtime} ×${row.threads}`, ms })),
      ),
    },
    facet: { row: { field: 'model', type: 'nominal', title: null } },
    spec: {
      width: 420,
      height: 90,
      mark: { type: 'boxplot', extent: 'min-max' },
      encoding: {
        y: { field: 'config', type: 'nominal', title: null },
        x: { field: 'ms', type: 'quantitative', scale: { type: 'log' }, title: 'ms' },
        color: { field: 'config', type: 'nominal', legend: null },
      },
    },
    resolve: { scale: { x: 'independent' } },
  }
  const gas: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'All-in gas per task against tasks in the job (10 workers)',
    width: 420,
    height: 220,
    data: { values: r.gas.map((g) => ({ ...g, quorum: `quorum ${g.quorum}` })) },
    layer: [
      {
        mark: { type: 'line', point: true },
        encoding: {
          x: {
            field: 'batch',
            type: 'quantitative',
            scale: { type: 'log' },
            title: 'tasks in the job',
          },
          y: { field: 'gasPerTask', type: 'quantitative', title: 'gas per task, all in' },
          color: { field: 'quorum', type: 'nominal', title: null },
        },
      },
      {
        mark: { type: 'rule', strokeDash: [4, 4], color: 'gray' },
        encoding: { y: { datum: 1_000 } },
      },
    ],
  }
  const throughput: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Throughput against volunteers (50 ms tasks, r = 1)',
    width: 420,
    height: 220,
    data: {
      values: r.scaling.flatMap((s) => [
        { volunteers: s.volunteers, tasksPerS: s.meshTasksPerS, via: 'mesh' },
        { volunteers: s.volunteers, tasksPerS: s.localTasksPerS, via: 'local queue' },
      ]),
    },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'volunteers', type: 'quantitative', title: 'volunteers' },
      y: { field: 'tasksPerS', type: 'quantitative', title: 'tasks per second' },
      color: { field: 'via', type: 'nominal', title: null },
    },
  }
  const quorum: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Quorum latency: quorum-th replica computed → task accepted',
    width: 420,
    height: 160,
    data: { values: r.quorumLatency.ms.map((ms) => ({ ms })) },
    mark: 'bar',
    encoding: {
      x: { field: 'ms', type: 'quantitative', bin: { maxbins: 40 }, title: 'ms' },
      y: { aggregate: 'count', type: 'quantitative', title: 'tasks' },
    },
  }
  const heap: TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: 'Volunteer tab: JS heap after GC, as tasks complete',
    width: 420,
    height: 180,
    data: { values: r.memory.samples.map((m) => ({ tasks: m.tasks, MiB: m.heapBytes / 2 ** 20 })) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'tasks', type: 'quantitative', title: 'tasks done by the tab' },
      y: { field: 'MiB', type: 'quantitative', title: 'heap (MiB)', scale: { zero: true } },
    },
  }
  writeFileSync(join(dir, 'tab-heap.svg'), await renderSvg(heap))
  writeFileSync(join(dir, 'throughput-volunteers.svg'), await renderSvg(throughput))
  writeFileSync(join(dir, 'quorum-latency.svg'), await renderSvg(quorum))
  writeFileSync(join(dir, 'inference-latency.svg'), await renderSvg(latency))
  writeFileSync(join(dir, 'settlement-gas.svg'), await renderSvg(gas))

  const md = `# Meshwork benchmark report

Generated by \`npm run bench\`${r.quick ? ' --quick (short configuration: few runs, not for quoting)' : ''} on ${r.startedAt}:
${r.machine.cpus} × ${r.machine.cpuModel}, Node ${r.machine.node}, ${r.machine.chromium}. Absolute times on
this shared machine are noise; the ratios are what the targets judge. Raw figures: \`results.json\`.

## Targets

| target | goal | measured | met |
|---|---|---|---|
${r.targets.map((t) => `| ${t.name} | ${t.target} | ${t.measured === null ? 'not measured yet' : fmt(t.measured, 2)} | ${t.met === null ? '–' : t.met ? 'yes' : '**no**'}${t.note ? `: ${t.note}` : ''} |`).join('\n')}

## 1. Inference: browser WASM against onnxruntime-node

Same model file, same seeded inputs, ${r.inference[0]?.ms.length ?? 0} runs after ${WARMUP} warm-up runs (V8 needs 5–8 inferences to optimise the WASM). The browser figure is
what the page sees: inputs transferred to the volunteer's inference worker, inference, outputs
transferred back.

| model | runtime | threads | p50 ms | p95 ms | inferences/s |
|---|---|---|---|---|---|
${r.inference.map((i) => `| ${i.model} | ${i.runtime} | ${i.threads} | ${fmt(i.p50, 2)} | ${fmt(i.p95, 2)} | ${fmt(i.throughput)} |`).join('\n')}

Browser / native throughput at equal threads:

| model | threads | browser / native |
|---|---|---|
${r.ratios.map((x) => `| ${x.model} | ${x.threads} | ${fmt(x.browserOverNative, 2)} |`).join('\n')}

![per-inference latency](inference-latency.svg)

${webgpuSection(webgpu)}
## 2. Cold start

${r.rerun?.tab ? `Sections 2 and 7 ran on their own on ${r.rerun.tab} (\`npm run bench -- --only tab\`).\n\n` : ''}Page open → the tab's first result received by the coordinator, for a job already running
(announced every 2 s), model \`${r.coldStart.model}\`${r.coldStart.cachedRuns ? `, median of ${r.coldStart.cachedRuns.length} (cached, each: ${r.coldStart.cachedRuns.map((x) => fmt(x, 0)).join(', ')} ms)` : ''}: ${fmt(r.coldStart.uncachedMs, 0)} ms in a fresh
browser profile (page, ONNX Runtime and model fetched), ${fmt(r.coldStart.cachedMs, 0)} ms in the
same profile on a new page (model from IndexedDB). Includes pressing Start, joining the mesh
through the relay, hearing the announcement, the lease, loading the model and one inference. Of
that, page open → the volunteer session running (inference worker started, libp2p node dialled to
the relay; ONNX Runtime's backend then starts in the worker while the tab joins the mesh): ${fmt(r.coldStart.uncachedSessionMs, 0)} ms and ${fmt(r.coldStart.cachedSessionMs, 0)} ms.

## 3. Mesh overhead

${r.rerun?.mesh ? `Sections 3 and 4 ran on their own on ${r.rerun.mesh} (\`npm run bench -- --only mesh\`).\n\n` : ''}${r.mesh[0]?.volunteers ?? 0} Node volunteers (onnxruntime-node, the small MLP padded to a fixed task time) through a
real relay and WebRTC, against the same volunteers' compute fed from a local in-process queue.
Throughput between 10 % and 90 % of the tasks accepted; \`start\` is the job's submission to 10 %
accepted (announcement, first dials and leases). Every task replicated to its quorum (trust level
high). For r = 3 the local figure is divided by 3. The volunteers and the coordinator share one
Node process (one JavaScript thread), unlike tabs on separate machines. "Inputs per task" above
1: that many inputs share each lease, signed result and settlement (\`inputsPerTask\`,
lib/proofs/units.ts); rates count inputs, each one padded inference, in both columns.

| task | inputs per task | r | mesh inputs/s | local inputs/s | mesh / local | start ms | all accepted ms |
|---|---|---|---|---|---|---|---|
${r.mesh.map((m) => `| ${m.taskMs} ms | ${m.perTask ?? 1} | ${m.replicas} | ${fmt(m.meshTasksPerS)} | ${fmt(m.localTasksPerS)} | ${fmt(m.ratio, 2)} | ${fmt(m.startMs, 0)} | ${fmt(m.totalMs, 0)} |`).join('\n')}

![throughput against volunteers](throughput-volunteers.svg)

| volunteers | mesh tasks/s | local tasks/s | mesh / local |
|---|---|---|---|
${r.scaling.map((m) => `| ${m.volunteers} | ${fmt(m.meshTasksPerS)} | ${fmt(m.localTasksPerS)} | ${fmt(m.ratio, 2)} |`).join('\n')}

## 4. Quorum latency

From the moment the quorum-th replica of a task finished computing to the coordinator accepting
the task (signing, delivery, signature recovery, tally), r = 3, quorum 2, over
${r.quorumLatency.ms.length} tasks: p50 ${fmt(r.quorumLatency.p50)} ms, p95 ${fmt(r.quorumLatency.p95)} ms.

![quorum latency](quorum-latency.svg)

${networkSection(r.network, r.rerun?.network)}
## 6. Job gas

${r.rerun?.gas ? `Section 6 ran on its own on ${r.rerun.gas} (\`npm run bench -- --only gas\`).\n\n` : ''}All the gas one job costs on chain, on anvil (\`scripts/lib/bench/gas.ts\`): \`createJob\`, then
\`record\` of every task's result (batches of 500; random 32-byte result hashes, as real ones are),
then one \`redeem\` carrying every worker's final claim (10 workers, each with an equal share of the
results). Nothing else goes on chain: the coordinator pays with signed claims. "Returning" workers
already hold an account from an earlier job; first-time workers pay for a new account slot.
Recording is optional (callbacks, results read from the chain); without it the job costs createJob
and the redemptions. The floor analysis is in \`contracts/GAS.md\`.

| quorum | tasks | all in, per task | without recording | first-time workers, all in | each worker redeems in its own tx, all in | createJob | record, all tasks | redeem, all workers |
|---|---|---|---|---|---|---|---|---|
${r.gas.map((g) => `| ${g.quorum} | ${fmt(g.batch, 0)} | ${fmt(g.perTask.allIn, 0)} | ${fmt(g.perTask.withoutRecording, 0)} | ${fmt(g.perTask.firstTimeAllIn, 0)} | ${fmt(g.perTask.ownTxAllIn, 0)} | ${fmt(g.createJob, 0)} | ${fmt(g.record, 0)} | ${fmt(g.redeemReturning, 0)} |`).join('\n')}

![gas per task](settlement-gas.svg)

## 7. Memory

The volunteer page's JavaScript heap (main thread: libp2p, job state, UI) after a forced garbage
collection, while one tab runs ${r.memory.tasks.toLocaleString('en-US')} tasks of the small model: ${fmt(r.memory.samples[0]?.heapBytes ? r.memory.samples[0].heapBytes / 2 ** 20 : 0)} MiB
after ${r.memory.samples[0]?.tasks ?? 0} tasks, ${fmt((r.memory.samples.at(-1)?.heapBytes ?? 0) / 2 ** 20)} MiB after ${r.memory.samples.at(-1)?.tasks ?? 0}
(${fmt(r.memory.growthPct)} %). The inference worker's heap is not included.

![tab heap](tab-heap.svg)

${r.rerun?.simulation ? `Section 8 ran on its own on ${r.rerun.simulation} (\`npm run bench -- --only simulation\`).\n\n` : ''}${simulationSection(r.simulation)}${meshSizeSection(r.network, r.rerun?.network)}${coordinatorSection(r.coordinator, r.rerun?.coordinator)}${optimisations}
`
  writeFileSync(join(dir, 'REPORT.md'), md)
}

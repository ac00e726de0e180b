/**
 * `npm run bench:webgpu`: onnxruntime-web's WebGPU execution provider against its WASM one, on
 * the same model and the same seeded inputs, for a machine with a GPU. Nothing else depends on it.
 *
 * It runs in Node, not in Chromium: WebGPU comes from Dawn (the implementation inside Chrome),
 * through the optional package `webgpu` (`npm install --no-save webgpu`; 130 MB, so it is not a
 * dependency). The onnxruntime-web builds are the app's own: the JSEP build that the volunteer's
 * inference worker loads (WASM and WebGPU), and the build behind `onnxruntime-web/webgpu` (the
 * newer C++ WebGPU provider). WASM threads run through the Node build, as the JSEP build's thread
 * pool needs a browser origin.
 *
 * Per row: session creation, the first inference and the p50/p95 of `--runs` inferences after
 * warm-up, and for WebGPU how many tasks hash the same as WASM under the model's default policy
 * (whether WebGPU and WASM volunteers can share a quorum). Writes bench/webgpu-MODEL.json,
 * which `npm run bench` adds to bench/REPORT.md. With --json the results object is the last stdout line.
 */
import { readFileSync, writeFileSync } from 'node:fs'
import { cpus } from 'node:os'
import { join, resolve } from 'node:path'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import type * as Ort from 'onnxruntime-common'
import {
  parseInputsJson,
  parsePolicy,
  resultHash,
  type Tensor,
  type TensorMap,
} from '../lib/proofs'
import { seededInputs } from '../lib/runtime/examples'
import { parseManifest } from '../lib/runtime/manifest'
import { summarize, WARMUP } from './lib/bench/stats'
import type { WebGpuResults, WebGpuRow } from './lib/bench/webgpu'

const ROOT = join(import.meta.dirname, '..')

const { values } = parseArgs({
  options: {
    model: { type: 'string', default: 'ppocr-det' },
    runs: { type: 'string', default: '50' },
    threads: { type: 'string' },
    'ort-dir': { type: 'string' },
    'webgpu-module': { type: 'string', default: 'webgpu' },
    /** Dawn's flags, comma-separated: `backend=null` checks the calls without a GPU (no results). */
    'dawn-flags': { type: 'string', default: '' },
    /** Default: bench/webgpu-MODEL.json, which `npm run bench` adds to the report. */
    out: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})

const runs = Number(values.runs)
const ortDir = resolve(values['ort-dir'] ?? join(ROOT, 'node_modules/onnxruntime-web/dist'))
// Not scripts/models.ts's readManifest: that module loads onnxruntime-node, which the GPU
// machine's bundle of this script does not carry.
const manifest = parseManifest(
  JSON.parse(readFileSync(join(ROOT, 'public/models/manifest.json'), 'utf8')),
)
const entry = manifest.models.find((m) => m.name === values.model)
if (!entry) throw new Error(`No model "${values.model}" in public/models/manifest.json.`)
const modelBytes = readFileSync(join(ROOT, 'public/models', entry.file))
const policyText = entry.defaultPolicy ?? 'round:3'
const policy = parsePolicy(policyText)
const inputDims = entry.exampleDims
const tasks = parseInputsJson(seededInputs(7, runs + WARMUP, entry.exampleDims))
const say = (s: string) => process.stderr.write(`${s}\n`)

async function loadOrt(file: string): Promise<typeof Ort> {
  return (await import(pathToFileURL(join(ortDir, file)).href)) as typeof Ort
}

function feeds(ort: typeof Ort, task: TensorMap) {
  const f: Record<string, Ort.Tensor> = {}
  for (const [name, t] of Object.entries(task))
    f[name] = new ort.Tensor('float32', t.data as Float32Array, t.dims)
  return f
}

async function toTensorMap(out: Record<string, Ort.Tensor>): Promise<TensorMap> {
  const m: TensorMap = {}
  for (const [name, t] of Object.entries(out))
    m[name] = {
      type: t.type,
      dims: [...t.dims],
      data: (await t.getData()) as Float32Array,
    } as Tensor
  return m
}

/** Times one provider; keeps every output so that the WebGPU rows can be compared with WASM's. */
async function measure(
  ort: typeof Ort,
  provider: WebGpuRow['provider'],
  build: WebGpuRow['build'],
  threads: number,
): Promise<{ row: WebGpuRow; outputs: TensorMap[] }> {
  ort.env.wasm.numThreads = threads
  const t0 = performance.now()
  const session = await ort.InferenceSession.create(modelBytes, {
    executionProviders: [provider],
    graphOptimizationLevel: 'all',
  })
  const createMs = performance.now() - t0
  const ms: number[] = []
  const outputs: TensorMap[] = []
  let firstMs = 0
  try {
    for (const [i, task] of tasks.entries()) {
      const t = performance.now()
      const out = await session.run(feeds(ort, task))
      const took = performance.now() - t
      if (i === 0) firstMs = took
      if (i >= WARMUP) ms.push(took)
      outputs.push(await toTensorMap(out))
    }
  } finally {
    await session.release()
  }
  const { p50, p95 } = summarize(ms)
  say(`  ${provider} (${build} build, ${threads} thread(s)): p50 ${p50.toFixed(2)} ms`)
  return { row: { provider, build, threads, createMs, firstMs, p50, p95 }, outputs }
}

function compare(a: TensorMap[], b: TensorMap[]): WebGpuRow['agreesWithWasm'] {
  let equal = 0
  let maxAbsDiff = 0
  for (const [i, x] of a.entries()) {
    const y = b[i]!
    if (resultHash(x, policy) === resultHash(y, policy)) equal++
    for (const [name, t] of Object.entries(x)) {
      const u = y[name]!.data as Float32Array
      const v = t.data as Float32Array
      for (let k = 0; k < v.length; k++) maxAbsDiff = Math.max(maxAbsDiff, Math.abs(v[k]! - u[k]!))
    }
  }
  return { policy: policyText, equal, of: a.length, maxAbsDiff }
}

type Queue = { writeBuffer(b: unknown, o: number, d: unknown, dOff?: number, size?: number): void }

/**
 * Both onnxruntime-web builds hand `queue.writeBuffer` views of their WASM memory, which is a
 * SharedArrayBuffer (the threaded builds); browsers accept shared memory there, Dawn's Node
 * binding refuses it ("no overload matched for writeBuffer"). Copies such writes into ordinary
 * memory, only the bytes written. Browsers need none of this.
 */
async function copySharedWrites(gpu: { requestAdapter(): Promise<unknown> }) {
  const adapter = (await gpu.requestAdapter()) as { requestDevice(): Promise<{ queue: Queue }> }
  const device = await adapter.requestDevice()
  const proto = Object.getPrototypeOf(device.queue) as Queue
  const write = proto.writeBuffer
  proto.writeBuffer = function (this: Queue, buffer, offset, data, dataOffset, size) {
    if (data instanceof SharedArrayBuffer) {
      const from = dataOffset ?? 0
      const copy = new Uint8Array(data, from, size ?? data.byteLength - from).slice()
      return write.call(this, buffer, offset, copy, 0, copy.byteLength)
    }
    if (ArrayBuffer.isView(data) && data.buffer instanceof SharedArrayBuffer) {
      const unit = 'BYTES_PER_ELEMENT' in data ? (data.BYTES_PER_ELEMENT as number) : 1
      const from = (dataOffset ?? 0) * unit
      const bytes = size === undefined ? data.byteLength - from : size * unit
      const copy = new Uint8Array(data.buffer, data.byteOffset + from, bytes).slice()
      return write.call(this, buffer, offset, copy, 0, copy.byteLength)
    }
    return write.call(this, buffer, offset, data, dataOffset, size)
  }
}

async function main(): Promise<WebGpuResults> {
  const results: WebGpuResults = {
    at: new Date().toISOString(),
    model: values.model!,
    inputDims,
    runs,
    warmup: WARMUP,
    cores: cpus().length,
    rows: [],
  }
  say(`WebGPU against WASM, ${values.model}, ${runs} runs after ${WARMUP} warm-up`)
  // WASM first, before any GPU, so that a missing GPU still leaves the baseline.
  const nodeOrt = await loadOrt('ort.node.min.mjs')
  const threadCounts = values.threads
    ? values.threads.split(',').map(Number)
    : [...new Set([1, 2, results.cores])]
  let reference: TensorMap[] = []
  for (const threads of threadCounts) {
    const { row, outputs } = await measure(nodeOrt, 'wasm', 'node', threads)
    if (threads === 1) reference = outputs
    results.rows.push(row)
  }

  const gpuModule = values['webgpu-module']!
  let gpu: { requestAdapter(): Promise<unknown> } | undefined
  try {
    // A variable specifier: `webgpu` is optional and not installed by `npm install`.
    const dawn = (await import(gpuModule)) as {
      create(flags: string[]): { requestAdapter(): Promise<unknown> }
      globals: object
    }
    Object.assign(globalThis, dawn.globals)
    gpu = dawn.create(values['dawn-flags']!.split(',').filter(Boolean))
  } catch (err) {
    throw new Error(
      `WebGPU for Node is missing (${(err as Error).message}). Install it with \`npm install --no-save webgpu\`.`,
    )
  }
  const adapter = (await gpu.requestAdapter()) as { info?: Record<string, string> } | null
  if (!adapter) throw new Error('Dawn found no GPU adapter on this machine.')
  const info = adapter.info ?? {}
  results.adapter = {
    vendor: info.vendor ?? '',
    architecture: info.architecture ?? '',
    device: info.device ?? '',
    description: info.description ?? '',
  }
  say(`  adapter: ${JSON.stringify(results.adapter)}`)
  await copySharedWrites(gpu)
  Object.defineProperty(globalThis, 'navigator', { value: { gpu }, configurable: true })

  for (const [file, build] of [
    ['ort.min.mjs', 'jsep'],
    ['ort.webgpu.min.mjs', 'webgpu'],
  ] as const) {
    try {
      const ort = await loadOrt(file)
      const { row, outputs } = await measure(ort, 'webgpu', build, 1)
      results.rows.push({ ...row, agreesWithWasm: compare(outputs, reference) })
    } catch (err) {
      say(`  webgpu (${build} build) failed: ${(err as Error).stack}`)
      results.rows.push({
        provider: 'webgpu',
        build,
        threads: 1,
        createMs: 0,
        firstMs: 0,
        p50: Number.NaN,
        p95: Number.NaN,
        error: (err as Error).message.slice(0, 500),
      })
    }
  }
  return results
}

try {
  const results = await main()
  const out = values.out ?? join(ROOT, `bench/webgpu-${values.model}.json`)
  writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`)
  say(`Wrote ${out}`)
  if (values.json) process.stdout.write(`${JSON.stringify(results)}\n`)
} catch (err) {
  say(`Error: ${(err as Error).message}`)
  process.exitCode = 1
}
// Dawn and the WASM thread pools keep handles open.
setTimeout(() => process.exit(), 100)

/**
 * The WebGPU figures from a GPU machine (scripts/bench-webgpu.ts writes bench/webgpu-MODEL.json)
 * and their section of bench/REPORT.md. They are measured separately, when a machine with a GPU
 * is at hand, so the report shows the last files committed, with their date and machine.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'

export interface WebGpuRow {
  provider: 'wasm' | 'webgpu'
  /** Which onnxruntime-web build. */
  build: 'jsep' | 'webgpu' | 'node'
  threads: number
  createMs: number
  firstMs: number
  p50: number
  p95: number
  /** Tasks whose result hash equals WASM's (1 thread) under the model's default policy. */
  agreesWithWasm?: { policy: string; equal: number; of: number; maxAbsDiff: number } | undefined
  error?: string
}

export interface WebGpuResults {
  at: string
  model: string
  inputDims: Record<string, number[]>
  runs: number
  warmup: number
  cores: number
  adapter?: Record<string, string> | undefined
  rows: WebGpuRow[]
}

/** Every bench/webgpu-*.json in `dir`, detector first. */
export function readWebGpuResults(dir: string): WebGpuResults[] {
  if (!existsSync(dir)) return []
  return readdirSync(dir)
    .filter((f) => /^webgpu-.+\.json$/.test(f))
    .sort()
    .reverse()
    .map((f) => JSON.parse(readFileSync(join(dir, f), 'utf8')) as WebGpuResults)
}

const fmt = (n: number, d = 1) => n.toLocaleString('en-US', { maximumFractionDigits: d })

export function webgpuSection(all: WebGpuResults[]): string {
  if (all.length === 0)
    return `## 1b. WebGPU

Not measured: it needs a machine with a GPU (\`npm install --no-save webgpu && npm run bench:webgpu\`).
`
  const first = all[0]!
  const rows = all.flatMap((r) => {
    const base = r.rows.find((x) => x.provider === 'wasm' && x.threads === 1)
    return r.rows.map((x) => {
      const speedup = base && !x.error ? fmt(base.p50 / x.p50, 2) : '–'
      const a = x.agreesWithWasm
      const agree = a
        ? `${a.equal}/${a.of} (${a.policy}; max abs diff ${a.maxAbsDiff.toExponential(1)})`
        : '–'
      const times = x.error
        ? `failed: ${x.error.split('\n')[0]} | | | `
        : `${fmt(x.createMs, 0)} | ${fmt(x.firstMs, 0)} | ${fmt(x.p50, 2)} | ${fmt(x.p95, 2)}`
      return `| ${r.model} | ${x.provider} | ${x.build} | ${x.threads} | ${times} | ${speedup} | ${agree} |`
    })
  })
  const adapter = first.adapter?.description || first.adapter?.device || 'an unnamed adapter'
  return `## 1b. WebGPU (on a GPU machine)

Measured by \`npm run bench:webgpu\` on ${adapter} (${first.adapter?.device ?? ''}), ${first.cores} CPU
cores, on ${first.at.slice(0, 10)}: onnxruntime-web in Node, with WebGPU from Dawn (the implementation
inside Chrome, through the \`webgpu\` package), not headless Chromium, which the GPU machine here
does not have. Builds: \`jsep\` is the one the volunteer's inference worker loads (its WASM and
WebGPU providers); \`webgpu\` is \`onnxruntime-web/webgpu\` (the C++ WebGPU provider); WASM threads
run in the \`node\` build. ${first.runs} runs after ${first.warmup} warm-up runs, seeded inputs; "× WASM" is
throughput against WASM on 1 thread on the same machine; "same hash" counts tasks whose result
hash under the model's default policy equals WASM's.

| model | provider | build | threads | session ms | first inference ms | p50 ms | p95 ms | × WASM | same hash as WASM |
|---|---|---|---|---|---|---|---|---|---|
${rows.join('\n')}

${findings(all)}
`
}

/** What the rows say about volunteers, derived from the figures. */
function findings(all: WebGpuResults[]): string {
  const out: string[] = []
  for (const r of all) {
    const gpu = r.rows.filter((x) => x.provider === 'webgpu' && !x.error)
    const base = r.rows.find((x) => x.provider === 'wasm' && x.threads === 1)
    if (gpu.length === 0 || !base) continue
    const jsep = gpu.find((x) => x.build === 'jsep') ?? gpu[0]!
    const startS = Math.max(...gpu.map((x) => (x.createMs + x.firstMs) / 1000))
    const a = jsep.agreesWithWasm
    out.push(
      `- ${r.model}: WebGPU (the worker's build) runs ${fmt(base.p50 / jsep.p50, 1)}× as many inferences per second as WASM on one thread; ` +
        `a new session takes up to ${fmt(startS, 0)} s before its first result (session creation plus first inference: pipeline compilation; Dawn in Node keeps no shader cache, Chrome keeps one on disk). ` +
        (a
          ? a.equal === a.of
            ? `Every task hashes the same as WASM under ${a.policy}.`
            : `${a.of - a.equal} of ${a.of} tasks hash differently from WASM under ${a.policy} although no value differs by more than ${a.maxAbsDiff.toExponential(1)}: among this many output values per task, some value lands on a rounding boundary in almost every task, so WebGPU and WASM volunteers cannot share a quorum for this model and policy (the coordinator binds a task's replicas to one equivalence class, docs/trust.md).`
          : ''),
    )
  }
  return out.join('\n')
}

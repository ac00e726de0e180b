'use client'
/**
 * /bench: how fast this browser runs the catalogue's models in the volunteer's inference worker
 * (the same worker, ONNX Runtime build and settings a volunteer tab uses). `npm run bench` drives
 * it through `window.meshworkBench`; a person can press Run.
 */
import { useEffect, useState } from 'react'
import type { Hex } from 'viem'
import type { AppConfig } from '../../lib/env/app-config'
import { errorMessage } from '../../lib/errors'
import { parseInputsJson } from '../../lib/proofs'
import { type Manifest, parseManifest, seededInputs } from '../../lib/runtime'
import { createWorkerEngine } from '../../lib/runtime/engine-worker-browser'

export interface InferenceBenchOptions {
  model: string
  threads: number
  runs: number
  warmup?: number
}

export interface InferenceBenchResult {
  model: string
  threads: number
  crossOriginIsolated: boolean
  backend: string
  loadMs: number
  /** Per run, as the page sees it: transfer to the worker, inference, transfer back. */
  ms: number[]
}

declare global {
  interface Window {
    meshworkBench?: { inference(o: InferenceBenchOptions): Promise<InferenceBenchResult> }
  }
}

async function inference(
  manifest: Manifest,
  modelsBase: string,
  o: InferenceBenchOptions,
): Promise<InferenceBenchResult> {
  const entry = manifest.models.find((m) => m.name === o.model)
  if (!entry) throw new Error(`No model "${o.model}" in the catalogue.`)
  const bytes = new Uint8Array(await (await fetch(`${modelsBase}/${entry.file}`)).arrayBuffer())
  const engine = await createWorkerEngine({ prefer: 'wasm', threads: o.threads })
  try {
    const t0 = performance.now()
    await engine.load(entry.sha256 as Hex, bytes)
    const loadMs = performance.now() - t0
    const tasks = parseInputsJson(seededInputs(7, o.runs + (o.warmup ?? 10), entry.exampleDims))
    const ms: number[] = []
    for (const [i, task] of tasks.entries()) {
      const start = performance.now()
      await engine.run(entry.sha256 as Hex, task)
      if (i >= (o.warmup ?? 10)) ms.push(performance.now() - start)
    }
    return {
      model: o.model,
      threads: engine.init.threads,
      crossOriginIsolated: globalThis.crossOriginIsolated === true,
      backend: engine.backend,
      loadMs,
      ms,
    }
  } finally {
    await engine.dispose()
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN

export function BenchApp({ config }: { config: AppConfig }) {
  const [manifest, setManifest] = useState<Manifest>()
  const [rows, setRows] = useState<InferenceBenchResult[]>([])
  const [status, setStatus] = useState<string>()
  useEffect(() => {
    fetch(`${config.modelsBase}/manifest.json`)
      .then((r) => r.json())
      .then((j) => {
        const m = parseManifest(j)
        setManifest(m)
        window.meshworkBench = { inference: (o) => inference(m, config.modelsBase, o) }
      })
      .catch((err) => setStatus(`Could not read the model catalogue: ${errorMessage(err)}`))
  }, [config.modelsBase])

  const cores = typeof navigator === 'undefined' ? 1 : navigator.hardwareConcurrency
  const run = async () => {
    if (!manifest) return
    setRows([])
    for (const m of manifest.models) {
      for (const threads of [...new Set([1, Math.min(2, cores)])]) {
        setStatus(`Running ${m.name} on ${threads} thread${threads > 1 ? 's' : ''}…`)
        try {
          const r = await inference(manifest, config.modelsBase, {
            model: m.name,
            threads,
            runs: 20,
          })
          setRows((rs) => [...rs, r])
        } catch (err) {
          setStatus(errorMessage(err))
          return
        }
      }
    }
    setStatus('Done.')
  }

  return (
    <>
      <h1>How fast is this browser?</h1>
      <div className="card">
        <p>
          Runs each model in the catalogue 20 times in the same inference worker a volunteer tab
          uses (WebAssembly), on one thread and on two. Nothing is sent anywhere.
        </p>
        <button type="button" onClick={run} disabled={!manifest} data-testid="bench-run">
          Run
        </button>
        {status && <p data-testid="bench-status">{status}</p>}
      </div>
      {rows.length > 0 && (
        <table data-testid="bench-table">
          <thead>
            <tr>
              <th>Model</th>
              <th>Threads</th>
              <th>Median per inference</th>
              <th>Load</th>
            </tr>
          </thead>
          <tbody>
            {rows.map((r) => (
              <tr key={`${r.model}-${r.threads}`}>
                <td>{r.model}</td>
                <td>
                  {r.threads}
                  {r.crossOriginIsolated ? '' : ' (not cross-origin isolated)'}
                </td>
                <td>{median(r.ms).toFixed(2)} ms</td>
                <td>{r.loadMs.toFixed(0)} ms</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  )
}

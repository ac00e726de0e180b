/**
 * Inference, browser against native: the same catalogue model and the same seeded inputs on
 * onnxruntime-node (1 and 2 intra-op threads) and on onnxruntime-web WASM in headless Chromium,
 * inside the volunteer's inference worker (1 thread, and 2 with cross-origin isolation), driven
 * through the app's /bench page.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import type { Browser } from 'playwright-core'
import type { InferenceBenchResult } from '../../../app/_components/bench-app'
import { parseInputsJson } from '../../../lib/proofs'
import { seededInputs } from '../../../lib/runtime'
import { MODELS_DIR, readManifest } from '../../models'
import { summarize, WARMUP } from './stats'

export interface InferenceRow {
  model: string
  runtime: 'onnxruntime-node' | 'onnxruntime-web wasm'
  threads: number
  /** Per inference, after warm-up. */
  ms: number[]
  p50: number
  p95: number
  /** Inferences per second at the median. */
  throughput: number
}

function row(model: string, runtime: InferenceRow['runtime'], threads: number, ms: number[]) {
  const { p50, p95 } = summarize(ms)
  return { model, runtime, threads, ms, p50, p95, throughput: 1000 / p50 }
}

export async function nativeInference(
  model: string,
  threads: number,
  runs: number,
): Promise<InferenceRow> {
  const entry = readManifest().models.find((m) => m.name === model)
  if (!entry) throw new Error(`No model "${model}" in the catalogue.`)
  const session = await ort.InferenceSession.create(readFileSync(join(MODELS_DIR, entry.file)), {
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
  })
  try {
    const tasks = parseInputsJson(seededInputs(7, runs + WARMUP, entry.exampleDims))
    const ms: number[] = []
    for (const [i, task] of tasks.entries()) {
      const feeds: Record<string, ort.Tensor> = {}
      for (const [name, t] of Object.entries(task))
        feeds[name] = new ort.Tensor('float32', t.data as Float32Array, t.dims)
      const t0 = performance.now()
      await session.run(feeds)
      if (i >= WARMUP) ms.push(performance.now() - t0)
    }
    return row(model, 'onnxruntime-node', threads, ms)
  } finally {
    await session.release()
  }
}

export async function browserInference(
  browser: Browser,
  appUrl: string,
  model: string,
  threads: number,
  runs: number,
): Promise<InferenceRow & { crossOriginIsolated: boolean }> {
  const context = await browser.newContext()
  try {
    const page = await context.newPage()
    await page.goto(`${appUrl}/bench`)
    await page.waitForFunction(() => window.meshworkBench !== undefined, undefined, {
      timeout: 60_000,
    })
    const r: InferenceBenchResult = await page.evaluate((o) => window.meshworkBench!.inference(o), {
      model,
      threads,
      runs,
      warmup: WARMUP,
    })
    if (r.threads !== threads)
      throw new Error(
        `The browser ran ${r.threads} thread(s), not ${threads} (cross-origin isolated: ${r.crossOriginIsolated}).`,
      )
    return {
      ...row(model, 'onnxruntime-web wasm', r.threads, r.ms),
      crossOriginIsolated: r.crossOriginIsolated,
    }
  } finally {
    await context.close()
  }
}

/**
 * A volunteer tab, measured: cold start (page open → its first result at the coordinator, with
 * the model not cached and then cached in the tab's IndexedDB) and the page's JavaScript heap
 * over a long run of tasks. One headless Chromium tab, an SDK requester (Node) and the local
 * stack (relay, anvil, app).
 */
import type { Browser, Page } from 'playwright-core'
import { parseEther } from 'viem'
import { loadModel } from '../../../cli/submit'
import { DEV_PRIVATE_KEYS } from '../../../lib/chain'
import { parseInputsJson, parsePolicy } from '../../../lib/proofs'
import { seededInputs } from '../../../lib/runtime'
import { type NodeRequester, startNodeRequester } from '../../../lib/sdk/node'
import { trustSettings } from '../../../lib/trust'
import { readManifest } from '../../models'
import { when, withTimeout } from '../chaos'
import type { Stack } from '../stack'
import { summarize } from './stats'

export interface ColdStart {
  model: string
  /** Fresh browser profile: the page, ONNX Runtime and the model are all fetched (median). */
  uncachedMs: number
  /** Same profile, new page: the model comes from IndexedDB (median). */
  cachedMs: number
  /** Of each: page open → the volunteer session running (inference worker and libp2p node up). */
  uncachedSessionMs: number
  cachedSessionMs: number
  /** Every measurement, in order (one fresh profile each, then its cached page). */
  uncachedRuns?: number[]
  cachedRuns?: number[]
}

export interface TabMemory {
  tasks: number
  /** The page's JS heap after a forced garbage collection, as tasks complete. */
  samples: Array<{ tasks: number; heapBytes: number }>
  /** From the first sample (after warm-up) to the last. */
  growthPct: number
}

async function submit(requester: NodeRequester, model: string, tasks: number, seed: number) {
  const { model: bytes, entry } = loadModel(model)
  if (!entry) throw new Error(`${model} is not in the catalogue`)
  return requester.submit({
    model: bytes,
    modelFile: entry.file,
    modelName: entry.name,
    tasks: parseInputsJson(seededInputs(seed, tasks, entry.exampleDims)),
    replicas: 1,
    quorum: 1,
    policy: parsePolicy(entry.defaultPolicy ?? 'round:3'),
    rewardPerResult: parseEther('0.0001'),
    durationSeconds: 3600,
    trust: trustSettings('high'),
    canaryTasks: 0,
  })
}

const firstResult = (job: Awaited<ReturnType<typeof submit>>) =>
  withTimeout(
    when(job.handle, (p) => p.resultsReceived >= 1),
    120_000,
    'the first result',
  )

async function openAndStart(page: Page, appUrl: string) {
  await page.goto(`${appUrl}/volunteer?backend=wasm`)
  await page.getByTestId('start').click()
}

export async function tabBench(
  browser: Browser,
  stack: Stack,
  opts: { coldStartModel: string; coldStartRuns: number; memoryTasks: number },
  log: (s: string) => void,
): Promise<{ coldStart: ColdStart; memory: TabMemory }> {
  if (!readManifest().models.some((m) => m.name === opts.coldStartModel))
    throw new Error(`${opts.coldStartModel} is not in the catalogue`)
  const requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, {
    ...stack.chain,
    relays: [stack.relay.multiaddr],
  })
  try {
    // Cold start: a job is running when the page opens (announced every 2 s, so one measurement
    // swings by up to 2 s: the median of several is reported).
    let context = await browser.newContext()
    const measure = async (seed: number) => {
      const job = await submit(requester, opts.coldStartModel, 2, seed)
      await new Promise((r) => setTimeout(r, 2500))
      const page = await context.newPage()
      const t0 = performance.now()
      await openAndStart(page, stack.appUrl!)
      await page.getByTestId('state').waitFor({ timeout: 60_000 })
      const sessionMs = performance.now() - t0
      await firstResult(job)
      const ms = performance.now() - t0
      await withTimeout(job.handle.done, 120_000, 'the cold-start job')
      await page.close()
      return { ms, sessionMs }
    }
    const uncached: Array<{ ms: number; sessionMs: number }> = []
    const cached: Array<{ ms: number; sessionMs: number }> = []
    for (let i = 0; i < opts.coldStartRuns; i++) {
      if (i > 0) context = await browser.newContext()
      uncached.push(await measure(21 + 2 * i))
      cached.push(await measure(22 + 2 * i))
      await context.close()
    }
    const median = (xs: number[]) => summarize(xs).p50
    const uncachedMs = median(uncached.map((r) => r.ms))
    const cachedMs = median(cached.map((r) => r.ms))
    log(
      `  cold start (${opts.coldStartModel}, median of ${opts.coldStartRuns}): ${uncachedMs.toFixed(0)} ms not cached, ${cachedMs.toFixed(0)} ms cached (each: ${cached.map((r) => r.ms.toFixed(0)).join(', ')})`,
    )

    // Memory: one tab through a long job of the small model.
    const page = await (await browser.newContext()).newPage()
    await openAndStart(page, stack.appUrl!)
    const cdp = await page.context().newCDPSession(page)
    const heap = async () => {
      await cdp.send('HeapProfiler.collectGarbage')
      return (await cdp.send('Runtime.getHeapUsage')).usedSize
    }
    const job = await submit(requester, 'mlp-16x4', opts.memoryTasks, 23)
    const samples: TabMemory['samples'] = []
    const every = Math.max(10, Math.floor(opts.memoryTasks / 10))
    let next = every
    await withTimeout(
      (async () => {
        while (next <= opts.memoryTasks) {
          const done = job.handle.progress().resultsReceived
          if (done >= next) {
            samples.push({ tasks: done, heapBytes: await heap() })
            next += every
          } else await new Promise((r) => setTimeout(r, 100))
        }
      })(),
      600_000,
      `${opts.memoryTasks} tasks in one tab`,
    )
    await page.context().close()
    const first = samples[0]!.heapBytes
    const last = samples.at(-1)!.heapBytes
    const memory = {
      tasks: opts.memoryTasks,
      samples,
      growthPct: ((last - first) / first) * 100,
    }
    log(
      `  tab heap: ${(first / 2 ** 20).toFixed(1)} MiB after ${samples[0]!.tasks} tasks, ${(last / 2 ** 20).toFixed(1)} MiB after ${samples.at(-1)!.tasks} (${memory.growthPct.toFixed(1)} %)`,
    )
    return {
      coldStart: {
        model: opts.coldStartModel,
        uncachedMs,
        cachedMs,
        uncachedSessionMs: median(uncached.map((r) => r.sessionMs)),
        cachedSessionMs: median(cached.map((r) => r.sessionMs)),
        uncachedRuns: uncached.map((r) => r.ms),
        cachedRuns: cached.map((r) => r.ms),
      },
      memory,
    }
  } finally {
    await requester.stop()
  }
}

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ort from 'onnxruntime-node'
import type { Browser, Page } from 'playwright-core'
import { parseEther } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_PRIVATE_KEYS } from '../../lib/chain'
import { parseInputsJson, parsePolicy, resultHash } from '../../lib/proofs'
import { createOrtEngine, seededInputs } from '../../lib/runtime'
import { type NodeRequester, startNodeRequester } from '../../lib/sdk/node'
import { type Stack, startStack } from '../../scripts/lib/stack'
import { readManifest } from '../../scripts/models'
import { launchChromium, openVolunteer } from '../helpers/browser'

// The WebGPU code path on this machine's software adapter (SwiftShader): the known-answer check
// against WASM runs, and the model either runs on WebGPU or is demoted to WASM with a reason.
// Speed is not measured here (software WebGPU is far slower than WASM).
let stack: Stack
let browser: Browser
let page: Page
let requester: NodeRequester

beforeAll(async () => {
  stack = await startStack({ ports: 'free' })
  browser = await launchChromium({ webgpu: true })
  page = await openVolunteer(browser, stack.appUrl!, 'webgpu-volunteer', 'webgpu')
  requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, {
    ...stack.chain,
    relays: [stack.relay.multiaddr],
  })
})

afterAll(async () => {
  await requester?.stop()
  await browser?.close()
  await stack?.stop()
})

describe('a volunteer tab asked to use WebGPU', () => {
  it('finds the adapter, checks the model against WASM, and returns accepted results', async () => {
    expect(await page.locator('main').innerText()).toMatch(/GPU: .*\(software\)/)
    const m = readManifest().models.find((x) => x.name === 'mlp-16x4')!
    const tasks = parseInputsJson(seededInputs(3, 3, m.exampleDims))
    const model = new Uint8Array(
      readFileSync(join(import.meta.dirname, '../../public/models', m.file)),
    )
    const job = await requester.submit({
      model,
      modelFile: m.file,
      tasks,
      replicas: 1,
      quorum: 1,
      policy: parsePolicy('round:3'),
      rewardPerResult: parseEther('0.0001'),
      durationSeconds: 3600,
    })
    const final = await job.handle.done
    expect(final.counts.settled).toBe(3)
    expect(final.workers.map((w) => w.backend)).toEqual(['webgpu'])
    // WebGPU's outputs agree with onnxruntime-node's under the job's policy.
    const reference = createOrtEngine(ort, { backend: 'cpu', executionProviders: ['cpu'] })
    await reference.load(m.sha256, model)
    for (const r of job.handle.results()) {
      expect(r.resultHash).toBe(
        resultHash(await reference.run(m.sha256, tasks[r.taskIndex]!), parsePolicy('round:3')),
      )
    }
    await reference.dispose()
  })
})

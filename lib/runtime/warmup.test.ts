import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ortWeb from 'onnxruntime-web'
import { beforeAll, describe, expect, it } from 'vitest'
import { buildWarmupModel, seededInputs } from '../../scripts/lib/onnx-mlp'
import { ensureModels } from '../../scripts/models'
import { parseInputsJson } from '../proofs'
import { warmupModel } from './warmup'
import { createInferenceApi, type OrtLoader } from './worker-api'

beforeAll(() => {
  ensureModels()
  ortWeb.env.wasm.numThreads = 1
})

const mlp = () =>
  new Uint8Array(readFileSync(join(import.meta.dirname, '../../public/models/mlp-16x4.onnx')))
const HASH = `0x${'ab'.repeat(32)}` as const

/** onnxruntime-web with its session creations recorded (and optionally failing). */
function recordingOrt(fail?: (bytes: Uint8Array) => boolean) {
  const calls: Array<{ bytes: number; eps: unknown; at: 'start' | 'end' }> = []
  const ort = {
    ...ortWeb,
    env: ortWeb.env,
    InferenceSession: {
      async create(bytes: Uint8Array, options?: ortWeb.InferenceSession.SessionOptions) {
        calls.push({ bytes: bytes.length, eps: options?.executionProviders, at: 'start' })
        try {
          if (fail?.(bytes)) throw new Error('no backend here')
          return await ortWeb.InferenceSession.create(bytes, options)
        } finally {
          calls.push({ bytes: bytes.length, eps: options?.executionProviders, at: 'end' })
        }
      },
    },
  }
  return { ort: ort as unknown as Awaited<ReturnType<OrtLoader>>, calls }
}

describe('the warm-up model', () => {
  it('is the bytes buildWarmupModel makes, and a valid model ONNX Runtime runs', async () => {
    expect(Array.from(warmupModel())).toEqual(Array.from(buildWarmupModel()))
    const session = await ortWeb.InferenceSession.create(warmupModel(), {
      executionProviders: ['wasm'],
    })
    const out = await session.run({ x: new ortWeb.Tensor('float32', Float32Array.of(3.5), [1]) })
    expect(Array.from(out.y!.data as Float32Array)).toEqual([3.5])
    await session.release()
  })

  it('is loaded by the inference worker at init, before the first model', async () => {
    const { ort, calls } = recordingOrt()
    const asked: boolean[] = []
    const api = createInferenceApi(
      async (webgpu) => {
        asked.push(webgpu)
        return ort
      },
      (v) => v,
    )
    await api.init({ prefer: 'wasm' })
    // No WebGPU wanted: the WASM-only build is asked for.
    expect(asked).toEqual([false])
    // init does not wait for it; the first load does.
    expect(calls[0]).toEqual({ bytes: warmupModel().length, eps: ['wasm'], at: 'start' })
    const loaded = await api.load(HASH, mlp())
    expect(loaded.backend).toBe('wasm')
    const warmEnd = calls.findIndex((c) => c.bytes === warmupModel().length && c.at === 'end')
    const modelStart = calls.findIndex((c) => c.bytes !== warmupModel().length)
    expect(warmEnd).toBeGreaterThanOrEqual(0)
    expect(modelStart).toBeGreaterThan(warmEnd)
    const [inputs] = parseInputsJson(seededInputs(1, 1, { x: [1, 16] }))
    const res = await api.run(HASH, inputs!)
    expect(Object.keys(res.outputs)).toEqual(['y'])
    await api.dispose()
  })

  it('leaves a failed warm-up to the real load', async () => {
    const { ort } = recordingOrt((b) => b.length === warmupModel().length)
    const api = createInferenceApi(
      async () => ort,
      (v) => v,
    )
    await api.init({ prefer: 'wasm' })
    await expect(api.load(HASH, mlp())).resolves.toMatchObject({ backend: 'wasm' })
    await api.dispose()
  })
})

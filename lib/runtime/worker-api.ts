/**
 * The API an inference Web Worker exposes to its page over comlink: the one typed protocol
 * between them. The worker owns ONNX Runtime (this is the only module that configures
 * onnxruntime-web). Tensors cross the boundary as transferred buffers, not copies; errors cross
 * as {name, message, stack} (comlink's error transfer), so callers branch on `name`.
 *
 * Backend choice: WASM always works. WebGPU is used for a model only where an adapter exists,
 * it is a hardware adapter (or WebGPU was asked for explicitly), and the model passes a
 * known-answer check: the same probe input run on WASM and WebGPU agrees within 1e-3 relative.
 * A model that fails the check is demoted to WASM, not reported as an error.
 */
import type { Hex } from 'viem'
import { type Capabilities, detectCapabilities } from '../env/capabilities'
import type { Tensor, TensorMap } from '../proofs'
import {
  type Backend,
  createOrtEngine,
  type InferenceEngine,
  type ModelInfo,
  type OrtModule,
} from './engine'
import { warmupModel } from './warmup'

export type BackendPreference = 'auto' | 'wasm' | 'webgpu'

export interface WorkerInitOptions {
  prefer: BackendPreference
  /** WASM threads; capped by cross-origin isolation and the cores. Default: cores - 1, at most 4. */
  threads?: number
}

export interface WorkerInitResult {
  capabilities: Capabilities
  threads: number
  /** The backend new models try first. */
  preferred: Backend
}

export interface LoadResult {
  info: ModelInfo
  backend: Backend
  /** Why WebGPU was not used for this model, if it was wanted. */
  demotedReason?: string | undefined
}

export interface InferenceApi {
  init(opts: WorkerInitOptions): Promise<WorkerInitResult>
  load(hash: Hex, bytes: Uint8Array): Promise<LoadResult>
  run(hash: Hex, inputs: TensorMap): Promise<{ outputs: TensorMap; backend: Backend; ms: number }>
  /** Runs `hash` on WASM from now on: a coordinator found its WebGPU answers wrong. */
  demote(hash: Hex): Promise<void>
  dispose(): Promise<void>
}

interface OrtWeb extends OrtModule {
  env: { wasm: { numThreads?: number }; logLevel?: string }
}

/**
 * Loads ONNX Runtime Web: the JSEP build (WASM and WebGPU, a 28 MB .wasm) when WebGPU will be
 * used, else the WASM-only build (14 MB), which starts faster (bench/optimisations.md).
 */
export type OrtLoader = (webgpu: boolean) => Promise<OrtWeb>

export function createInferenceApi(
  loadOrt: OrtLoader,
  transfer: <T>(value: T, buffers: ArrayBuffer[]) => T,
): InferenceApi {
  let wasm: InferenceEngine | undefined
  let gpu: InferenceEngine | undefined
  let preferred: Backend = 'wasm'
  const chosen = new Map<Hex, Backend>()
  /** Backend start-up, begun by init() and awaited by the first load() (never rejects). */
  let warming: Promise<void> = Promise.resolve()

  return {
    async init(opts) {
      const capabilities = await detectCapabilities()
      // Threads need cross-origin isolation. By default leave a core for the page (libp2p, UI),
      // at most 4; asked for explicitly, up to every core.
      const cores = capabilities.crossOriginIsolated ? capabilities.hardwareConcurrency : 1
      const byDefault = Math.max(1, Math.min(4, cores - 1))
      const threads = Math.max(1, Math.min(opts.threads ?? byDefault, cores))
      const gpuOk = Boolean(
        capabilities.webgpu &&
          (opts.prefer === 'webgpu' || (opts.prefer === 'auto' && !capabilities.webgpu.software)),
      )
      const ort = await loadOrt(gpuOk)
      ort.env.wasm.numThreads = threads
      ort.env.logLevel = 'error'
      wasm = createOrtEngine(ort, { backend: 'wasm', executionProviders: ['wasm'] })
      if (gpuOk) {
        gpu = createOrtEngine(ort, { backend: 'webgpu', executionProviders: ['webgpu'] })
        preferred = 'webgpu'
      }
      // ONNX Runtime compiles and starts a backend on its first session: do it now, while the
      // page joins the mesh, with a one-float model, not after the first lease. A failure here
      // is left to the real model's load, which reports it.
      warming = (async () => {
        for (const ep of gpuOk ? ['wasm', 'webgpu'] : ['wasm'])
          await ort.InferenceSession.create(warmupModel(), { executionProviders: [ep] })
            .then((session) => session.release())
            .catch(() => {})
      })()
      return { capabilities, threads, preferred }
    },

    async load(hash, bytes) {
      if (!wasm) throw new Error('init() first')
      await warming
      const info = await wasm.load(hash, bytes)
      if (!gpu) {
        chosen.set(hash, 'wasm')
        return { info, backend: 'wasm' }
      }
      let demotedReason: string | undefined
      try {
        await gpu.load(hash, bytes)
        const probe = probeInputs(info)
        const [a, b] = [await wasm.run(hash, probe), await gpu.run(hash, probe)]
        demotedReason = compareOutputs(a, b)
      } catch (err) {
        demotedReason = `WebGPU could not run it: ${(err as Error).message.split('\n')[0]}`
      }
      const backend: Backend = demotedReason ? 'wasm' : 'webgpu'
      chosen.set(hash, backend)
      return { info, backend, demotedReason }
    },

    async run(hash, inputs) {
      const engine = chosen.get(hash) === 'webgpu' ? gpu : wasm
      if (!engine) throw new Error('init() and load() first')
      const t0 = performance.now()
      const outputs = await engine.run(hash, inputs)
      const ms = performance.now() - t0
      const buffers = Object.values(outputs).map((t) => t.data.buffer as ArrayBuffer)
      return transfer({ outputs, backend: engine.backend, ms }, buffers)
    },

    async demote(hash) {
      chosen.set(hash, 'wasm')
    },

    async dispose() {
      await wasm?.dispose()
      await gpu?.dispose()
    },
  }
}

/** A deterministic input for the known-answer check: dynamic dimensions set to 1. */
export function probeInputs(info: ModelInfo): TensorMap {
  const out: TensorMap = {}
  let seed = 1
  for (const input of info.inputs) {
    const dims = input.dims.map((d) => (typeof d === 'number' && d > 0 ? d : 1))
    const n = dims.reduce((a, b) => a * b, 1)
    if (input.type !== 'float32')
      throw new Error(`probe supports float32 inputs, not ${input.type}`)
    const data = new Float32Array(n)
    for (let i = 0; i < n; i++) {
      seed = (seed * 1103515245 + 12345) >>> 0
      data[i] = (seed / 2 ** 32) * 2 - 1
    }
    out[input.name] = { type: 'float32', dims, data }
  }
  return out
}

/** Undefined when every float agrees within 1e-3 relative (1e-5 absolute near zero). */
export function compareOutputs(ref: TensorMap, got: TensorMap): string | undefined {
  for (const [name, r] of Object.entries(ref)) {
    const g: Tensor | undefined = got[name]
    if (!g || g.data.length !== r.data.length) return `output ${name} has a different shape`
    for (let i = 0; i < r.data.length; i++) {
      const x = Number(r.data[i])
      const y = Number(g.data[i])
      if (Math.abs(x - y) > 1e-5 + 1e-3 * Math.abs(x))
        return `known-answer check failed: ${name}[${i}] is ${y} on WebGPU, ${x} on WASM`
    }
  }
  return undefined
}

/**
 * Browser only: an InferenceEngine whose work happens in the inference Web Worker
 * (workers/inference.worker.ts), so that the page (and libp2p on its main thread) stays
 * responsive. Buffers are transferred both ways.
 */
import * as Comlink from 'comlink'
import type { Hex } from 'viem'
import type { TensorMap } from '../proofs'
import type { Backend, InferenceEngine, ModelInfo } from './engine'
import type { InferenceApi, LoadResult, WorkerInitOptions, WorkerInitResult } from './worker-api'

export interface WorkerEngine extends InferenceEngine {
  readonly init: WorkerInitResult
  /** Per model: the backend chosen and why WebGPU was not, if it was wanted. */
  readonly loads: ReadonlyMap<Hex, LoadResult>
  terminate(): void
}

export async function createWorkerEngine(opts: WorkerInitOptions): Promise<WorkerEngine> {
  const worker = new Worker(new URL('../../workers/inference.worker.ts', import.meta.url), {
    type: 'module',
    name: 'meshwork-inference',
  })
  const api = Comlink.wrap<InferenceApi>(worker)
  const init = await api.init(opts)
  const loads = new Map<Hex, LoadResult>()
  let current: Backend = init.preferred
  return {
    init,
    loads,
    get backend() {
      return current
    },
    isLoaded: (hash) => loads.has(hash),
    async load(hash, bytes): Promise<ModelInfo> {
      const existing = loads.get(hash)
      if (existing) return existing.info
      const copy = bytes.slice()
      const result = await api.load(hash, Comlink.transfer(copy, [copy.buffer]))
      loads.set(hash, result)
      current = result.backend
      return result.info
    },
    async run(hash, inputs: TensorMap) {
      const buffers = Object.values(inputs).map((t) => t.data.buffer as ArrayBuffer)
      const res = await api.run(hash, Comlink.transfer(inputs, buffers))
      current = res.backend
      return res.outputs
    },
    async demote(hash) {
      await api.demote(hash)
      const l = loads.get(hash)
      if (l)
        loads.set(hash, {
          ...l,
          backend: 'wasm',
          demotedReason: 'its WebGPU results went unpaid (a coordinator stopped counting them)',
        })
      current = 'wasm'
    },
    async dispose() {
      await api.dispose()
      worker.terminate()
    },
    terminate: () => worker.terminate(),
  }
}

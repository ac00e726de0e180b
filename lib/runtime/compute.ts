/**
 * Binds an inference engine to the worker's Compute port (lib/jobs/types.ts, matched
 * structurally so that this layer does not import the jobs layer): models come from the cache,
 * then the given sources (the app origin), then the coordinator peer, always hash-checked.
 */
import type { Hex } from 'viem'
import type { TensorMap } from '../proofs'
import type { Store } from '../store'
import type { InferenceEngine } from './engine'
import { DEFAULT_MAX_MODEL_BYTES, getModel, type ModelSource } from './model-source'

export interface EngineComputeInit {
  engine: InferenceEngine
  runtime: string
  store?: Store | undefined
  /** Sources tried before the coordinator peer (e.g. the app origin's catalogue). */
  sources?: readonly ModelSource[]
  maxModelBytes?: number
}

export function createEngineCompute(init: EngineComputeInit) {
  const maxBytes = init.maxModelBytes ?? DEFAULT_MAX_MODEL_BYTES
  const preparing = new Map<Hex, Promise<void>>()
  return {
    get backend() {
      return init.engine.backend
    },
    runtime: init.runtime,
    prepare(modelHash: Hex, fromPeer: (maxBytes: number) => Promise<Uint8Array>): Promise<void> {
      const key = modelHash.toLowerCase() as Hex
      if (init.engine.isLoaded(key)) return Promise.resolve()
      let p = preparing.get(key)
      if (!p) {
        p = (async () => {
          const peer: ModelSource = { name: 'coordinator', fetch: (_h, max) => fromPeer(max) }
          const bytes = await getModel(key, {
            store: init.store,
            sources: [...(init.sources ?? []), peer],
            maxBytes,
          })
          await init.engine.load(key, bytes)
        })().finally(() => preparing.delete(key))
        preparing.set(key, p)
      }
      return p
    },
    run: (modelHash: Hex, inputs: TensorMap) =>
      init.engine.run(modelHash.toLowerCase() as Hex, inputs),
    demote(modelHash: Hex) {
      void init.engine.demote?.(modelHash.toLowerCase() as Hex)
    },
  }
}

/**
 * The inference engine: ONNX sessions keyed by model hash, inputs checked against the model's
 * declared inputs before they reach ONNX Runtime. One implementation serves onnxruntime-web
 * (browser worker: WASM or WebGPU) and onnxruntime-node (Node volunteers, reference results),
 * since both expose the same `InferenceSession` and `Tensor` API.
 */

import type * as Ort from 'onnxruntime-common'
import type { Hex } from 'viem'
import { errorMessage, InferenceError, InputMismatchError, ModelError } from '../errors'
import {
  isTensorType,
  packUnit,
  type Tensor,
  type TensorMap,
  type TensorType,
  unpackUnit,
} from '../proofs'

/** The execution provider a result was computed with. `cpu` is onnxruntime-node. */
export type Backend = 'wasm' | 'webgpu' | 'cpu'

export interface ValueInfo {
  name: string
  type: string
  /** Numbers are fixed sizes, strings (or -1) dynamic. */
  dims: Array<number | string>
}

export interface ModelInfo {
  hash: Hex
  inputs: ValueInfo[]
  outputs: ValueInfo[]
}

export interface InferenceEngine {
  readonly backend: Backend
  /** Creates (or reuses) the session for `hash`. Throws ModelError('unsupported') if ORT cannot load it. */
  load(hash: Hex, bytes: Uint8Array): Promise<ModelInfo>
  /** Runs a loaded model. Throws InputMismatchError for inputs that do not fit the model. */
  run(hash: Hex, inputs: TensorMap): Promise<TensorMap>
  isLoaded(hash: Hex): boolean
  /** Engines with more than one backend: run `hash` on WASM from now on. */
  demote?(hash: Hex): Promise<void>
  dispose(): Promise<void>
}

/** What we use of an onnxruntime module (web or node). */
export interface OrtModule {
  InferenceSession: {
    create(
      bytes: Uint8Array,
      options?: Ort.InferenceSession.SessionOptions,
    ): Promise<Ort.InferenceSession>
  }
  Tensor: new (
    type: Ort.Tensor.Type,
    data: Ort.Tensor.DataType,
    dims?: readonly number[],
  ) => Ort.Tensor
}

export interface OrtEngineOptions {
  backend: Backend
  executionProviders: readonly Ort.InferenceSession.ExecutionProviderConfig[]
  /** Sessions kept open at once (least recently used is released). Default 2. */
  maxSessions?: number
  /** Intra-op threads for onnxruntime-node; onnxruntime-web reads `env.wasm.numThreads`. */
  intraOpNumThreads?: number
}

interface Loaded {
  session: Ort.InferenceSession
  info: ModelInfo
}

export function createOrtEngine(ort: OrtModule, opts: OrtEngineOptions): InferenceEngine {
  const sessions = new Map<Hex, Loaded>()
  const maxSessions = opts.maxSessions ?? 2

  const get = (hash: Hex): Loaded => {
    const loaded = sessions.get(hash)
    if (!loaded) throw new ModelError(`Model ${hash.slice(0, 10)}… is not loaded.`, 'not-found')
    // Keep LRU order: most recently used last.
    sessions.delete(hash)
    sessions.set(hash, loaded)
    return loaded
  }

  const runOne = async ({ session, info }: Loaded, inputs: TensorMap): Promise<TensorMap> => {
    checkInputs(info, inputs)
    const feeds: Record<string, Ort.Tensor> = {}
    for (const [name, t] of Object.entries(inputs)) {
      feeds[name] = new ort.Tensor(t.type, t.data as Ort.Tensor.DataType, t.dims)
    }
    let out: Ort.InferenceSession.ReturnType
    try {
      out = await session.run(feeds)
    } catch (cause) {
      throw new InferenceError(`Inference failed on ${opts.backend}.`, {
        details: errorMessage(cause),
        cause,
      })
    }
    const result: TensorMap = {}
    for (const name of session.outputNames) {
      const t = out[name]
      if (!t) throw new InferenceError(`Output "${name}" is missing.`)
      if (!isTensorType(t.type)) {
        throw new InferenceError(
          `Output "${name}" has type ${t.type}, which Meshwork cannot hash yet.`,
        )
      }
      result[name] = {
        type: t.type as TensorType,
        dims: [...t.dims],
        data: t.data as Tensor['data'],
      }
    }
    return result
  }

  return {
    backend: opts.backend,
    isLoaded: (hash) => sessions.has(hash),
    async load(hash, bytes) {
      const existing = sessions.get(hash)
      if (existing) return existing.info
      let session: Ort.InferenceSession
      try {
        session = await ort.InferenceSession.create(bytes, {
          executionProviders: opts.executionProviders,
          graphOptimizationLevel: 'all',
          ...(opts.intraOpNumThreads ? { intraOpNumThreads: opts.intraOpNumThreads } : {}),
        })
      } catch (cause) {
        throw new ModelError(`This model cannot run on ${opts.backend}.`, 'unsupported', {
          details: errorMessage(cause),
          cause,
          hint: 'Meshwork runs standard ONNX models that ONNX Runtime supports; check the file is a valid .onnx model.',
        })
      }
      const info: ModelInfo = {
        hash,
        inputs: session.inputMetadata.map(describe),
        outputs: session.outputMetadata.map(describe),
      }
      sessions.set(hash, { session, info })
      while (sessions.size > maxSessions) {
        const [oldest, entry] = sessions.entries().next().value as [Hex, Loaded]
        sessions.delete(oldest)
        await entry.session.release().catch(() => {})
      }
      return info
    },
    async run(hash, inputs) {
      const loaded = get(hash)
      // A task of several inputs (lib/proofs/units.ts): each in turn, outputs as a unit too. A
      // plain map is never a unit: it cannot hold `0.${name}` for every one of its own names.
      const unit = unpackUnit(
        inputs,
        loaded.info.inputs.map((i) => i.name),
      )
      if (!unit) return runOne(loaded, inputs)
      const outputs: TensorMap[] = []
      for (const one of unit) outputs.push(await runOne(loaded, one))
      return packUnit(outputs)
    },
    async dispose() {
      for (const { session } of sessions.values()) await session.release().catch(() => {})
      sessions.clear()
    },
  }
}

function describe(m: Ort.InferenceSession.ValueMetadata): ValueInfo {
  if (!m.isTensor) return { name: m.name, type: 'non-tensor', dims: [] }
  return { name: m.name, type: m.type, dims: [...m.shape] }
}

/** Throws InputMismatchError unless `inputs` has exactly the model's inputs with fitting types and shapes. */
export function checkInputs(info: Pick<ModelInfo, 'inputs'>, inputs: TensorMap): void {
  const want = info.inputs.map((i) => i.name).sort()
  const got = Object.keys(inputs).sort()
  if (want.join('\0') !== got.join('\0')) {
    throw new InputMismatchError('The inputs do not match the model.', {
      details: `model expects ${JSON.stringify(want)}, got ${JSON.stringify(got)}`,
    })
  }
  for (const spec of info.inputs) {
    const t = inputs[spec.name]!
    if (spec.type !== t.type) {
      throw new InputMismatchError(`Input "${spec.name}" must be ${spec.type}, got ${t.type}.`)
    }
    const fixed = spec.dims.length > 0
    if (fixed && spec.dims.length !== t.dims.length) {
      throw new InputMismatchError(
        `Input "${spec.name}" must have ${spec.dims.length} dimensions, got ${t.dims.length}.`,
        {
          details: `model shape ${JSON.stringify(spec.dims)}, got ${JSON.stringify(t.dims)}`,
        },
      )
    }
    spec.dims.forEach((d, i) => {
      if (typeof d === 'number' && d >= 0 && t.dims[i] !== d) {
        throw new InputMismatchError(
          `Input "${spec.name}" dimension ${i} must be ${d}, got ${t.dims[i]}.`,
          {
            details: `model shape ${JSON.stringify(spec.dims)}, got ${JSON.stringify(t.dims)}`,
          },
        )
      }
    })
  }
}

import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import * as ortNode from 'onnxruntime-node'
import * as ortWeb from 'onnxruntime-web'
import { beforeAll, describe, expect, it } from 'vitest'
import { seededInputs } from '../../scripts/lib/onnx-mlp'
import { ensureModels } from '../../scripts/models'
import {
  packUnit,
  parseInputsJson,
  parsePolicy,
  resultHash,
  type TensorMap,
  unpackUnit,
} from '../proofs'
import { createOrtEngine, type InferenceEngine } from './engine'
import type { ManifestEntry } from './manifest'

let models: ManifestEntry[]
const bytes = (m: ManifestEntry) =>
  new Uint8Array(readFileSync(join(import.meta.dirname, '../../public/models', m.file)))
const byName = (n: string) => models.find((m) => m.name === n)!

beforeAll(() => {
  models = ensureModels().models
  ortWeb.env.wasm.numThreads = 1
})

const engines: Array<[string, () => InferenceEngine]> = [
  [
    'onnxruntime-node',
    () =>
      createOrtEngine(ortNode, {
        backend: 'cpu',
        executionProviders: ['cpu'],
        intraOpNumThreads: 1,
      }),
  ],
  [
    'onnxruntime-web (wasm)',
    () => createOrtEngine(ortWeb, { backend: 'wasm', executionProviders: ['wasm'] }),
  ],
]

describe.each(engines)('%s engine', (_name, make) => {
  it('runs every catalogue model on its example shape', async () => {
    const engine = make()
    for (const m of models) {
      const info = await engine.load(m.sha256, bytes(m))
      expect(info.inputs.map((i) => i.name)).toEqual(m.inputs.map((i) => i.name))
      const [task] = parseInputsJson(seededInputs(7, 1, m.exampleDims))
      const out = await engine.run(m.sha256, task!)
      for (const o of m.outputs) {
        expect(out[o.name]!.type).toBe('float32')
        expect(out[o.name]!.dims.length).toBe(o.dims.length)
      }
    }
    await engine.dispose()
  })

  // A corrupt or non-ONNX upload must give the requester a reason, not crash the worker.
  it('rejects a corrupt model with ModelError(unsupported)', async () => {
    const engine = make()
    const junk = new Uint8Array(1000).fill(7)
    await expect(engine.load(`0x${'00'.repeat(32)}`, junk)).rejects.toMatchObject({
      name: 'ModelError',
      reason: 'unsupported',
    })
    // The engine still works afterwards.
    const m = byName('mlp-16x4')
    await engine.load(m.sha256, bytes(m))
    await engine.dispose()
  })

  it('rejects inputs that do not fit the model, naming the problem', async () => {
    const engine = make()
    const m = byName('mlp-16x4')
    await engine.load(m.sha256, bytes(m))
    const x = (dims: number[], type = 'float32') =>
      parseInputsJson([
        { x: { type, dims, data: Array(dims.reduce((a, b) => a * b, 1)).fill(0) } },
      ])[0]!
    await expect(engine.run(m.sha256, x([1, 15]))).rejects.toThrowError(
      /dimension 1 must be 16, got 15/,
    )
    await expect(engine.run(m.sha256, x([16]))).rejects.toThrowError(
      /must have 2 dimensions, got 1/,
    )
    await expect(engine.run(m.sha256, x([1, 16], 'int32'))).rejects.toThrowError(
      /must be float32, got int32/,
    )
    const wrongName: TensorMap = { z: x([1, 16]).x! }
    await expect(engine.run(m.sha256, wrongName)).rejects.toThrowError(
      /model expects \["x"\], got \["z"\]/,
    )
    // A batch of 3 is fine: N is dynamic.
    expect((await engine.run(m.sha256, x([3, 16]))).y!.dims).toEqual([3, 4])
    await engine.dispose()
  })

  it('runs a task of several inputs one by one, outputs named like its inputs', async () => {
    const engine = make()
    const m = byName('mlp-16x4')
    await engine.load(m.sha256, bytes(m))
    const inputs = parseInputsJson(seededInputs(3, 3, m.exampleDims))
    const unit = await engine.run(m.sha256, packUnit(inputs))
    expect(Object.keys(unit).sort()).toEqual(['0.y', '1.y', '2.y'])
    const one = unpackUnit(unit, ['y'])!
    for (let j = 0; j < 3; j++)
      expect([...(one[j]!.y!.data as Float32Array)]).toEqual([
        ...((await engine.run(m.sha256, inputs[j]!)).y!.data as Float32Array),
      ])
    // Not a unit (a gap in the positions): refused as inputs that do not fit the model.
    const { '1.x': _, ...gap } = packUnit(inputs)
    await expect(engine.run(m.sha256, gap)).rejects.toThrowError(/model expects \["x"\]/)
    await engine.dispose()
  })
})

describe('onnxruntime-web (wasm) against onnxruntime-node', () => {
  // The demo compares every accepted result with onnxruntime-node under the job's policy; this is
  // where that comparison is known to hold, measured over 200 seeded inputs per model.
  it.each([
    ['mlp-16x4', 'round:3'],
    ['mlp-16x4', 'argmax'],
    ['ppocr-cls', 'argmax'],
  ])('%s agrees under %s', async (name, policyText) => {
    const m = byName(name)
    const policy = parsePolicy(policyText)
    const web = createOrtEngine(ortWeb, { backend: 'wasm', executionProviders: ['wasm'] })
    const node = createOrtEngine(ortNode, {
      backend: 'cpu',
      executionProviders: ['cpu'],
      intraOpNumThreads: 1,
    })
    await web.load(m.sha256, bytes(m))
    await node.load(m.sha256, bytes(m))
    const count = name === 'ppocr-cls' ? 40 : 200
    const tasks = parseInputsJson(seededInputs(11, count, m.exampleDims))
    let disagree = 0
    for (const t of tasks) {
      const a = resultHash(await web.run(m.sha256, t), policy)
      const b = resultHash(await node.run(m.sha256, t), policy)
      if (a !== b) disagree++
    }
    expect(disagree).toBe(0)
    await web.dispose()
    await node.dispose()
  })
})

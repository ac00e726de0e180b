/**
 * Builds a small multilayer perceptron as an ONNX file, with weights from a seeded generator:
 * the same options always give the same bytes. Used for the catalogue's fast test model and for
 * "any ONNX file" tests that need a model outside the catalogue.
 *
 *   x [N, inputSize] → Gemm → Relu → Gemm → Softmax → y [N, outputSize]
 */
import onnxProto from 'onnx-proto'

const { onnx } = onnxProto

export interface MlpOptions {
  seed: number
  inputSize: number
  hiddenSize: number
  outputSize: number
  /** Graph name, also the model's doc string. */
  name: string
}

/** mulberry32: a tiny deterministic PRNG; weights only need to be reproducible, not random. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function tensor(name: string, dims: number[], rand: () => number, scale: number) {
  const n = dims.reduce((a, b) => a * b, 1)
  const values = Float32Array.from({ length: n }, () => (rand() * 2 - 1) * scale)
  return onnx.TensorProto.create({
    name,
    dims,
    dataType: onnx.TensorProto.DataType.FLOAT,
    rawData: new Uint8Array(values.buffer),
  })
}

function valueInfo(name: string, dims: Array<number | string>) {
  return onnx.ValueInfoProto.create({
    name,
    type: onnx.TypeProto.create({
      tensorType: onnx.TypeProto.Tensor.create({
        elemType: onnx.TensorProto.DataType.FLOAT,
        shape: onnx.TensorShapeProto.create({
          dim: dims.map((d) =>
            typeof d === 'number'
              ? onnx.TensorShapeProto.Dimension.create({ dimValue: d })
              : onnx.TensorShapeProto.Dimension.create({ dimParam: d }),
          ),
        }),
      }),
    }),
  })
}

export function buildMlp(o: MlpOptions): Uint8Array {
  const rand = seededRandom(o.seed)
  const graph = onnx.GraphProto.create({
    name: o.name,
    input: [valueInfo('x', ['N', o.inputSize])],
    output: [valueInfo('y', ['N', o.outputSize])],
    initializer: [
      tensor('w1', [o.inputSize, o.hiddenSize], rand, 1 / Math.sqrt(o.inputSize)),
      tensor('b1', [o.hiddenSize], rand, 0.1),
      tensor('w2', [o.hiddenSize, o.outputSize], rand, 1 / Math.sqrt(o.hiddenSize)),
      tensor('b2', [o.outputSize], rand, 0.1),
    ],
    node: [
      onnx.NodeProto.create({
        opType: 'Gemm',
        input: ['x', 'w1', 'b1'],
        output: ['h'],
        name: 'fc1',
      }),
      onnx.NodeProto.create({ opType: 'Relu', input: ['h'], output: ['hr'], name: 'relu' }),
      onnx.NodeProto.create({
        opType: 'Gemm',
        input: ['hr', 'w2', 'b2'],
        output: ['logits'],
        name: 'fc2',
      }),
      onnx.NodeProto.create({
        opType: 'Softmax',
        input: ['logits'],
        output: ['y'],
        name: 'softmax',
        attribute: [
          onnx.AttributeProto.create({
            name: 'axis',
            i: 1,
            type: onnx.AttributeProto.AttributeType.INT,
          }),
        ],
      }),
    ],
  })
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'meshwork',
    producerVersion: '1',
    docString: o.name,
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    graph,
  })
  return onnx.ModelProto.encode(model).finish()
}

/** Seeded inputs for a model: `count` tasks, each `{ [name]: float32 of dims }`, values in [-1, 1). */
export function seededInputs(seed: number, count: number, inputs: Record<string, number[]>) {
  const rand = seededRandom(seed)
  return Array.from({ length: count }, () => {
    const task: Record<string, { type: 'float32'; dims: number[]; data: number[] }> = {}
    for (const [name, dims] of Object.entries(inputs)) {
      const n = dims.reduce((a, b) => a * b, 1)
      task[name] = {
        type: 'float32',
        dims,
        data: Array.from({ length: n }, () => Math.fround(rand() * 2 - 1)),
      }
    }
    return task
  })
}

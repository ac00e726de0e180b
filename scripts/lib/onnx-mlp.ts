/**
 * Builds a small multilayer perceptron as an ONNX file, with weights from a seeded generator:
 * the same options always give the same bytes. Used for the catalogue's fast test model and for
 * "any ONNX file" tests that need a model outside the catalogue.
 *
 *   x [N, inputSize] → Gemm → Relu → Gemm → Softmax → y [N, outputSize]
 */
import onnxProto from 'onnx-proto'
import { seededRandom } from '../../lib/env/random'

export { seededInputs } from '../../lib/runtime/examples'

const { onnx } = onnxProto

export interface MlpOptions {
  seed: number
  inputSize: number
  hiddenSize: number
  outputSize: number
  /** Graph name, also the model's doc string. */
  name: string
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

/**
 * The smallest useful ONNX model, `y = Identity(x)` over one float: the inference worker creates
 * a session of it at start, so that ONNX Runtime's WASM (and WebGPU) backend is compiled and
 * initialised while the volunteer joins the mesh rather than after its first lease. Its bytes
 * are inlined in lib/runtime/warmup.ts; a test checks them against this builder.
 */
export function buildWarmupModel(): Uint8Array {
  const graph = onnx.GraphProto.create({
    name: 'warmup',
    input: [valueInfo('x', [1])],
    output: [valueInfo('y', [1])],
    node: [onnx.NodeProto.create({ opType: 'Identity', input: ['x'], output: ['y'] })],
  })
  const model = onnx.ModelProto.create({
    irVersion: 8,
    producerName: 'meshwork',
    opsetImport: [onnx.OperatorSetIdProto.create({ domain: '', version: 13 })],
    graph,
  })
  return onnx.ModelProto.encode(model).finish()
}

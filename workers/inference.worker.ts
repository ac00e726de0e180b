/// <reference lib="webworker" />
/**
 * The inference Web Worker: exposes lib/runtime's InferenceApi over comlink. Thin on purpose;
 * everything it does lives in lib/runtime/worker-api.ts. ONNX Runtime is imported once the
 * worker knows whether WebGPU will be used: the WASM-only build otherwise, half the size of the
 * JSEP build and quicker to start.
 */
import * as Comlink from 'comlink'
import { createInferenceApi } from '../lib/runtime/worker-api'

Comlink.expose(
  createInferenceApi(
    (webgpu) => (webgpu ? import('onnxruntime-web') : import('onnxruntime-web/wasm')),
    Comlink.transfer,
  ),
)

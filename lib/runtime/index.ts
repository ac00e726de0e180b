/**
 * `lib/runtime`: running models. The manifest of shipped models, fetching a model by hash with
 * its sha256 checked and the bytes cached in the store, and the inference engine over ONNX
 * Runtime (web in a Web Worker, or node). Imports `lib/store` and `lib/proofs` (types).
 */

export * from './compute'
export * from './engine'
export * from './examples'
export * from './manifest'
export * from './model-source'
export * from './worker-api'

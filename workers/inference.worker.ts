/// <reference lib="webworker" />
/**
 * The inference Web Worker: exposes lib/runtime's InferenceApi over comlink. Thin on purpose;
 * everything it does lives in lib/runtime/worker-api.ts.
 */
import * as Comlink from 'comlink'
import * as ort from 'onnxruntime-web'
import { createInferenceApi } from '../lib/runtime/worker-api'

Comlink.expose(createInferenceApi(ort, Comlink.transfer))

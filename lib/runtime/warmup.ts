/**
 * A one-float `y = Identity(x)` ONNX model (80 bytes, built by scripts/lib/onnx-mlp.ts
 * `buildWarmupModel`; warmup.test.ts checks these bytes against it). The inference worker opens a
 * session of it at start: ONNX Runtime compiles and initialises its WASM (and WebGPU) backend on
 * the first session, which took 1.2–1.4 s in headless Chromium here, so doing it while the
 * volunteer joins the mesh takes that off the first task (bench/optimisations.md).
 */
const WARMUP_MODEL_BASE64 =
  'CAgSCG1lc2h3b3JrOjwKEAoBeBIBeSIISWRlbnRpdHkSBndhcm11cFoPCgF4EgoKCAgBEgQKAggBYg8KAXkSCgoICAESBAoCCAFCBAoAEA0='

export function warmupModel(): Uint8Array {
  return Uint8Array.from(atob(WARMUP_MODEL_BASE64), (c) => c.charCodeAt(0))
}

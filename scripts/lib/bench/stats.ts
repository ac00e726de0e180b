/** Helpers shared by the benchmark modules (no runtime imports, so any script can load them). */

/**
 * Runs before timing starts. V8 compiles WASM with a baseline tier first and optimises hot
 * functions as they run: here the PP-OCR detector takes 5–8 inferences to reach steady speed
 * (~100 ms → ~45 ms on one thread). A volunteer runs streams of tasks, so steady speed is the
 * figure that matters; the cold first inference is part of the cold-start measurement.
 */
export const WARMUP = 10

export function summarize(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN
  return { p50: at(0.5), p95: at(0.95) }
}

/**
 * The capability probe a volunteer runs when it starts: a short fixed numeric kernel timed on
 * this thread (a speed score), and what the platform says of its cores and memory. Coordinators
 * read it from work requests and size a new worker's first lease by it (lib/jobs/job-run.ts);
 * the dashboard shows it. Claims are bounded: a worker that claims to be slow gets at most four
 * times the typical first lease, one that claims to be fast only shortens its own.
 */

export interface Capability {
  /** Multiply-adds per microsecond on a 64×64 float32 matrix product (higher is faster). */
  score: number
  /** Logical cores the platform reports. */
  cores?: number | undefined
  /** Device memory in GiB, where the platform tells (navigator.deviceMemory, os.totalmem). */
  memoryGb?: number | undefined
}

const N = 64

/**
 * Multiply-adds per microsecond of a 64×64 float32 matrix product, the best of `rounds` (each
 * ~1–5 ms on current CPUs; the whole probe stays under ~50 ms).
 */
export function computeScore(rounds = 5): number {
  const a = new Float32Array(N * N)
  const b = new Float32Array(N * N)
  const c = new Float32Array(N * N)
  for (let i = 0; i < N * N; i++) {
    a[i] = ((i * 7) % 13) / 13
    b[i] = ((i * 5) % 11) / 11
  }
  let best = Number.POSITIVE_INFINITY
  let sink = 0
  for (let r = 0; r < rounds; r++) {
    const t0 = performance.now()
    for (let i = 0; i < N; i++)
      for (let k = 0; k < N; k++) {
        const aik = a[i * N + k]!
        for (let j = 0; j < N; j++) c[i * N + j]! += aik * b[k * N + j]!
      }
    best = Math.min(best, performance.now() - t0)
    sink += c[r]!
  }
  // `sink` keeps the loop from being optimised away; it is always finite.
  if (!Number.isFinite(sink)) return 0
  const macs = N * N * N
  return macs / Math.max(best * 1000, 1)
}

/**
 * Runs the probe. `memoryGb` and `cores` for platforms without navigator.deviceMemory and
 * navigator.hardwareConcurrency (Node 20: os.totalmem, os.availableParallelism).
 */
export function probeCapability(opts: { memoryGb?: number; cores?: number } = {}): Capability {
  const nav =
    typeof navigator === 'undefined'
      ? undefined
      : (navigator as Navigator & { deviceMemory?: number })
  const memoryGb = opts.memoryGb ?? nav?.deviceMemory
  const cores = opts.cores ?? nav?.hardwareConcurrency
  return {
    score: Math.round(computeScore() * 100) / 100,
    ...(cores ? { cores } : {}),
    ...(memoryGb !== undefined ? { memoryGb: Math.round(memoryGb * 10) / 10 } : {}),
  }
}

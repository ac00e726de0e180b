/**
 * `npm test`: every test, in this order, stopping early only when a prerequisite is missing.
 *   1. checks: TypeScript, biome, generated contract bindings up to date
 *   2. contracts: forge (unit, fuzz, invariants)
 *   3. the web app is built if stale (the browser tests serve it)
 *   4. vitest: unit, integration (real relay + anvil + Node peers), end-to-end (headless
 *      Chromium), all inside a private network namespace (scripts/in-netns.sh)
 *   5. the benchmark's short configuration (`npm run bench -- --quick`), so that it keeps working
 * Ends with one line, `N passed, N failed`, summing everything it ran.
 */
import { spawnSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CHROMIUM, CHROMIUM_MISSING } from '../tests/helpers/browser'
import { buildAppIfStale, ROOT } from './lib/stack'
import { ensureModels } from './models'

const bin = (name: string) => join(ROOT, 'node_modules/.bin', name)
let passed = 0
let failed = 0
const step = (title: string) => process.stderr.write(`\n▶ ${title}\n`)

function sh(
  cmd: string,
  args: string[],
  opts: { cwd?: string } = {},
): { code: number; out: string } {
  const r = spawnSync(cmd, args, {
    cwd: opts.cwd ?? ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    encoding: 'utf8',
    env: { ...process.env, NEXT_TELEMETRY_DISABLED: '1' },
  })
  const out = `${r.stdout ?? ''}${r.stderr ?? ''}`
  process.stderr.write(out)
  return { code: r.status ?? 1, out }
}

// Prerequisites: fail at once with the exact fix, never skip silently.
if (!existsSync(CHROMIUM)) {
  console.error(CHROMIUM_MISSING)
  process.exit(1)
}
const netns = spawnSync(join(ROOT, 'scripts/in-netns.sh'), ['true'], { encoding: 'utf8' })
if (netns.status !== 0) {
  console.error(
    `The browser and mesh tests need a private network namespace, and creating one failed:\n${netns.stderr}\nRun the tests as root, or enable unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1).`,
  )
  process.exit(1)
}

step('checks: tsc, biome, contract bindings')
for (const [name, cmd, args] of [
  ['typescript', bin('tsc'), ['-p', '.']],
  ['biome', bin('biome'), ['check', '.']],
  ['contract bindings', bin('tsx'), ['scripts/gen-contracts.ts', '--check']],
] as const) {
  const { code } = sh(cmd, [...args])
  if (code === 0) passed++
  else {
    failed++
    process.stderr.write(`✗ ${name} check failed\n`)
  }
}

step('contracts: forge test')
const forge = sh(bin('forge'), ['test'], { cwd: join(ROOT, 'contracts') })
const fm = /(\d+) tests passed, (\d+) failed/.exec(forge.out)
if (fm) {
  passed += Number(fm[1])
  failed += Number(fm[2])
} else failed++

step('models and web app build')
ensureModels()
await buildAppIfStale((l) => process.stderr.write(`${l}\n`))

step('vitest: unit, integration, end-to-end (in a private network namespace)')
const dir = mkdtempSync(join(tmpdir(), 'meshwork-test-'))
const report = join(dir, 'vitest.json')
const vitest = sh(join(ROOT, 'scripts/in-netns.sh'), [
  bin('vitest'),
  'run',
  '--reporter=default',
  '--reporter=json',
  `--outputFile.json=${report}`,
])
if (existsSync(report)) {
  const r = JSON.parse(readFileSync(report, 'utf8')) as {
    numPassedTests: number
    numFailedTests: number
    numTotalTests: number
    numPendingTests: number
  }
  passed += r.numPassedTests
  failed += r.numFailedTests
  if (vitest.code !== 0 && r.numFailedTests === 0) failed++ // a suite failed to load or a hook failed
} else failed++
rmSync(dir, { recursive: true, force: true })

step('benchmark, short configuration: npm run bench -- --quick (no thresholds on times)')
const bench = sh(join(ROOT, 'scripts/in-netns.sh'), [
  bin('tsx'),
  'scripts/bench.ts',
  '--quick',
  '--json',
])
const benchJson = bench.out
  .trim()
  .split('\n')
  .reverse()
  .find((l) => l.startsWith('{'))
const benchOk =
  bench.code === 0 &&
  benchJson !== undefined &&
  (JSON.parse(benchJson) as { targets?: unknown[] }).targets?.length !== undefined
if (benchOk) passed++
else {
  failed++
  process.stderr.write('✗ npm run bench -- --quick failed\n')
}

process.stdout.write(`\n${passed} passed, ${failed} failed\n`)
process.exit(failed === 0 ? 0 : 1)

/**
 * `npm run adversary`: the trust scenarios (scripts/lib/adversary.ts describes each) against a
 * live network of their own, reporting wrong results accepted, honest workers punished, how
 * fast colluders were excluded and the effective redundancy.
 *
 *   --quick          short configurations (what `npm test` runs)
 *   --only a,b       run only these scenarios
 *   --json           last line of stdout is {"scenarios":[…]}
 *
 * Exits 1 if any scenario fails. Runs inside a private network namespace (scripts/in-netns.sh).
 * Each scenario runs in a process of its own, like peers on separate machines: many WebRTC
 * networks started and stopped in one Node process were seen to stop forming direct links.
 */
import '../lib/env/polyfills-node'
import { spawnSync } from 'node:child_process'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { setLogLevel } from '../lib/env/log'
import { errorMessage } from '../lib/errors'
import { ADVERSARY_SCENARIOS, type AdversaryResult } from './lib/adversary'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
    child: { type: 'boolean', default: false },
  },
})
if (!process.env.MESHWORK_LOG) setLogLevel('error')
const say = (s: string) => process.stderr.write(`${s}\n`)
const only = values.only?.split(',').map((s) => s.trim())
const unknown = only?.filter((n) => !ADVERSARY_SCENARIOS.some((s) => s.name === n)) ?? []
if (unknown.length > 0) {
  say(
    `Unknown scenario(s): ${unknown.join(', ')}. Known: ${ADVERSARY_SCENARIOS.map((s) => s.name).join(', ')}`,
  )
  process.exit(2)
}
const size = values.quick ? 'short' : 'full'
const results: AdversaryResult[] = []
for (const s of ADVERSARY_SCENARIOS.filter((s) => !only || only.includes(s.name))) {
  if (!values.child) say(`▶ ${s.name} (${size}): ${s.description}`)
  const started = Date.now()
  try {
    results.push(values.child ? await s.run(size, say) : inChild(s.name))
  } catch (err) {
    if (process.env.MESHWORK_LOG) say(String((err as Error).stack ?? err))
    results.push({
      name: s.name,
      tasks: 0,
      wrongAccepted: 0,
      honestPunished: 0,
      colludersExcludedWithin: null,
      effectiveRedundancy: 0,
      pass: false,
      reasons: [`scenario crashed: ${errorMessage(err)}`],
      details: {},
      wallMs: Date.now() - started,
    })
  }
  const r = results.at(-1)!
  if (values.child) continue
  say(
    `  ${r.pass ? 'PASS' : 'FAIL'}  ${r.tasks} tasks, ${r.wrongAccepted} wrong accepted, ${r.honestPunished} honest punished, colluders excluded within ${r.colludersExcludedWithin ?? '–'} tasks, redundancy ${r.effectiveRedundancy}, ${(r.wallMs / 1000).toFixed(1)} s`,
  )
  if (!r.pass) say(`  why: ${r.reasons.join('; ')}`)
  say(`  ${JSON.stringify(r.details)}`)
}
const failed = results.filter((r) => !r.pass).length
if (!values.child) say(`\n${results.length - failed} passed, ${failed} failed`)
if (values.json) process.stdout.write(`${JSON.stringify({ scenarios: results })}\n`)
process.exit(failed > 0 ? 1 : 0)

/** Runs one scenario in a fresh process and returns its result (the child's last stdout line). */
function inChild(name: string): AdversaryResult {
  const args = [import.meta.filename, '--child', '--json', '--only', name]
  if (values.quick) args.push('--quick')
  const child = spawnSync(join(import.meta.dirname, '../node_modules/.bin/tsx'), args, {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'inherit'],
    maxBuffer: 64 * 1024 * 1024,
  })
  const last = child.stdout.trim().split('\n').at(-1) ?? ''
  try {
    const [r] = (JSON.parse(last) as { scenarios: AdversaryResult[] }).scenarios
    if (r) return r
  } catch {}
  throw new Error(`the scenario's process exited with ${child.status} and no result`)
}

/**
 * `npm run chaos`: runs every fault scenario against a live network of its own and reports what
 * was lost, what was paid twice and how long recovery took (scripts/lib/chaos.ts describes each).
 *
 *   --quick          short configurations (what `npm test` runs)
 *   --only a,b       run only these scenarios
 *   --json           last line of stdout is {"scenarios":[…]}
 *
 * Exits 1 if any scenario fails. Runs inside a private network namespace (scripts/in-netns.sh).
 */
import '../lib/env/polyfills-node'
import { parseArgs } from 'node:util'
import { setLogLevel } from '../lib/env/log'
import { errorMessage } from '../lib/errors'
import { NODE_SCENARIOS, type Scenario, type ScenarioResult } from './lib/chaos'
import { TAB_SCENARIOS } from './lib/chaos-tabs'

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    only: { type: 'string' },
    json: { type: 'boolean', default: false },
  },
})
if (!process.env.MESHWORK_LOG) setLogLevel('error')
const say = (s: string) => process.stderr.write(`${s}\n`)
const all: Scenario[] = [...NODE_SCENARIOS, ...TAB_SCENARIOS]
const only = values.only?.split(',').map((s) => s.trim())
const unknown = only?.filter((n) => !all.some((s) => s.name === n)) ?? []
if (unknown.length > 0) {
  say(`Unknown scenario(s): ${unknown.join(', ')}. Known: ${all.map((s) => s.name).join(', ')}`)
  process.exit(2)
}
const size = values.quick ? 'short' : 'full'
const results: ScenarioResult[] = []
for (const s of all.filter((s) => !only || only.includes(s.name))) {
  say(`▶ ${s.name} (${size}): ${s.description}`)
  const started = Date.now()
  try {
    results.push(await s.run(size, say))
  } catch (err) {
    if (process.env.MESHWORK_LOG) say(String((err as Error).stack ?? err))
    results.push({
      name: s.name,
      tasks: 0,
      completed: 0,
      lost: 0,
      doublePaid: 0,
      recoverMs: null,
      pass: false,
      reasons: [`scenario crashed: ${errorMessage(err)}`],
      details: {},
      wallMs: Date.now() - started,
    })
  }
  const r = results.at(-1)!
  say(
    `  ${r.pass ? 'PASS' : 'FAIL'}  ${r.completed}/${r.tasks} completed, ${r.lost} lost, ${r.doublePaid} paid twice, recovery ${r.recoverMs ?? '–'} ms, ${(r.wallMs / 1000).toFixed(1)} s`,
  )
  if (!r.pass) say(`  why: ${r.reasons.join('; ')}`)
  say(`  ${JSON.stringify(r.details)}`)
}
const failed = results.filter((r) => !r.pass).length
say(`\n${results.length - failed} passed, ${failed} failed`)
if (values.json) process.stdout.write(`${JSON.stringify({ scenarios: results })}\n`)
process.exit(failed > 0 ? 1 : 0)

/**
 * `npm run gas-report`: writes contracts/GAS.md (committed, so changes show in review) with
 *   1. all the gas a job costs on chain, per task, measured on anvil (scripts/lib/bench/gas.ts):
 *      createJob, recording every task's result, redeeming every worker's final claim, for
 *      10 / 100 / 1,000 tasks × quorum 2 / 3 and 10 workers; and what of it is a floor;
 *   2. forge's per-call gas report over the contract unit and fuzz tests.
 * Flags: --tasks 10,100,1000  --quorums 2,3  --workers 10  --skip-forge (keep section 2 as it is).
 */
import '../lib/env/polyfills-node'
import { execFileSync } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { type GasRow, measureJobGas, RECORD_BATCH } from './lib/bench/gas'

const ROOT = join(import.meta.dirname, '..')
const FORGE = join(ROOT, 'node_modules/.bin/forge')
const GAS_MD = join(ROOT, 'contracts/GAS.md')
const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '10,100,1000' },
    quorums: { type: 'string', default: '2,3' },
    workers: { type: 'string', default: '10' },
    'skip-forge': { type: 'boolean', default: false },
  },
})
const list = (s: string) => s.split(',').map((x) => Number(x.trim()))
const workers = Number(values.workers)
const { rows, hardfork } = await measureJobGas({
  tasks: list(values.tasks),
  quorums: list(values.quorums),
  workers,
})

const fmt = (n: number) => Math.round(n).toLocaleString('en-US')
const jobTable = [
  '| tasks | quorum | createJob | record (txs) | redeem, 1 tx: first-time / returning | redeem, own txs: first-time / returning |',
  '|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${fmt(r.batch)} | ${r.quorum} | ${fmt(r.createJob)} (${fmt(r.createJobNoFee)} without fee) | ${fmt(r.record)} (${r.recordTxs}) | ${fmt(r.redeemFirstTime)} / ${fmt(r.redeemReturning)} | ${fmt(r.redeemOwnTxFirstTime)} / ${fmt(r.redeemOwnTxReturning)} |`,
  ),
].join('\n')
const perTaskTable = [
  '| tasks | quorum | all-in | without recording | first-time all-in | first-time without recording | own redeem txs, all-in | own redeem txs, without recording |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map(
    (r) =>
      `| ${fmt(r.batch)} | ${r.quorum} | **${fmt(r.perTask.allIn)}** | **${fmt(r.perTask.withoutRecording)}** | ${fmt(r.perTask.firstTimeAllIn)} | ${fmt(r.perTask.firstTimeWithoutRecording)} | ${fmt(r.perTask.ownTxAllIn)} | ${fmt(r.perTask.ownTxWithoutRecording)} |`,
  ),
].join('\n')

const at = (tasks: number, quorum = 2) => rows.find((r) => r.batch === tasks && r.quorum === quorum)
const big = at(1000) ?? rows.at(-1)!
const mid = at(100) ?? rows[0]!
// Recording, per task, from the largest job (where createJob and the redemptions weigh least).
const recordPerTask = big.record / big.batch
const redeemPerWorker = (r: GasRow) => (r.redeemReturning - 21_000) / r.workers
const fixedPerJob = mid.createJobNoFee + 21_000 + workers * redeemPerWorker(mid)

const target = (name: string, measured: number, limit: number) =>
  `| ${name} | ≤ ${fmt(limit)} | ${fmt(measured)} | ${measured <= limit ? 'met' : 'not met'} |`
const targets = [
  ...[at(100)].flatMap((r) =>
    r
      ? [
          target('all-in per task, 100 tasks', r.perTask.allIn, 3000),
          target('without recording, 100 tasks', r.perTask.withoutRecording, 3000),
        ]
      : [],
  ),
  ...[at(1000)].flatMap((r) =>
    r
      ? [
          target('all-in per task, 1,000 tasks', r.perTask.allIn, 1000),
          target('without recording, 1,000 tasks', r.perTask.withoutRecording, 1000),
        ]
      : [],
  ),
].join('\n')

const analysis = `## Where the gas goes, and the floor

Measured on anvil (hardfork ${hardfork}: EIP-7623 calldata pricing applies), per
job of T tasks with W = ${workers} workers:

- **createJob: ${fmt(mid.createJobNoFee)} gas** (${fmt(mid.createJob)} with a fee per task), whatever
  T is. It is 21,000 for the transaction and six new storage slots at 22,100 each (three packed
  slots of terms and books, and modelHash, inputsRoot, policy, which \`getJob\` returns), the
  requester's job nonce (5,000), the JobCreated event and calldata. A fee or minimum stake adds
  the seventh slot. Its floor is about 165,000: every slot holds something \`getJob\` must return.
- **Recording: ${fmt(recordPerTask)} gas per task** (${fmt(big.record)} for ${fmt(big.batch)} tasks in
  ${big.recordTxs} transactions of at most ${RECORD_BATCH}). A record is 36 calldata bytes
  (taskIndex ‖ resultHash); a random hash has ~32 non-zero bytes, so a record is ~138 calldata
  tokens, and EIP-7623's floor of 10 gas per token (1,380 per record) is more than the 4 gas per
  token plus the execution (the event's 288 gas per record, one bitmap word per 256 tasks, the
  loop) would cost. Recording therefore costs its calldata floor; making \`record\` itself cheaper
  would not lower it. Nothing below ~1,380 gas per task is possible while each task's result
  hash goes on chain.
- **Redemption: ${fmt(redeemPerWorker(mid))} gas per returning worker** in one transaction for all
  (${fmt((mid.redeemFirstTime - 21_000) / workers)} first-time), plus 21,000 for the transaction.
  Per claim: ~2,600 of calldata (an ABI-encoded Claim is 288 bytes), ecrecover (3,000 + call),
  the worker's account slot (5,000 to update; 22,100 to create for a first-time worker), its
  redeemed count (a new slot per job, but eight workers share one when their account ids are
  neighbours: ids are given in order of first redemption, so regulars share), the ClaimRedeemed
  event (~1,900) and the job's books (cold reads once per transaction). A worker that redeems
  in its own transaction pays 21,000 and the job's cold reads again: ${fmt(mid.perWorker.ownTxReturning)} per worker.
  Redemption depends on W, not on T: a worker's final claim covers all its results.

So per task ≈ (createJob + 21,000 + W × per-worker) / T, plus ~${fmt(recordPerTask)} when results are
recorded. At T = ${fmt(mid.batch)}, W = ${workers}, the part that does not shrink with T is
${fmt(fixedPerJob)} gas, ${fmt(fixedPerJob / mid.batch)} per task.

| target (quorum 2, ${workers} workers) | limit | measured | |
|---|---:|---:|---|
${targets}

Why the 100-task target is out of reach with ten workers: 3,000 × 100 = 300,000 gas for the
whole job, and createJob's floor (~165,000) plus the redeem transaction's 21,000 leave ~11,400
per worker, less than a claim's irreducible part (calldata ~2,600 + ecrecover ~3,000 + account
update 5,000 + event ~1,900 ≈ 12,500, before its redeemed count). With recording, the 1,000-task
target is below the calldata floor of the records alone (~1,380 per task). Without recording,
the 1,000-task target is met: the job's fixed cost spread over 1,000 tasks.
`

let forgeSection: string
if (values['skip-forge']) {
  const old = readFileSync(GAS_MD, 'utf8')
  forgeSection = old.slice(old.indexOf('## Per call'))
} else {
  const out = execFileSync(FORGE, ['test', '--gas-report', '--no-match-contract', 'Invariant'], {
    cwd: join(ROOT, 'contracts'),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  })
  const lines = out.split('\n')
  const tableOf = (contract: string) => {
    const start = lines.findIndex((l) => l.includes(`${contract} Contract`))
    if (start < 0) throw new Error(`No ${contract} table in the gas report.`)
    const end = lines.findIndex((l, i) => i > start && l.startsWith('╰'))
    return lines.slice(start - 1, end + 1).join('\n')
  }
  const version = execFileSync(FORGE, ['--version'], { encoding: 'utf8' }).split('\n')[0]
  forgeSection = `## Per call (forge)

\`forge test --gas-report\` (${version}; optimizer on, 10,000 runs; EVM cancun, one transaction
per test, so storage written earlier in a test is warm and these figures run low next to the
anvil ones above). Min / avg / median / max gas per call over every call the unit and fuzz
tests make. MeshworkRequests: \`request\` includes opening its one-task job on JobEscrow;
\`deliver\` includes the consumer's callback.

\`\`\`text
${tableOf('src/JobEscrow.sol:JobEscrow')}

${tableOf('src/MeshworkRequests.sol:MeshworkRequests')}
\`\`\`
`
}

const md = `# Contract gas report

Generated by \`npm run gas-report\`. Gas is the receipts' \`gasUsed\` on a local anvil chain.

## All the gas of a job, on anvil

Each job: createJob; the coordinator's record of every task's result, sent by a relayer that
the record's signature names as its recorder (so it, and not a copier of its transaction, earns
the job's fee per task); the redemption of every worker's final cumulative claim.
${workers} workers share each job's results round-robin, quorum results per task (replicas =
quorum); result hashes are random. **First-time** workers have empty accounts; **returning**
workers were paid in an earlier job. The requester and the relayer are warmed up first.

Gas of each part, for the whole job:

${jobTable}

Gas per task, the whole job's transactions summed and divided by its tasks (**all-in**:
createJob + record + one redeem transaction for all workers, returning workers):

${perTaskTable}

Per worker, its redemption: ${rows
  .filter((r, i, all) => all.findIndex((x) => x.quorum === r.quorum) === i)
  .map(
    (r) =>
      `quorum ${r.quorum}: ${fmt(r.perWorker.returning)} returning / ${fmt(r.perWorker.firstTime)} first-time as a share of one transaction, ${fmt(r.perWorker.ownTxReturning)} / ${fmt(r.perWorker.ownTxFirstTime)} in its own transaction`,
  )
  .join('; ')}.

${analysis}
${forgeSection}`
writeFileSync(GAS_MD, md)
process.stdout.write(`${jobTable}\n\n${perTaskTable}\nWrote contracts/GAS.md\n`)

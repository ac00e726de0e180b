/**
 * The requester SDK from Node, start to finish: pay for a job, watch it as an async iterator,
 * read the results, and look the job up on chain. Volunteers must be online (open /volunteer,
 * or run `npm run meshwork -- volunteer`).
 *
 *   npm start                          # in another terminal: the local network
 *   npx tsx examples/sdk-node.ts
 *
 * Another network: set MESHWORK_RELAYS, MESHWORK_RPC_URL, MESHWORK_CHAIN_ID, MESHWORK_CONTRACT
 * and MESHWORK_KEY (the paying key). On the local chain the key defaults to anvil's public dev
 * account 1.
 */
import '../lib/env/polyfills-node'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseEther } from 'viem'
import { resolveKey, resolveNetwork } from '../cli/network'
import { parseInputsJson, parsePolicy } from '../lib/proofs'
import { seededInputs } from '../lib/runtime'
import { describeJobStatus, jobStatus, resultsFile, watch } from '../lib/sdk'
import { nodeReference, startNodeRequester } from '../lib/sdk/node'

const say = (line: string) => process.stdout.write(`${line}\n`)
const net = resolveNetwork({})
const key = resolveKey(undefined, net.chainId, say)
const requester = await startNodeRequester(key, net)

// The catalogue's small MLP and five seeded inputs; any .onnx file and inputs work the same.
const model = new Uint8Array(
  readFileSync(join(import.meta.dirname, '../public/models/mlp-16x4.onnx')),
)
const tasks = parseInputsJson(seededInputs(1, 5, { x: [1, 16] }))
// This machine computes a few tasks itself as known answers (checks on the volunteers).
const reference = await nodeReference(model)

const job = await requester.submit({
  model,
  modelName: 'mlp-16x4',
  modelFile: 'mlp-16x4.onnx',
  tasks,
  replicas: 2,
  quorum: 2,
  policy: parsePolicy('round:3'),
  rewardPerResult: parseEther('0.0001'),
  durationSeconds: 600,
  reference: reference.run,
})
say(`job ${job.jobId} paid in ${job.txHash}`)

for await (const p of watch(job.handle)) {
  say(`${p.counts.settled}/${p.total} settled, ${p.resultsReceived} results`)
}

const results = resultsFile(job.jobId, job.spec, job.handle.results())
for (const t of results.tasks)
  say(`task ${t.task}: ${t.status} by ${t.verifiedBy}, y = ${t.outputs?.y?.data.join(' ')}`)

// Anyone can check the job on chain, coordinator or not.
say(describeJobStatus(await jobStatus(requester.client, requester.contract, job.jobId)))

await reference.dispose()
await requester.stop()
process.exit(0)

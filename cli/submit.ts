/**
 * `meshwork submit`: pay for a job, coordinate it until every task is settled (or failed), and
 * print the results JSON on stdout. Progress goes to stderr.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import * as ort from 'onnxruntime-node'
import { parseEther } from 'viem'
import { publicClientFor, readJob } from '../lib/chain'
import { InvalidInputError } from '../lib/errors'
import type { JobHandle } from '../lib/jobs'
import type { JobSpec } from '../lib/proofs'
import { parseInputsJson, parsePolicy, type TensorMap } from '../lib/proofs'
import {
  checkInputs,
  createOrtEngine,
  exampleDims,
  findModel,
  type ManifestEntry,
  parseManifest,
  seededInputs,
} from '../lib/runtime'
import { sha256Hex } from '../lib/runtime/model-source'
import { resultsFile } from '../lib/sdk'
import { nodeReference, startNodeRequester } from '../lib/sdk/node'
import { TRUST_LEVELS, type TrustLevel } from '../lib/trust'
import { jobIdArg, writeJobFile } from './jobs'
import {
  DATA_DIR_OPTION,
  DEFAULT_DATA_DIR,
  NETWORK_OPTIONS,
  resolveChain,
  resolveKey,
  resolveNetwork,
} from './network'

/** Signature-recovery threads by default: every core but the event loop's, at most 8. */
const DEFAULT_RECOVERY_THREADS = Math.min(8, Math.max(0, availableParallelism() - 1))

export const SUBMIT_HELP = `Usage: meshwork submit --model NAME|FILE.onnx [--inputs FILE.json | --tasks N] [options]

Pays createJob from your key, coordinates the job over the mesh until every task is settled
or failed, and prints the results JSON on stdout (progress on stderr).

  --model NAME|FILE    a catalogue model (mlp-16x4, ppocr-cls) or any .onnx file
  --inputs FILE        inputs file: JSON array, one {name: {type, dims, data}} per task
  --tasks N            instead of --inputs: N seeded example tasks (default 10)
  --inputs-per-task K  K inputs in each on-chain task (default 1): one lease, result and
                       settlement per K small inferences; outputs named 0.y, 1.y, …
  --replicas R         results paid per task (default 3)
  --quorum K           agreeing results to accept a task (default 2)
  --policy P           exact | argmax | topk:K | round:D (default: the model's, or round:3)
  --trust LEVEL        standard (default): trusted workers may run tasks alone, spot-checked;
                       high: every task replicated to the quorum (see docs/trust.md)
  --canaries N         tasks this machine computes itself as known answers (default 2 %, at
                       least 2; 0: none — then nothing catches colluders that agree)
  --reward ETH         per agreeing result (default 0.0001)
  --duration SECONDS   deadline from now (default 3600)
  --out FILE           also write the results JSON here (it is always kept in
                       .meshwork/jobs/JOBID.json for \`meshwork results\`)
  --key 0x…            paying key (or MESHWORK_KEY; on the local chain, anvil dev account 1)
  --data-dir DIR       where the job's coordinator key and state are kept (default
                       ${DEFAULT_DATA_DIR}); \`meshwork resume JOBID\` goes on after a crash
  --recovery-threads N threads that check results' signatures, most of a result's cost to
                       the coordinator; 0: on the main thread (default ${DEFAULT_RECOVERY_THREADS}: cores − 1, at most 8)
  --relay MA           relay multiaddr (repeatable; or MESHWORK_RELAYS)
  --rpc URL --chain-id N --contract 0x…   chain (or MESHWORK_RPC_URL, _CHAIN_ID, _CONTRACT)
Without network flags, the network that \`npm start\` runs is used (.meshwork/network.json).`

const ROOT = join(import.meta.dirname, '..')

function recoveryThreads(text: string | undefined): number {
  const n = Number(text)
  if (!(Number.isInteger(n) && n >= 0 && n <= 64))
    throw new InvalidInputError(
      `--recovery-threads must be a whole number from 0 to 64, not "${text}".`,
    )
  return n
}

export async function submitCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      model: { type: 'string' },
      inputs: { type: 'string' },
      tasks: { type: 'string', default: '10' },
      'inputs-per-task': { type: 'string', default: '1' },
      replicas: { type: 'string', default: '3' },
      quorum: { type: 'string', default: '2' },
      policy: { type: 'string' },
      reward: { type: 'string', default: '0.0001' },
      trust: { type: 'string', default: 'standard' },
      canaries: { type: 'string' },
      duration: { type: 'string', default: '3600' },
      out: { type: 'string' },
      key: { type: 'string' },
      'recovery-threads': { type: 'string', default: String(DEFAULT_RECOVERY_THREADS) },
      ...DATA_DIR_OPTION,
      ...NETWORK_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(`${SUBMIT_HELP}\n`)
    return 0
  }
  const say = (s: string) => process.stderr.write(`${s}\n`)
  if (!values.model) throw new InvalidInputError('--model is required.', { hint: SUBMIT_HELP })
  const { model, entry } = loadModel(values.model)
  const tasks = await loadTasks(model, entry, values.inputs, Number(values.tasks))
  const policy = parsePolicy(values.policy ?? entry?.defaultPolicy ?? 'round:3')
  const trust = values.trust as TrustLevel
  if (!TRUST_LEVELS.includes(trust))
    throw new InvalidInputError(`Unknown trust level "${values.trust}".`, {
      hint: `Use ${TRUST_LEVELS.join(' or ')}.`,
    })
  const canaries = values.canaries === undefined ? undefined : Number(values.canaries)
  if (canaries !== undefined && !(Number.isInteger(canaries) && canaries >= 0))
    throw new InvalidInputError(`--canaries must be a whole number ≥ 0, not "${values.canaries}".`)
  const perTask = Number(values['inputs-per-task'])
  if (!(Number.isInteger(perTask) && perTask >= 1))
    throw new InvalidInputError(
      `--inputs-per-task must be a whole number ≥ 1, not "${values['inputs-per-task']}".`,
    )
  const net = resolveNetwork(values)
  const key = resolveKey(values.key, net.chainId, say)
  const requester = await startNodeRequester(key, {
    ...net,
    dataDir: values['data-dir'],
    recoveryThreads: recoveryThreads(values['recovery-threads']),
  })
  const reference = canaries === 0 ? undefined : await nodeReference(model)
  try {
    const taskCount = Math.ceil(tasks.length / perTask)
    say(`Paying the escrow for ${taskCount} tasks…`)
    const job = await requester.submit({
      model,
      modelFile: entry?.file,
      modelName: entry?.name ?? values.model,
      tasks,
      inputsPerTask: perTask,
      replicas: Number(values.replicas),
      quorum: Number(values.quorum),
      policy,
      rewardPerResult: parseEther(values.reward),
      durationSeconds: Number(values.duration),
      trust,
      reference: reference?.run,
      canaryTasks: canaries,
    })
    say(`Job ${job.jobId} created (tx ${job.txHash}). Waiting for volunteers…`)
    say(
      `Its coordinator ${requester.identity.address} is kept in ${values['data-dir']}: if this process stops, \`meshwork resume ${job.jobId}\` goes on with it.`,
    )
    return await followJob(job.handle, job.spec, values.out, say)
  } finally {
    await reference?.dispose().catch(() => {})
    await requester.stop()
  }
}

/**
 * Prints progress on stderr until the job ends, keeps its results file up to date, and prints
 * the results JSON on stdout. Exit status 0 when no task failed.
 */
async function followJob(
  handle: JobHandle,
  spec: JobSpec,
  out: string | undefined,
  say: (s: string) => void,
): Promise<number> {
  // The results so far, kept for `meshwork results` (at most once a second while it runs).
  const keep = () => writeJobFile(resultsFile(handle.jobId, spec, handle.results()))
  say(`Results are kept in ${keep()}.`)
  let kept = Date.now()
  let last = ''
  const report = () => {
    if (Date.now() - kept > 1000) {
      kept = Date.now()
      keep()
    }
    const p = handle.progress()
    const line = `settled ${p.counts.settled}/${p.total} · accepted ${p.counts.accepted} · failed ${p.counts.failed} · ${p.resultsReceived} results from ${p.workers.length} workers`
    if (line === last) return
    last = line
    say(line)
  }
  report()
  handle.events.addEventListener('progress', report)
  const final = await handle.done
  const file = resultsFile(handle.jobId, spec, handle.results())
  writeJobFile(file)
  const text = JSON.stringify(file, null, 2)
  if (out) writeFileSync(out, text)
  process.stdout.write(`${text}\n`)
  if (final.failure) say(`Job failed: ${final.failure}`)
  return final.counts.failed === 0 ? 0 : 1
}

export const RESUME_HELP = `Usage: meshwork resume JOBID [options]

Goes on coordinating a job that \`meshwork submit\` started here and that stopped before it
ended (killed, crashed, machine restarted): its coordinator key and every task, result, lease
and claim are read back from the data directory, only unfinished tasks are leased again, and
no task is paid twice. Then prints the results JSON as submit does.

  --out FILE           also write the results JSON here
  --data-dir DIR       where submit kept the job (default ${DEFAULT_DATA_DIR})
  --recovery-threads N as for submit (default ${DEFAULT_RECOVERY_THREADS})
  --key 0x…            the key that pays the end-of-job transactions (or MESHWORK_KEY)
  --relay MA --rpc URL --chain-id N --contract 0x…   network (default: what npm start runs)`

export async function resumeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      out: { type: 'string' },
      key: { type: 'string' },
      'recovery-threads': { type: 'string', default: String(DEFAULT_RECOVERY_THREADS) },
      ...DATA_DIR_OPTION,
      ...NETWORK_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(`${RESUME_HELP}\n`)
    return 0
  }
  const say = (s: string) => process.stderr.write(`${s}\n`)
  const jobId = jobIdArg(positionals, RESUME_HELP)
  const net = resolveNetwork(values)
  const onChain = await readJob(publicClientFor(resolveChain(values)), net.contract, jobId)
  if (!onChain) throw new InvalidInputError(`No job ${jobId} on contract ${net.contract}.`)
  const key = resolveKey(values.key, net.chainId, say)
  const requester = await startNodeRequester(key, {
    ...net,
    dataDir: values['data-dir'],
    coordinator: onChain.coordinator,
    recoveryThreads: recoveryThreads(values['recovery-threads']),
  })
  try {
    const handle = await requester.resume(jobId)
    const job = await requester.store.getJob(jobId)
    if (!handle || !job)
      throw new InvalidInputError(
        `The store of coordinator ${onChain.coordinator} does not hold job ${jobId} and its model.`,
      )
    const p = handle.progress()
    say(
      `Resumed job ${jobId} as coordinator ${onChain.coordinator}: ${p.counts.settled} of ${p.total} tasks settled before the restart.`,
    )
    return await followJob(handle, job.spec, values.out, say)
  } finally {
    await requester.stop()
  }
}

export function loadModel(spec: string): { model: Uint8Array; entry: ManifestEntry | undefined } {
  if (spec.endsWith('.onnx') || existsSync(spec)) {
    if (!existsSync(spec)) throw new InvalidInputError(`Model file ${spec} does not exist.`)
    return { model: new Uint8Array(readFileSync(spec)), entry: undefined }
  }
  const manifest = parseManifest(
    JSON.parse(readFileSync(join(ROOT, 'public/models/manifest.json'), 'utf8')),
  )
  const entry = findModel(manifest, spec)
  if (!entry) {
    throw new InvalidInputError(`No catalogue model named "${spec}".`, {
      hint: `Catalogue: ${manifest.models.map((m) => m.name).join(', ')}; or pass a .onnx file.`,
    })
  }
  return { model: new Uint8Array(readFileSync(join(ROOT, 'public/models', entry.file))), entry }
}

/** Reads or generates the tasks, and checks every task against the model before anyone pays. */
export async function loadTasks(
  model: Uint8Array,
  entry: ManifestEntry | undefined,
  inputsPath: string | undefined,
  count: number,
): Promise<TensorMap[]> {
  const engine = createOrtEngine(ort, { backend: 'cpu', executionProviders: ['cpu'] })
  try {
    const hash = await sha256Hex(model)
    const info = await engine.load(hash, model)
    let tasks: TensorMap[]
    if (inputsPath) {
      let json: unknown
      try {
        json = JSON.parse(readFileSync(inputsPath, 'utf8'))
      } catch (err) {
        throw new InvalidInputError(`Cannot read the inputs file ${inputsPath}.`, {
          details: (err as Error).message,
        })
      }
      tasks = parseInputsJson(json)
    } else {
      tasks = parseInputsJson(
        seededInputs(42, count, entry?.exampleDims ?? exampleDims(info.inputs)),
      )
    }
    tasks.forEach((t, i) => {
      try {
        checkInputs(info, t)
      } catch (err) {
        const e = err as InvalidInputError
        throw new InvalidInputError(`Task ${i}: ${e.shortMessage ?? String(err)}`, {
          details: e.details,
          cause: err,
        })
      }
    })
    return tasks
  } finally {
    await engine.dispose()
  }
}

/**
 * `meshwork status | results | refund JOBID`: a job after (or while) it runs. Status and refund
 * read the chain; results come from the file `meshwork submit` keeps for each job it coordinated
 * (.meshwork/jobs/JOBID.json, with the outputs), or else from the chain (accepted result hashes
 * and signers only: outputs never go on chain).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { formatEther, type Hex } from 'viem'
import { publicClientFor } from '../lib/chain'
import { InvalidInputError } from '../lib/errors'
import {
  describeJobStatus,
  jobStatus,
  jobStatusJson,
  type ResultsFile,
  refundJob,
} from '../lib/sdk'
import { walletFor } from '../lib/sdk/node'
import { CHAIN_OPTIONS, resolveChain, resolveKey } from './network'

export const JOBS_DIR = join(process.cwd(), '.meshwork/jobs')

const CHAIN_FLAGS = `  --rpc URL --chain-id N --contract 0x…   chain (or MESHWORK_RPC_URL, _CHAIN_ID, _CONTRACT;
                      default: the network \`npm start\` runs)`

const OPTIONS = { ...CHAIN_OPTIONS, help: { type: 'boolean', short: 'h' } } as const

export const STATUS_HELP = `Usage: meshwork status JOBID [--json] [options]

A job's state on chain: terms, tasks settled, escrow paid and left, deadline.

  --json              print JSON instead
${CHAIN_FLAGS}`

export const RESULTS_HELP = `Usage: meshwork results JOBID [--out FILE] [options]

Prints the job's results JSON: from .meshwork/jobs/JOBID.json when this machine coordinated the
job (outputs included), otherwise from the chain (each settled task's result hash and signers;
the outputs themselves never go on chain).

  --out FILE          also write it here
${CHAIN_FLAGS}`

export const REFUND_HELP = `Usage: meshwork refund JOBID [--key 0x…] [options]

After the job's deadline, returns the escrow not paid to workers to the job's requester. Any
key may send it (it pays the gas); the ether only goes to the requester.

  --key 0x…           the sending key (or MESHWORK_KEY; on the local chain, anvil dev account 1)
${CHAIN_FLAGS}`

export function jobIdArg(positionals: string[], help: string): Hex {
  const id = positionals[0]
  if (!id) throw new InvalidInputError('JOBID is required.', { hint: help })
  if (!/^0x[0-9a-fA-F]{64}$/.test(id))
    throw new InvalidInputError(`"${id}" is not a job id (0x followed by 64 hex digits).`)
  return id.toLowerCase() as Hex
}

export async function statusCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...OPTIONS, json: { type: 'boolean', default: false } },
  })
  if (values.help) {
    process.stdout.write(`${STATUS_HELP}\n`)
    return 0
  }
  const jobId = jobIdArg(positionals, STATUS_HELP)
  const chain = resolveChain(values)
  const s = await jobStatus(publicClientFor(chain), chain.contract, jobId)
  process.stdout.write(
    values.json ? `${JSON.stringify(jobStatusJson(s), null, 2)}\n` : `${describeJobStatus(s)}\n`,
  )
  return 0
}

export async function resultsCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...OPTIONS, out: { type: 'string' } },
  })
  if (values.help) {
    process.stdout.write(`${RESULTS_HELP}\n`)
    return 0
  }
  const jobId = jobIdArg(positionals, RESULTS_HELP)
  let file: ResultsFile | undefined = readJobFile(jobId)
  if (!file) {
    process.stderr.write(
      `No ${join('.meshwork/jobs', `${jobId}.json`)} here: results from the chain (the hashes the coordinator recorded; no outputs, no signers).\n`,
    )
    const chain = resolveChain(values)
    const s = await jobStatus(publicClientFor(chain), chain.contract, jobId)
    const settled = new Map(s.settled.map((t) => [t.taskIndex, t]))
    file = {
      jobId,
      modelHash: s.job.modelHash,
      policy: jobStatusJson(s).policy,
      replicas: s.job.replicas,
      quorum: s.job.quorum,
      tasks: Array.from({ length: s.job.taskCount }, (_, task) => {
        const t = settled.get(task)
        return t
          ? {
              task,
              status: 'settled' as const,
              resultHash: t.resultHash,
              agreeing: [],
              dissenting: [],
              voided: [],
              classes: [],
            }
          : {
              task,
              status: 'open' as const,
              agreeing: [],
              dissenting: [],
              voided: [],
              classes: [],
            }
      }),
    }
  }
  const text = JSON.stringify(file, null, 2)
  if (values.out) writeFileSync(values.out, text)
  process.stdout.write(`${text}\n`)
  return 0
}

export async function refundCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { ...OPTIONS, key: { type: 'string' } },
  })
  if (values.help) {
    process.stdout.write(`${REFUND_HELP}\n`)
    return 0
  }
  const jobId = jobIdArg(positionals, REFUND_HELP)
  const chain = resolveChain(values)
  const say = (s: string) => process.stderr.write(`${s}\n`)
  const key = resolveKey(values.key, chain.chainId, say)
  const { txHash, amount, requester } = await refundJob(
    walletFor(key, chain),
    publicClientFor(chain),
    chain.contract,
    jobId,
  )
  say(`Refunded ${formatEther(amount)} ETH to the requester ${requester} (tx ${txHash}).`)
  process.stdout.write(`${JSON.stringify({ jobId, txHash, amount: amount.toString() })}\n`)
  return 0
}

/** The results file `meshwork submit` keeps for a job, if this directory has it. */
export function readJobFile(jobId: Hex): ResultsFile | undefined {
  const path = join(JOBS_DIR, `${jobId.toLowerCase()}.json`)
  if (!existsSync(path)) return undefined
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as ResultsFile
  } catch (err) {
    throw new InvalidInputError(`${path} is not a results file.`, {
      details: (err as Error).message,
    })
  }
}

/** Writes the job's results file atomically (a crash leaves the previous version). */
export function writeJobFile(file: ResultsFile): string {
  mkdirSync(JOBS_DIR, { recursive: true })
  const path = join(JOBS_DIR, `${file.jobId.toLowerCase()}.json`)
  writeFileSync(`${path}.tmp`, JSON.stringify(file, null, 2))
  renameSync(`${path}.tmp`, path)
  return path
}

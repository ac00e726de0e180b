/** `meshwork volunteer`: donate a server's compute with onnxruntime-node, same protocol as a tab. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { parseArgs } from 'node:util'
import { type Hex, isAddress } from 'viem'
import { generatePrivateKey } from 'viem/accounts'
import { ConfigError } from '../lib/errors'
import { startNodeVolunteer } from '../lib/sdk/node'
import { DATA_DIR_OPTION, DEFAULT_DATA_DIR, NETWORK_OPTIONS, resolveNetwork } from './network'

export const DEFAULT_KEY_FILE = '.meshwork/volunteer.key'

export const VOLUNTEER_HELP = `Usage: meshwork volunteer [options]

Runs a volunteer in this process (onnxruntime-node, CPU) until Ctrl-C. Earnings are credited to
the address of its key, and withdrawn to --payout when given.

  --key-file F     the volunteer's key (created if missing; default .meshwork/volunteer.key)
  --payout 0x…     send withdrawn pay to this address (the key signs the authorisation; the
                   coordinators that pay it record it on chain)
  --threads N      inference threads (default 1)
  --data-dir DIR   where it keeps what it signed, undelivered results and its claims (default
                   ${DEFAULT_DATA_DIR}): a restarted volunteer delivers them; see \`meshwork claims\`
  --relay MA --rpc URL --chain-id N --contract 0x…   network (default: what npm start runs)`

export async function volunteerCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      'key-file': { type: 'string', default: DEFAULT_KEY_FILE },
      threads: { type: 'string', default: '1' },
      payout: { type: 'string' },
      ...DATA_DIR_OPTION,
      ...NETWORK_OPTIONS,
      help: { type: 'boolean', short: 'h' },
    },
  })
  if (values.help) {
    process.stdout.write(`${VOLUNTEER_HELP}\n`)
    return 0
  }
  const payout = values.payout
  if (payout !== undefined && !isAddress(payout, { strict: false }))
    throw new ConfigError(
      `--payout must be an address (0x followed by 40 hex digits), got "${payout}".`,
    )
  const key = volunteerKey(values['key-file'], { create: true })
  const v = await startNodeVolunteer({
    ...resolveNetwork(values),
    key,
    dataDir: values['data-dir'],
    threads: Number(values.threads),
    ...(payout ? { payout } : {}),
  })
  process.stderr.write(
    `Volunteering as ${v.identity.address} (peer ${v.node.peerId})${payout ? `, paying out to ${payout}` : ''}. Ctrl-C to stop.\n`,
  )
  v.worker.events.addEventListener('task', (e) => {
    const d = (e as CustomEvent<{ jobId: string; taskIndex: number; computeMs: number }>).detail
    process.stderr.write(
      `task ${d.taskIndex} of ${d.jobId.slice(0, 10)}… in ${d.computeMs.toFixed(1)} ms\n`,
    )
  })
  await new Promise<void>((resolve) => {
    process.once('SIGINT', resolve)
    process.once('SIGTERM', resolve)
  })
  await v.stop()
  return 0
}

/** The volunteer's key from its file; `create` makes a new one when the file is missing. */
export function volunteerKey(file: string, opts: { create: boolean }): Hex {
  if (!existsSync(file)) {
    if (!opts.create)
      throw new ConfigError(`No volunteer key at ${file}.`, {
        hint: 'Run `meshwork volunteer` once (it creates the key), or pass --key-file.',
      })
    mkdirSync(dirname(file), { recursive: true })
    writeFileSync(file, `${generatePrivateKey()}\n`, { mode: 0o600 })
  }
  const key = readFileSync(file, 'utf8').trim()
  if (!/^0x[0-9a-fA-F]{64}$/.test(key))
    throw new ConfigError(`${file} does not hold a key (0x followed by 64 hex digits).`)
  return key as Hex
}

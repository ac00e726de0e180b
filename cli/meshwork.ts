/**
 * The `meshwork` command line. Run it with `npm run meshwork -- <command>`.
 */
import '../lib/env/polyfills-node'
import { BaseError, errorMessage } from '../lib/errors'
import { bridgeCommand } from './bridge'
import { claimsCommand, redeemCommand } from './claims'
import { deployCommand } from './deploy'
import { refundCommand, resultsCommand, statusCommand } from './jobs'
import { stakeCommand } from './stake'
import { resumeCommand, submitCommand } from './submit'
import { volunteerCommand } from './volunteer'

const HELP = `Usage: meshwork <command> [options]

Commands:
  submit      pay for a job, coordinate it, print the results JSON
  resume      go on with a job whose \`submit\` stopped (killed, crashed)
  status      a job's state on chain (settled tasks, escrow, deadline)
  results     a job's results JSON (kept by submit, or from the chain)
  refund      after the deadline, return a job's unspent escrow to its requester
  volunteer   donate this machine's compute (onnxruntime-node)
  claims      the pay claims a volunteer holds, redeemed and not
  redeem      redeem a volunteer's claims on chain (any key pays the gas), then --withdraw
  stake       show, add to, unstake or withdraw a volunteer's stake
  relay       run a relay (same as npm run relay)
  deploy      deploy the JobEscrow contract to a chain
  bridge      bring on-chain requests (MeshworkRequests) into the mesh and answer them

Run \`meshwork <command> --help\` for a command's options.`

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv
  switch (command) {
    case 'submit':
      return submitCommand(rest)
    case 'resume':
      return resumeCommand(rest)
    case 'volunteer':
      return volunteerCommand(rest)
    case 'claims':
      return claimsCommand(rest)
    case 'redeem':
      return redeemCommand(rest)
    case 'stake':
      return stakeCommand(rest)
    case 'status':
      return statusCommand(rest)
    case 'results':
      return resultsCommand(rest)
    case 'refund':
      return refundCommand(rest)
    case 'deploy':
      return deployCommand(rest)
    case 'bridge':
      return bridgeCommand(rest)
    case 'relay':
      process.argv = [process.argv[0]!, process.argv[1]!, ...rest]
      await import('../relay/main')
      return new Promise<number>(() => {})
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${HELP}\n`)
      return 0
    default:
      process.stderr.write(`Unknown command "${command}".\n\n${HELP}\n`)
      return 2
  }
}

try {
  process.exitCode = await main(process.argv.slice(2))
} catch (err) {
  const e = err instanceof BaseError ? err : undefined
  process.stderr.write(`Error: ${e ? e.message : errorMessage(err)}\n`)
  process.exitCode = 1
}
// libp2p and ONNX Runtime keep handles open after stopping; the command is done.
if (process.argv[2] !== 'relay') setTimeout(() => process.exit(process.exitCode ?? 0), 100).unref()

/**
 * A flood of result streams against one coordinator, from a process of its own (so that the
 * coordinator's memory is measured without the attackers'): the result-flood scenario of
 * `npm run adversary` runs it (scripts/lib/adversary-flood.ts); it can also aim at any
 * coordinator on a network one runs.
 *
 *   tsx scripts/flood.ts --relay <relay multiaddr> --target <coordinator WebRTC multiaddr>
 *                        [--peers 2] [--streams 16]
 *
 * It joins and prints `ready`, then reads lines on stdin: `job <0x…>` starts (or re-aims) the
 * flood at that job, `stop` ends it, prints each peer's counts as one JSON line and exits.
 */
import '../lib/env/polyfills-node'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { multiaddr } from '@multiformats/multiaddr'
import type { Hex } from 'viem'
import { setLogLevel } from '../lib/env/log'
import { LIMITS } from '../lib/mesh'
import { startFlooder } from './lib/flooder'

const { values } = parseArgs({
  options: {
    relay: { type: 'string' },
    target: { type: 'string' },
    peers: { type: 'string', default: '2' },
    streams: { type: 'string', default: '16' },
  },
})
if (!values.relay || !values.target) {
  process.stderr.write(
    'usage: flood.ts --relay <multiaddr> --target <multiaddr> [--peers N] [--streams N]\n',
  )
  process.exit(2)
}
if (!process.env.MESHWORK_LOG) setLogLevel('error')
const junk = new Uint8Array(LIMITS.frameBytes - 1).fill(7)
const target = [multiaddr(values.target)]
const relay = values.relay
const peers = await Promise.all(
  Array.from({ length: Number(values.peers) }, () => startFlooder(relay, target, junk)),
)
process.stdout.write('ready\n')
for await (const line of createInterface({ input: process.stdin })) {
  const [cmd, arg] = line.trim().split(/\s+/)
  if (cmd === 'job' && arg) for (const p of peers) p.start(arg as Hex, Number(values.streams))
  if (cmd === 'stop') break
}
await Promise.all(peers.map((p) => p.stop()))
process.stdout.write(`${JSON.stringify(peers.map((p) => p.stats))}\n`)
process.exit(0)

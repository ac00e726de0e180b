/** The local chain: anvil from its npm package, on loopback. */
import { join } from 'node:path'
import { type Service, startService } from './procs'

export interface Anvil extends Service {
  rpcUrl: string
  chainId: number
}

const ROOT = join(import.meta.dirname, '../..')

export async function startAnvil(opts: {
  port: number
  echo?: boolean
  blockTime?: number
}): Promise<Anvil> {
  const args = ['--host', '127.0.0.1', '--port', String(opts.port), '--chain-id', '31337']
  if (opts.blockTime) args.push('--block-time', String(opts.blockTime))
  const service = await startService({
    name: 'anvil',
    command: join(ROOT, 'node_modules/.bin/anvil'),
    args,
    ready: (line) => line.includes('Listening on'),
    echo: opts.echo ?? false,
    timeoutMs: 30_000,
  })
  return { ...service, rpcUrl: `http://127.0.0.1:${opts.port}`, chainId: 31337 }
}

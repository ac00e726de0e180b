/**
 * `npm run relay` / `meshwork relay`: runs a relay until Ctrl-C.
 *
 *   --host H            listen interface (MESHWORK_RELAY_HOST, default 127.0.0.1)
 *   --port P            WebSocket port (MESHWORK_RELAY_PORT, default 9090)
 *   --health-port P     HTTP health port (MESHWORK_RELAY_HEALTH_PORT, default port + 1)
 *   --key-file F        keep the relay's identity here so its address survives restarts
 *                       (MESHWORK_RELAY_KEY_FILE, default .meshwork/relay.key)
 *   --max-reservations N  (default 1024)
 *   --announce MA       public address to announce (repeatable)
 *   --log-format F      text (default) or json: one JSON object per line on stderr, for log
 *                       collectors (MESHWORK_LOG_FORMAT); the level comes from MESHWORK_LOG
 *
 * HTTP on the health port: /health (JSON state) and /metrics (Prometheus).
 */
import '../lib/env/polyfills-node'
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { jsonSink, setLogSink } from '../lib/env/log'
import { errorMessage } from '../lib/errors'
import { loadOrCreateRelayKey } from './key'
import { startRelay } from './relay'

const { values } = parseArgs({
  options: {
    host: { type: 'string', default: process.env.MESHWORK_RELAY_HOST ?? '127.0.0.1' },
    port: { type: 'string', default: process.env.MESHWORK_RELAY_PORT ?? '9090' },
    'health-port': { type: 'string', default: process.env.MESHWORK_RELAY_HEALTH_PORT },
    'key-file': {
      type: 'string',
      default: process.env.MESHWORK_RELAY_KEY_FILE ?? '.meshwork/relay.key',
    },
    'max-reservations': { type: 'string', default: '1024' },
    announce: { type: 'string', multiple: true },
    'log-format': { type: 'string', default: process.env.MESHWORK_LOG_FORMAT ?? 'text' },
    help: { type: 'boolean', short: 'h' },
  },
})

if (values.help) {
  process.stdout.write(
    readFileSync(new URL(import.meta.url), 'utf8')
      .split('*/')[0]!
      .replace(/^\/\*\*?|^ \* ?/gm, ''),
  )
  process.exit(0)
}

if (values['log-format'] !== 'text' && values['log-format'] !== 'json') {
  console.error(`--log-format must be text or json, not "${values['log-format']}".`)
  process.exit(2)
}
if (values['log-format'] === 'json') setLogSink(jsonSink)

try {
  const port = Number(values.port)
  const relay = await startRelay({
    host: values.host,
    port,
    healthPort: values['health-port'] ? Number(values['health-port']) : port + 1,
    privateKey: await loadOrCreateRelayKey(values['key-file']),
    maxReservations: Number(values['max-reservations']),
    ...(values.announce ? { announce: values.announce } : {}),
  })
  process.stdout.write(
    `relay multiaddr: ${relay.multiaddr}\nrelay health: ${relay.healthUrl}\nrelay metrics: ${relay.healthUrl.replace(/\/health$/, '/metrics')}\n`,
  )
  const shutdown = async () => {
    await relay.stop()
    process.exit(0)
  }
  process.on('SIGINT', shutdown)
  process.on('SIGTERM', shutdown)
} catch (err) {
  const e = err as NodeJS.ErrnoException
  if (e.code === 'EADDRINUSE') {
    console.error(
      `Relay port ${values.port} is already in use: choose another with --port or MESHWORK_RELAY_PORT.`,
    )
  } else {
    console.error(`Relay failed to start: ${errorMessage(err)}`)
  }
  process.exit(1)
}

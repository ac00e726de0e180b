import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { BrowserLikeWebSocket } from './polyfills-node'

/** A port nothing listens on (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer()
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  const { port } = server.address() as { port: number }
  await new Promise((r) => server.close(r))
  return port
}

describe('the Node WebSocket polyfill', () => {
  it('drops a refused connection’s error nobody listens to, as a browser does', async () => {
    const uncaught: unknown[] = []
    const record = (e: unknown) => uncaught.push(e)
    process.on('uncaughtException', record)
    try {
      const ws = new BrowserLikeWebSocket(`ws://127.0.0.1:${await closedPort()}/`)
      await new Promise<void>((r) => ws.on('close', () => r()))
      expect(uncaught).toEqual([])
    } finally {
      process.off('uncaughtException', record)
    }
  })

  it('still reports the error to listeners', async () => {
    const ws = new BrowserLikeWebSocket(`ws://127.0.0.1:${await closedPort()}/`)
    const err = await new Promise<Error>((r) => ws.addEventListener('error', (e) => r(e.error)))
    expect(String(err)).toMatch(/ECONNREFUSED/)
  })
})

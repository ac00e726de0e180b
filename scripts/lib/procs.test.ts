import { createServer } from 'node:net'
import { describe, expect, it } from 'vitest'
import { assertPortFree, freePort } from './procs'

describe('assertPortFree', () => {
  it('names the port and the flag to change it when the port is taken', async () => {
    const port = await freePort()
    const server = createServer()
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r))
    try {
      await expect(
        assertPortFree(port, 'web app', '--app-port or MESHWORK_APP_PORT'),
      ).rejects.toThrowError(
        new RegExp(
          `Port ${port} for the web app is already in use[\\s\\S]*--app-port or MESHWORK_APP_PORT`,
        ),
      )
    } finally {
      server.close()
    }
    await expect(assertPortFree(port, 'web app', '--app-port')).resolves.toBeUndefined()
  })
})

/**
 * A stand-in for another site that embeds Meshwork: its own HTTP server on its own origin
 * (127.0.0.1 and a port of its own, while the app is on localhost), serving the given pages.
 * Used by `npm run demo -- --embed` and the embed browser test.
 */
import { createServer } from 'node:http'
import type { FrameLocator, Page } from 'playwright-core'
import { freePort } from './procs'

export interface EmbedHost {
  url: string
  stop(): Promise<void>
}

/**
 * `pages` is read at each request, so a caller may fill it in once it knows the app's URL (the
 * embed test starts its hosts first: the app's MESHWORK_EMBED_ORIGINS names their origins).
 */
export async function startEmbedHost(pages: Record<string, string>): Promise<EmbedHost> {
  const server = createServer((req, res) => {
    const body = pages[req.url ?? '']
    res.writeHead(body ? 200 : 404, { 'content-type': 'text/html' }).end(body ?? 'not found')
  })
  const port = await freePort()
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${port}`,
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  }
}

/** A page with the one-tag embed, computing all the time (for demos and tests). */
export function tagPage(appUrl: string, attrs = 'data-duty="1" data-hidden-duty="1"'): string {
  return `<!doctype html><title>A site with the Meshwork tag</title><h1>Some dApp</h1>
<script src="${appUrl}/embed.js" ${attrs}></script>
<script>window.statuses = []; addEventListener('meshwork:status', (e) => statuses.push(e.detail))</script>`
}

/** The Meshwork frame inside a host page. */
export const embedFrame = (page: Page): FrameLocator => page.frameLocator('iframe[data-meshwork]')

import type { Browser, BrowserContext, Page } from 'playwright-core'
import { type Address, parseEther } from 'viem'
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_PRIVATE_KEYS, payoutOf, withdraw } from '../../lib/chain'
import type { EmbedStatus } from '../../lib/embed/protocol'
import { parseInputsJson, parsePolicy } from '../../lib/proofs'
import { seededInputs } from '../../lib/runtime'
import { type NodeRequester, startNodeRequester } from '../../lib/sdk/node'
import { type EmbedHost, embedFrame, startEmbedHost, tagPage } from '../../scripts/lib/embed-host'
import { buildMlp } from '../../scripts/lib/onnx-mlp'
import { type Stack, startStack } from '../../scripts/lib/stack'
import { MLP_OPTIONS } from '../../scripts/models'
import { launchChromium, watchPage } from '../helpers/browser'

// The embed on another origin: a host site (its own server, its own origin) puts Meshwork's
// worker into its pages with one script tag, or with the ES module and its own consent question.
// Nothing computes before the visitor agrees; then the embedded tabs do a real job (relay,
// WebRTC, anvil) and are paid; stop() removes everything.
//
// The operator lists that site, and only it, in MESHWORK_EMBED_ORIGINS. A second site (another
// port: another origin) is not listed, and the list has no `*`: the browser must refuse to show
// the frame there (frame-ancestors), and that site must never hear a word from it.
let stack: Stack
let browser: Browser
let host: EmbedHost
let hostUrl: string
let stranger: EmbedHost
let requester: NodeRequester

/** Filled once the app's URL is known; the host servers read them at each request. */
const trustedPages: Record<string, string> = {}
const strangerPages: Record<string, string> = {}

interface Heard {
  origin: string
  type: unknown
}

declare global {
  interface Window {
    answer?: (granted: boolean) => void
    consentAsked?: boolean
    statuses?: EmbedStatus[]
    embedded?: { stop(): Promise<void>; status: EmbedStatus }
    /** Every message event this window received (an init script in each test page). */
    heard?: Heard[]
  }
}

/** The module page's site sends its visitors' pay here (a fresh address: its balance starts at 0). */
const TREASURY = privateKeyToAccount(generatePrivateKey()).address

function hostPages(appUrl: string): Record<string, string> {
  return {
    '/tag.html': tagPage(appUrl),
    '/module.html': `<!doctype html><title>A site with the module</title><h1>Another dApp</h1>
<div id="slot"></div>
<script type="module">
  import { startVolunteer } from '${appUrl}/embed.mjs'
  window.statuses = []
  const asked = new Promise((resolve) => { window.answer = resolve })
  window.embedded = startVolunteer({
    consent: () => { window.consentAsked = true; return asked },
    container: '#slot',
    dutyCycle: 1,
    payout: '${TREASURY}',
    onStatus: (s) => window.statuses.push(s),
  })
</script>`,
  }
}

const frameOf = embedFrame
const volunteersSeen = () => requester.presence.peers().filter((p) => p.role === 'volunteer')
const appOrigin = () => new URL(stack.appUrl!).origin

/** Console lines of every page, for the browser's own refusal message. */
const consoleLines: string[] = []

async function openHostPage(
  path: string,
  name: string,
  on = hostUrl,
  prepare?: (context: BrowserContext) => Promise<unknown>,
): Promise<Page> {
  const context = await browser.newContext()
  await prepare?.(context)
  // In every frame of the page (the host page, a page nested in it, and the Meshwork frame).
  await context.addInitScript(() => {
    window.heard = []
    addEventListener('message', (e) =>
      window.heard!.push({ origin: e.origin, type: (e.data as { type?: unknown })?.type }),
    )
  })
  const page = watchPage(await context.newPage(), name)
  page.on('console', (m) => consoleLines.push(`[${name}] ${m.text()}`))
  await page.goto(`${on}${path}`)
  return page
}

/** What reached the host page from the Meshwork app's origin. */
const heardFromApp = (page: Page) =>
  page.evaluate((app) => (window.heard ?? []).filter((h) => h.origin === app), appOrigin())

beforeAll(async () => {
  host = await startEmbedHost(trustedPages)
  hostUrl = host.url
  stranger = await startEmbedHost(strangerPages)
  stack = await startStack({
    ports: 'free',
    log: (l) => process.stderr.write(`[stack] ${l}\n`),
    appEnv: { MESHWORK_EMBED_ORIGINS: hostUrl },
  })
  Object.assign(trustedPages, hostPages(stack.appUrl!))
  Object.assign(strangerPages, hostPages(stack.appUrl!), {
    // A listed site's page inside an unlisted one: frame-ancestors checks every ancestor.
    '/nest.html': `<!doctype html><title>An unlisted site framing a listed one</title>
<iframe src="${hostUrl}/tag.html" width="600" height="400"></iframe>`,
  })
  browser = await launchChromium()
  requester = await startNodeRequester(DEV_PRIVATE_KEYS[1]!, {
    ...stack.chain,
    relays: [stack.relay.multiaddr],
  })
})

afterAll(async () => {
  await requester?.stop()
  await browser?.close()
  await host?.stop()
  await stranger?.stop()
  await stack?.stop()
})

describe('the embed on a second origin', () => {
  let tag: Page
  let mod: Page

  // Why: proxy.ts is the only thing that puts the list in front of the browser; a wrong file
  // name, export or matcher would leave /embed frameable by any site, with no error.
  it('the running app sends frame-ancestors from MESHWORK_EMBED_ORIGINS on /embed, and self only elsewhere', async () => {
    for (const path of ['/embed', '/embed?consent=host&duty=1'])
      expect((await fetch(`${stack.appUrl}${path}`)).headers.get('content-security-policy')).toBe(
        `frame-ancestors 'self' ${hostUrl}`,
      )
    // The rest of the app may be framed by itself only (no clickjacking of its wallet buttons);
    // the embed loader stays loadable by any site.
    for (const path of ['/', '/volunteer', '/request'])
      expect((await fetch(`${stack.appUrl}${path}`)).headers.get('content-security-policy')).toBe(
        "frame-ancestors 'self'",
      )
    expect((await fetch(`${stack.appUrl}/embed.js`)).headers.get('content-security-policy')).toBe(
      null,
    )
  })

  it('asks before computing: nothing joins the mesh until the visitor allows it', async () => {
    tag = await openHostPage('/tag.html', 'tag-page')
    mod = await openHostPage('/module.html', 'module-page')
    const tagFrame = frameOf(tag).getByTestId('embed')
    await expect.poll(() => tagFrame.getAttribute('data-state'), { timeout: 60_000 }).toBe('asking')
    // The module page asks in its own UI: the frame waits for the answer.
    await expect
      .poll(() => frameOf(mod).getByTestId('embed').getAttribute('data-state'), { timeout: 60_000 })
      .toBe('waiting-for-consent')
    await new Promise((r) => setTimeout(r, 3000))
    expect(volunteersSeen()).toHaveLength(0)
    expect(await tag.evaluate(() => window.statuses?.map((s) => s.state))).toContain('asking')
    // A listed site: trusted, so its own consent question counts.
    for (const page of [tag, mod])
      expect(await frameOf(page).getByTestId('embed').getAttribute('data-access')).toBe('trusted')
    expect(await mod.evaluate(() => window.consentAsked)).toBe(true)

    // The visitor allows it in the frame on one page, and in the host's own UI on the other.
    await frameOf(tag).getByTestId('embed-allow').click()
    await mod.evaluate(() => window.answer?.(true))
    for (const page of [tag, mod])
      await expect
        .poll(() => frameOf(page).getByTestId('embed').getAttribute('data-state'), {
          timeout: 60_000,
        })
        .toBe('running')
    await expect.poll(() => volunteersSeen().length, { timeout: 30_000 }).toBe(2)
  })

  it('the embedded tabs compute a job and are paid; the host pages see their progress', async () => {
    const model = buildMlp(MLP_OPTIONS)
    const tasks = parseInputsJson(seededInputs(5, 6, { x: [1, 16] }))
    const job = await requester.submit({
      model,
      modelName: MLP_OPTIONS.name,
      tasks,
      replicas: 2,
      quorum: 2,
      policy: parsePolicy('round:3'),
      rewardPerResult: parseEther('0.001'),
      durationSeconds: 3600,
      trust: 'high',
    })
    const final = await job.handle.done
    expect(final.counts.settled).toBe(6)
    const addresses = await Promise.all(
      [tag, mod].map((p) => frameOf(p).getByTestId('embed-status').getAttribute('data-address')),
    )
    const agreeing = new Set(
      job.handle.results().flatMap((r) => r.agreeing.map((a) => a.toLowerCase())),
    )
    for (const a of addresses) expect(agreeing.has(a!.toLowerCase())).toBe(true)
    // The host page hears how many tasks its visitor's machine did, and what it earned.
    await expect
      .poll(
        () =>
          mod.evaluate(() => {
            const s = window.statuses?.at(-1)
            return s ? { tasks: s.tasksDone, credited: BigInt(s.credited ?? '0') > 0n } : undefined
          }),
        { timeout: 30_000 },
      )
      .toMatchObject({ credited: true })
    expect((await mod.evaluate(() => window.statuses!.at(-1)!.tasksDone)) > 0).toBe(true)

    // The module page's visitor is paid out to the site's treasury: the tab signed the payout
    // address, the requester's coordinator recorded it on chain, and withdrawing sends it there.
    const modAddress = addresses[1] as Address
    expect(await mod.evaluate(() => window.statuses!.at(-1)!.payout)).toBe(TREASURY)
    await expect
      .poll(async () => (await payoutOf(requester.client, requester.contract, modAddress)).payout, {
        timeout: 30_000,
      })
      .toBe(TREASURY)
    // The tag page set none: its pay stays with the tab's own key.
    expect(
      (await payoutOf(requester.client, requester.contract, addresses[0] as Address)).payout,
    ).toBeUndefined()
    const paid = await withdraw(requester.wallet, requester.client, requester.contract, modAddress)
    expect(paid.to).toBe(TREASURY)
    expect(paid.amount > 0n).toBe(true)
    expect(await requester.client.getBalance({ address: TREASURY })).toBe(paid.amount)

    // Everything the host pages heard from the frame came from the app's origin, and the frame
    // heard its loader: the handshake and the statuses, nothing else.
    for (const page of [tag, mod]) {
      const heard = await page.evaluate(() => window.heard ?? [])
      expect(heard.length).toBeGreaterThan(5)
      expect(new Set(heard.map((h) => h.origin))).toEqual(new Set([appOrigin()]))
      expect(new Set(heard.map((h) => h.type))).toEqual(
        new Set(['meshwork:ready', 'meshwork:status']),
      )
    }
  })

  it('the visitor sees the work and can stop it, even when the host page asked for consent', async () => {
    const frame = frameOf(mod)
    const lastState = () => mod.evaluate(() => window.statuses!.at(-1))
    // A host page that hides the frame pauses the work: the visitor could not see it.
    await mod.evaluate(() => {
      document.querySelector<HTMLIFrameElement>('iframe[data-meshwork]')!.style.height = '0px'
    })
    await expect
      .poll(lastState, { timeout: 15_000 })
      .toMatchObject({ state: 'paused', pausedBy: 'too-small' })
    await mod.evaluate(() => {
      const el = document.querySelector<HTMLIFrameElement>('iframe[data-meshwork]')!
      el.style.height = '132px'
      el.style.display = 'none'
    })
    await expect
      .poll(async () => (await lastState())?.state === 'running', { timeout: 15_000 })
      .toBe(false)
    expect(await lastState()).toMatchObject({ state: 'paused', pausedBy: 'too-small' })
    await mod.evaluate(() => {
      document.querySelector<HTMLIFrameElement>('iframe[data-meshwork]')!.style.display = ''
    })
    await expect.poll(() => frame.getByTestId('embed').getAttribute('data-state')).toBe('running')
    expect(await frame.getByTestId('embed-status').isVisible()).toBe(true)
    await frame.getByTestId('embed-stop').click()
    await expect
      .poll(() => frame.getByTestId('embed').getAttribute('data-state'), { timeout: 15_000 })
      .toBe('stopped')
    await expect.poll(async () => (await lastState())?.state).toBe('stopped')
  })

  it('stop() ends the session, leaves the mesh and removes the frame', async () => {
    const peerId = await frameOf(tag).getByTestId('embed-status').getAttribute('data-peer-id')
    const relayHas = () =>
      stack.relay.node.getConnections().some((c) => c.remotePeer.toString() === peerId)
    expect(relayHas()).toBe(true)
    await tag.evaluate(() => window.meshwork!.stop())
    expect(await tag.locator('iframe[data-meshwork]').count()).toBe(0)
    expect(await tag.evaluate(() => window.statuses!.at(-1)!.state)).toBe('stopped')
    await expect.poll(relayHas, { timeout: 15_000 }).toBe(false)

    // Declining in the host's UI: the frame never starts.
    const again = await openHostPage('/module.html', 'module-declined')
    await expect
      .poll(() => frameOf(again).getByTestId('embed').getAttribute('data-state'), {
        timeout: 60_000,
      })
      .toBe('waiting-for-consent')
    await again.evaluate(() => window.answer?.(false))
    await expect
      .poll(() => frameOf(again).getByTestId('embed').getAttribute('data-state'))
      .toBe('declined')
    await again.evaluate(() => window.embedded!.stop())
    expect(await again.locator('iframe[data-meshwork]').count()).toBe(0)
  })
})

describe('a site the operator does not list (and no *)', () => {
  /** Waits until the page's Meshwork iframe has loaded whatever the browser let it load. */
  const settle = async (page: Page) => {
    await page.locator('iframe[data-meshwork]').waitFor({ state: 'attached', timeout: 30_000 })
    await new Promise((r) => setTimeout(r, 5000))
  }

  // Why: without frame-ancestors any site could put the frame in its page, and with
  // consent=host make its visitors compute for it without asking them.
  it('the browser refuses the frame: nothing shows, starts or reaches the site', async () => {
    const before = volunteersSeen().length
    const tag = await openHostPage('/tag.html', 'stranger-tag', stranger.url)
    const mod = await openHostPage('/module.html', 'stranger-module', stranger.url)
    for (const page of [tag, mod]) await settle(page)
    for (const page of [tag, mod]) {
      expect(await frameOf(page).getByTestId('embed').count()).toBe(0)
      expect(await heardFromApp(page)).toEqual([])
      expect(await page.evaluate(() => window.statuses)).toEqual([])
    }
    expect(await mod.evaluate(() => window.consentAsked)).toBeUndefined()
    expect(consoleLines.some((l) => l.includes('stranger') && /frame-ancestors/.test(l))).toBe(true)
    // The loader tells the site's developer why the box stays silent.
    await expect
      .poll(
        () =>
          consoleLines.some(
            (l) => l.startsWith('[stranger-tag]') && /MESHWORK_EMBED_ORIGINS/.test(l),
          ),
        { timeout: 20_000 },
      )
      .toBe(true)
    expect(volunteersSeen().length).toBe(before)
    await Promise.all([tag.context().close(), mod.context().close()])
  })

  it('a listed site inside an unlisted one is refused too, and neither hears a word', async () => {
    const page = await openHostPage('/nest.html', 'stranger-nest', stranger.url)
    const inner = () => page.frames().find((f) => f.url().startsWith(`${hostUrl}/tag.html`))
    await expect.poll(() => inner() !== undefined, { timeout: 30_000 }).toBe(true)
    await inner()!.locator('iframe[data-meshwork]').waitFor({ state: 'attached' })
    await new Promise((r) => setTimeout(r, 5000))
    expect(
      await page
        .frameLocator('iframe')
        .frameLocator('iframe[data-meshwork]')
        .getByTestId('embed')
        .count(),
    ).toBe(0)
    const app = appOrigin()
    expect(
      await inner()!.evaluate((a) => window.heard!.filter((h) => h.origin === a), app),
    ).toEqual([])
    expect(await heardFromApp(page)).toEqual([])
    await page.context().close()
  })

  // The frame's own check, for a browser that does not enforce frame-ancestors (or a proxy in
  // front of the app that drops the header): here the test strips the header from the frame's
  // response, and the frame must still refuse on its own. (Playwright's bypassCSP does not
  // lift frame-ancestors in Chromium.)
  it('without the header, the frame itself refuses: no question, no start, no message', async () => {
    const before = volunteersSeen().length
    const mod = await openHostPage('/module.html', 'stranger-no-csp', stranger.url, (context) =>
      context.route(`${stack.appUrl}/embed?**`, async (route) => {
        const response = await route.fetch()
        const headers = { ...response.headers() }
        expect(headers['content-security-policy']).toMatch(/^frame-ancestors /)
        delete headers['content-security-policy']
        await route.fulfill({ response, headers })
      }),
    )
    const frame = frameOf(mod).getByTestId('embed')
    await expect.poll(() => frame.getAttribute('data-state'), { timeout: 60_000 }).toBe('refused')
    expect(await frameOf(mod).getByTestId('embed-refused').innerText()).toMatch(
      new RegExp(`${stranger.url.replace(/[.]/g, '\\.')} is not among the sites`),
    )
    expect(await frameOf(mod).getByTestId('embed-allow').count()).toBe(0)
    await new Promise((r) => setTimeout(r, 3000))
    expect(await heardFromApp(mod)).toEqual([])
    expect(await mod.evaluate(() => window.consentAsked)).toBeUndefined()
    expect(volunteersSeen().length).toBe(before)
    await mod.context().close()
  })
})

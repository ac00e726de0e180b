import type { Browser, Page } from 'playwright-core'
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
let stack: Stack
let browser: Browser
let host: EmbedHost
let hostUrl: string
let requester: NodeRequester

declare global {
  interface Window {
    answer?: (granted: boolean) => void
    statuses?: EmbedStatus[]
    embedded?: { stop(): Promise<void>; status: EmbedStatus }
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
    consent: () => asked,
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

async function openHostPage(path: string, name: string): Promise<Page> {
  const page = watchPage(await (await browser.newContext()).newPage(), name)
  await page.goto(`${hostUrl}${path}`)
  return page
}

beforeAll(async () => {
  stack = await startStack({ ports: 'free', log: (l) => process.stderr.write(`[stack] ${l}\n`) })
  host = await startEmbedHost(hostPages(stack.appUrl!))
  hostUrl = host.url
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
  await stack?.stop()
})

describe('the embed on a second origin', () => {
  let tag: Page
  let mod: Page

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

import { readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { mkdtemp } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { BrowserContext, Page } from 'playwright-core'
import { type Address, bytesToHex, type Hex, hexToBytes, parseEther } from 'viem'
import { privateKeyToAccount } from 'viem/accounts'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DEV_ADDRESSES, DEV_PRIVATE_KEYS, payoutOf, workerOnChain } from '../../lib/chain'
import { parseInputsJson, parsePolicy } from '../../lib/proofs'
import { seededInputs } from '../../lib/runtime'
import { type NodeRequester, startNodeRequester } from '../../lib/sdk/node'
import { buildMlp } from '../../scripts/lib/onnx-mlp'
import { type Stack, startStack } from '../../scripts/lib/stack'
import { MLP_OPTIONS } from '../../scripts/models'
import { launchPersistentChromium, watchPage } from '../helpers/browser'

// A volunteer tab's key in a real browser (Chromium, a profile on disk): the volunteer page
// offers an address the wallet holds as the payee and warns before stake is bound to the tab's
// key; the key rests in IndexedDB wrapped by a non-extractable WebCrypto key, so neither the
// stored value nor the browser's files on disk hold it as plain bytes or hex.
let stack: Stack
let requester: NodeRequester
let profile: string
let context: BrowserContext
let page: Page
let tab: Address
/** The page's dev wallet (wagmi's mock connector): anvil's account 1. */
const WALLET = DEV_ADDRESSES[1]! as Address

beforeAll(async () => {
  stack = await startStack({ ports: 'free', log: (l) => process.stderr.write(`[stack] ${l}\n`) })
  requester = await startNodeRequester(DEV_PRIVATE_KEYS[2]!, {
    ...stack.chain,
    relays: [stack.relay.multiaddr],
  })
  profile = await mkdtemp(join(tmpdir(), 'meshwork-keys-'))
  context = await launchPersistentChromium(profile)
  page = watchPage(await context.newPage(), 'volunteer')
})

afterAll(async () => {
  await requester?.stop()
  await context?.close().catch(() => {})
  await stack?.stop()
  if (profile) rmSync(profile, { recursive: true, force: true })
})

/** Every file under `dir`. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    const st = statSync(path, { throwIfNoEntry: false })
    if (!st) return []
    return st.isDirectory() ? filesUnder(path) : st.isFile() ? [path] : []
  })
}

/** The files of the profile that contain `needle`. */
const filesHolding = (needle: Buffer) =>
  filesUnder(profile).filter((f) => {
    try {
      return readFileSync(f).includes(needle)
    } catch {
      return false
    }
  })

describe('a volunteer tab’s key and pay', () => {
  it('pays out to the wallet’s address the visitor chose before Start', async () => {
    await page.goto(`${stack.appUrl}/volunteer?backend=wasm`)
    await page.locator('[data-connector=mock]').click({ timeout: 60_000 })
    // Once a wallet is connected it is the default payee; the tab's own key is the other choice.
    await expect.poll(() => page.getByTestId('payout-wallet').isChecked()).toBe(true)
    expect(await page.getByTestId('payout-tab').isChecked()).toBe(false)
    await page.getByTestId('start').click()
    await page.getByTestId('state').waitFor({ timeout: 60_000 })
    tab = (await page.getByTestId('address').innerText()) as Address
    expect(await page.getByTestId('payout').innerText()).toBe(WALLET)

    const job = await requester.submit({
      model: buildMlp(MLP_OPTIONS),
      modelName: MLP_OPTIONS.name,
      tasks: parseInputsJson(seededInputs(7, 4, { x: [1, 16] })),
      replicas: 1,
      quorum: 1,
      policy: parsePolicy('round:3'),
      rewardPerResult: parseEther('0.001'),
      durationSeconds: 3600,
      trust: 'high',
    })
    const final = await job.handle.done
    expect(final.counts.settled).toBe(4)
    // The tab signed its payout; the requester that paid it recorded it on chain.
    await expect
      .poll(async () => (await payoutOf(requester.client, requester.contract, tab)).payout, {
        timeout: 30_000,
      })
      .toBe(WALLET)
    await expect
      .poll(() => page.getByTestId('withdraw').isEnabled(), { timeout: 30_000 })
      .toBe(true)
    await page.getByTestId('withdraw').click()
    await page
      .getByTestId('withdraw-status')
      .filter({ hasText: /^Withdrew / })
      .waitFor({ timeout: 30_000 })
    expect(await page.getByTestId('withdraw-status').innerText()).toMatch(
      new RegExp(`^Withdrew [0-9.]+ ETH to ${WALLET}\\.$`),
    )
    // Nothing reached the tab's own address.
    expect(await requester.client.getBalance({ address: tab })).toBe(0n)
  })

  // Why: stake on a tab's key is lost with the browser's storage and taken by any script that
  // runs on the site; the visitor must read that before the wallet sends it.
  it('warns before stake is bound to the tab’s key, and stakes only once the visitor agrees', async () => {
    const warning = page.getByTestId('stake-warning')
    expect(await warning.innerText()).toMatch(/bound to this tab’s key, not to your wallet/)
    expect(await warning.innerText()).toMatch(/Your pay already goes to your wallet/)
    await page.locator('#stake-amount').fill('0.05')
    expect(await page.getByTestId('stake-add').isDisabled()).toBe(true)
    await page.getByTestId('stake-ack').check()
    await page.getByTestId('stake-add').click()
    await page
      .getByTestId('stake-status')
      .filter({ hasText: /^Staked 0.05 ETH/ })
      .waitFor({ timeout: 30_000 })
    expect((await workerOnChain(requester.client, requester.contract, tab)).active).toBe(
      parseEther('0.05'),
    )
  })

  // Why: a key stored as hex is read by anything that reads the site's storage or the profile
  // on disk; wrapped, such a reader finds ciphertext and an opaque key handle.
  it('the key rests wrapped: not in the stored value, not in the profile’s files', async () => {
    const seen = await page.evaluate(async () => {
      const req = <T>(r: IDBRequest<T>) =>
        new Promise<T>((resolve, reject) => {
          r.onsuccess = () => resolve(r.result)
          r.onerror = () => reject(r.error)
        })
      const db = await req(indexedDB.open('meshwork-volunteer'))
      const meta = () => db.transaction('meta', 'readwrite').objectStore('meta')
      const rec = await req(meta().get('identity/secp256k1'))
      // A control for the scan of the files below: 32 random bytes, as hex and as bytes.
      const probe = crypto.getRandomValues(new Uint8Array(32))
      const probeHex = Array.from(probe, (b) => b.toString(16).padStart(2, '0')).join('')
      await req(meta().put({ hex: probeHex, bytes: probe }, 'test-probe'))
      // The limit docs/trust.md states: a non-extractable key made from known bytes, kept the
      // same way as the wrapping key, to see whether the browser writes its bytes to disk.
      const known = crypto.getRandomValues(new Uint8Array(32))
      const knownKey = await crypto.subtle.importKey('raw', known, 'AES-GCM', false, ['encrypt'])
      await req(meta().put(knownKey, 'test-known-key'))
      const knownHex = Array.from(known, (b) => b.toString(16).padStart(2, '0')).join('')
      db.close()
      const exported = await crypto.subtle.exportKey('raw', rec.key).then(
        () => true,
        () => false,
      )
      // What wrapping does not stop: a script on this origin may still decrypt with the handle.
      const raw = new Uint8Array(
        await crypto.subtle.decrypt({ name: 'AES-GCM', iv: rec.iv }, rec.key, rec.data),
      )
      return {
        fields: Object.fromEntries(
          Object.entries(rec as Record<string, unknown>).map(([k, v]) => [
            k,
            Object.prototype.toString.call(v),
          ]),
        ),
        extractable: (rec.key as CryptoKey).extractable,
        exported,
        keyHex: Array.from(raw, (b) => b.toString(16).padStart(2, '0')).join(''),
        probeHex,
        knownHex,
      }
    })
    expect(seen.fields).toEqual({
      v: '[object Number]',
      alg: '[object String]',
      key: '[object CryptoKey]',
      iv: '[object Uint8Array]',
      data: '[object Uint8Array]',
    })
    expect(seen.extractable).toBe(false)
    expect(seen.exported).toBe(false)
    // It is the tab's key: the address it pays and stakes for.
    expect(privateKeyToAccount(`0x${seen.keyHex}` as Hex).address).toBe(tab)

    // Stop the tab and close the browser, so that IndexedDB is written out, then read the files.
    await page.getByRole('button', { name: 'Stop' }).click()
    await page.getByTestId('start').waitFor({ timeout: 30_000 })
    await context.close()
    const forms = (hex: string) => [Buffer.from(hex), Buffer.from(hex.toUpperCase())]
    const raw = (hex: string) => Buffer.from(hexToBytes(`0x${hex}`))
    // The control: the scan finds what IndexedDB holds in plain form, both ways.
    expect(filesHolding(Buffer.from(seen.probeHex)).length).toBeGreaterThan(0)
    expect(filesHolding(raw(seen.probeHex)).length).toBeGreaterThan(0)
    for (const needle of [...forms(seen.keyHex), raw(seen.keyHex)])
      expect(filesHolding(needle), bytesToHex(needle.subarray(0, 4))).toEqual([])
    // What wrapping does not stop (docs/trust.md): Chromium writes a non-extractable key's own
    // bytes into its IndexedDB files, so whoever copies the profile can still unwrap the key.
    // If this ever fails, Chromium protects them and docs/trust.md should say so.
    expect(filesHolding(raw(seen.knownHex)).length).toBeGreaterThan(0)
  })
})

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Browser, Page } from 'playwright-core'
import { type Address, createTestClient, formatEther, type Hex, http, parseEther } from 'viem'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  creditedBalance,
  DEV_ADDRESSES,
  jobEscrowAbi,
  publicClientFor,
  readJob,
  workerOnChain,
} from '../../lib/chain'
import { seededInputs } from '../../lib/runtime'
import { buildMlp } from '../../scripts/lib/onnx-mlp'
import { type Stack, startStack } from '../../scripts/lib/stack'
import { launchChromium, openRequester, openVolunteer, watchPage } from '../helpers/browser'

// The acceptance path of the whole-loop issue, in real browsers: three volunteer tabs and a
// requester tab whose dev wallet pays, a real relay and WebRTC between the tabs, the real
// contract on anvil. Then a worker withdraws from its volunteer page.
let stack: Stack
let browser: Browser
/** The tab that withdrew its pay, and its address (the stake test goes on with it). */
let withdrawn: { page: Page; worker: Address } | undefined
const volunteers: Page[] = []
/** /network, open from before the first job: it hears the job and the tasks done. */
let network: Page

/** The pages docs/ and the README show, refreshed by every run of this test. */
const SCREENSHOTS = join(import.meta.dirname, '../../docs/screenshots')
const shot = (page: Page, name: string) =>
  page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true })

beforeAll(async () => {
  stack = await startStack({ ports: 'free', log: (l) => process.stderr.write(`[stack] ${l}\n`) })
  browser = await launchChromium()
  for (let i = 0; i < 3; i++)
    volunteers.push(await openVolunteer(browser, stack.appUrl!, `volunteer-${i}`))
  network = watchPage(await (await browser.newContext()).newPage(), 'network')
  await network.goto(`${stack.appUrl}/network`)
  // Listening before any job: work done before a volunteer is first heard does not count.
  await network.waitForFunction(
    () =>
      document.querySelector('[data-testid=network-live]')?.getAttribute('data-volunteers') === '3',
    undefined,
    { timeout: 60_000 },
  )
})

afterAll(async () => {
  await browser?.close()
  await stack?.stop()
})

describe('three volunteer tabs and a requester tab', () => {
  let jobId: Hex

  /** Wei each tab earned in the job, from the requester's results (agreeing workers). */
  const owed = new Map<string, bigint>()

  it('complete a job paid from the dev wallet: every task settled, every agreeing tab holds a claim for its share', async () => {
    const requester = await openRequester(browser, stack.appUrl!, 'requester')
    await requester.locator('#count').fill('6')
    await shot(requester, 'request')
    await requester.getByTestId('submit').click()
    await requester.waitForURL(/\/jobs\/0x[0-9a-f]{64}$/, { timeout: 90_000 })
    jobId = requester.url().split('/').pop() as Hex
    const progress = requester.getByTestId('job-progress')
    await expect
      .poll(() => progress.getAttribute('data-status'), { timeout: 120_000, interval: 1000 })
      .toBe('complete')
    expect(await progress.getAttribute('data-settled')).toBe('6')
    // The per-task quorum view: who agreed on task 0.
    await requester.getByRole('button', { name: /^task 0:/ }).click()
    const quorum = requester.getByTestId('task-quorum')
    expect(Number(await quorum.getAttribute('data-agreeing'))).toBeGreaterThanOrEqual(1)
    // The tab's coordinator shows its inbound limits: nothing refused or dropped in an honest run.
    const inbound = requester.getByTestId('inbound-stats')
    expect(await inbound.getAttribute('data-refused')).toBe('0')
    await shot(requester, 'job')
    await shot(volunteers[0]!, 'volunteer')

    const client = publicClientFor(stack.chain)
    const job = await readJob(client, stack.chain.contract, jobId)
    // The tab sent nothing on chain after createJob: nothing recorded, nothing paid out yet; the
    // workers hold the coordinator's claims instead.
    expect(job?.recordedCount).toBe(0)
    expect(job?.remaining).toBe(6n * BigInt(job!.replicas) * job!.rewardPerResult)
    // The results download: one entry per task with outputs and the agreeing workers.
    const [download] = await Promise.all([
      requester.waitForEvent('download'),
      requester.getByTestId('download').click(),
    ])
    const file = JSON.parse(readFileSync(await download.path(), 'utf8'))
    expect(file.jobId).toBe(jobId)
    expect(file.tasks).toHaveLength(6)
    for (const t of file.tasks) {
      expect(t.status).toBe('settled')
      expect(t.outputs.y.dims).toEqual([1, 4])
      // New workers: a task is settled on a quorum of 2, or (a known-answer task, whose answer
      // the requester tab computed itself) on results matching the tab's own answer.
      expect(['quorum', 'known-answer']).toContain(t.verifiedBy)
      const needed = t.verifiedBy === 'quorum' ? 2 : 1
      expect(t.agreeing.length).toBeGreaterThanOrEqual(needed)
      for (const a of t.agreeing)
        owed.set(a.toLowerCase(), (owed.get(a.toLowerCase()) ?? 0n) + job!.rewardPerResult)
    }
    // The requester tab computed 2 of the 6 tasks itself (2 % of the tasks, at least 2).
    expect(
      file.tasks.filter((t: { verifiedBy: string }) => t.verifiedBy === 'known-answer'),
    ).toHaveLength(2)
    const tabAddresses = await Promise.all(
      volunteers.map((p) => p.getByTestId('address').innerText()),
    )
    const byAddress = new Map(tabAddresses.map((a, i) => [a.toLowerCase(), volunteers[i]!]))
    for (const [worker, amount] of owed) {
      const page = byAddress.get(worker)
      expect(page).toBeDefined()
      // Its claim covers every result of it the requester accepted, worth exactly its share.
      await expect
        .poll(() => page!.getByTestId('redeem').innerText(), { timeout: 30_000 })
        .toBe(`Redeem ${formatEther(amount)} ETH`)
    }
    // Gone for good: the workers redeem without it.
    await requester.close()
  })

  it('the /network dashboard heard the volunteers, their backends and the tasks they did', async () => {
    const live = network.getByTestId('network-live')
    expect(await live.getAttribute('data-volunteers')).toBe('3')
    // Presence is announced every 3 s: the last tasks show up within a few seconds.
    await expect
      .poll(async () => Number(await live.getAttribute('data-tasks-seen')), { timeout: 15_000 })
      .toBeGreaterThanOrEqual(6)
    // Charts drawn by recharts: the time series and the backends.
    expect(await network.locator('.recharts-line').count()).toBeGreaterThanOrEqual(3)
    expect(await network.locator('.recharts-bar-rectangle').count()).toBe(1)
    await shot(network, 'network')
  })

  it('connected the tabs to each other over WebRTC', async () => {
    for (const page of volunteers) {
      const [, direct] = (await page.getByTestId('peers').locator('b').innerText()).split(' / ')
      expect(Number(direct)).toBeGreaterThanOrEqual(1)
    }
  })

  it('run any uploaded ONNX file with an uploaded inputs file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-upload-'))
    writeFileSync(
      join(dir, 'custom.onnx'),
      buildMlp({ seed: 5, inputSize: 8, hiddenSize: 12, outputSize: 3, name: 'custom' }),
    )
    writeFileSync(join(dir, 'inputs.json'), JSON.stringify(seededInputs(8, 3, { x: [1, 8] })))
    const requester = await openRequester(browser, stack.appUrl!, 'uploader')
    await requester.locator('#model').selectOption('upload')
    await requester.locator('#model-file').setInputFiles(join(dir, 'custom.onnx'))
    await requester.locator('#inputs').selectOption('file')
    await requester.locator('#inputs-file').setInputFiles(join(dir, 'inputs.json'))
    await requester.getByTestId('submit').click()
    await requester.waitForURL(/\/jobs\/0x[0-9a-f]{64}$/, { timeout: 90_000 })
    const progress = requester.getByTestId('job-progress')
    await expect
      .poll(() => progress.getAttribute('data-status'), { timeout: 120_000, interval: 1000 })
      .toBe('complete')
    expect(await progress.getAttribute('data-settled')).toBe('3')
  })

  it('refuses an inputs file that does not fit the model, before paying', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-upload-'))
    writeFileSync(
      join(dir, 'bad.json'),
      JSON.stringify([{ x: { type: 'float32', dims: [1, 3], data: [1, 2, 3] } }]),
    )
    const client = publicClientFor(stack.chain)
    const nonce = () =>
      client.readContract({
        address: stack.chain.contract,
        abi: jobEscrowAbi,
        functionName: 'jobNonce',
        args: [DEV_ADDRESSES[1]],
      })
    const before = await nonce()
    const requester = await openRequester(browser, stack.appUrl!, 'bad-inputs')
    await requester.locator('#inputs').selectOption('file')
    await requester.locator('#inputs-file').setInputFiles(join(dir, 'bad.json'))
    await requester.getByTestId('submit').click()
    await expect
      .poll(
        () =>
          requester
            .getByTestId('error')
            .innerText()
            .catch(() => ''),
        { timeout: 30_000 },
      )
      .toMatch(/Task 0: .*dimension 1 must be 16, got 3/)
    expect(await nonce()).toBe(before)
    expect(requester.url()).toMatch(/\/request$/)
  })

  it('refuses a corrupt model file with a clear error, before paying', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mw-upload-'))
    writeFileSync(join(dir, 'corrupt.onnx'), new Uint8Array(4096).fill(42))
    const requester = await openRequester(browser, stack.appUrl!, 'corrupt-model')
    await requester.locator('#model').selectOption('upload')
    await requester.locator('#model-file').setInputFiles(join(dir, 'corrupt.onnx'))
    await requester.getByTestId('submit').click()
    await expect
      .poll(
        () =>
          requester
            .getByTestId('error')
            .innerText()
            .catch(() => ''),
        { timeout: 30_000 },
      )
      .toMatch(/This model cannot run on wasm/)
    expect(requester.url()).toMatch(/\/request$/)
  })

  // The requester's wallet is asked once per job, however long it runs: the tab's coordinator key
  // signs every claim, and nothing else goes on chain from the wallet. Counted on an injected
  // EIP-1193 provider (what MetaMask is to wagmi's injected connector) that forwards to anvil.
  it('asks an injected wallet exactly once for a 100-task job: the createJob transaction', async () => {
    const page = watchPage(await (await browser.newContext()).newPage(), 'injected-wallet')
    await page.addInitScript(
      ({ rpcUrl, account, chainId }) => {
        const calls: string[] = []
        let id = 0
        const rpc = async (method: string, params: unknown) => {
          const res = await fetch(rpcUrl, {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: params ?? [] }),
          })
          const body = await res.json()
          if (body.error) throw Object.assign(new Error(body.error.message), body.error)
          return body.result
        }
        const w = window as unknown as Record<string, unknown>
        w.__walletCalls = calls
        w.ethereum = {
          request: async ({ method, params }: { method: string; params?: unknown }) => {
            calls.push(method)
            if (method === 'eth_requestAccounts' || method === 'eth_accounts') return [account]
            if (method === 'eth_chainId') return `0x${chainId.toString(16)}`
            if (method.startsWith('wallet_')) return null
            return rpc(method, params)
          },
          on: () => {},
          removeListener: () => {},
        }
      },
      { rpcUrl: stack.chain.rpcUrl, account: DEV_ADDRESSES[1], chainId: stack.chain.chainId },
    )
    await page.goto(`${stack.appUrl}/request`)
    await page.locator('[data-connector=injected]').click({ timeout: 60_000 })
    await page.locator('#count').fill('100')
    await page.getByTestId('submit').click()
    await page.waitForURL(/\/jobs\/0x[0-9a-f]{64}$/, { timeout: 90_000 })
    const progress = page.getByTestId('job-progress')
    await expect
      .poll(() => progress.getAttribute('data-status'), { timeout: 300_000, interval: 1000 })
      .toBe('complete')
    expect(await progress.getAttribute('data-settled')).toBe('100')
    const calls = await page.evaluate(
      () => (window as unknown as { __walletCalls: string[] }).__walletCalls,
    )
    const prompts = calls.filter(
      (m) =>
        m === 'eth_sendTransaction' || m.startsWith('eth_signTypedData') || m === 'personal_sign',
    )
    expect(prompts).toEqual(['eth_sendTransaction'])
    await page.close()
  })

  it('lets a worker redeem its claim and withdraw its earnings from the volunteer page, after the requester tab closed', async () => {
    const client = publicClientFor(stack.chain)
    let page: Page | undefined
    let worker: Address | undefined
    for (const p of volunteers) {
      const address = (await p.getByTestId('address').innerText()) as Address
      if ((owed.get(address.toLowerCase()) ?? 0n) > 0n) {
        page = p
        worker = address
        break
      }
    }
    expect(worker).toBeDefined()
    expect(await creditedBalance(client, stack.chain.contract, worker!)).toBe(0n)
    // Every job it worked in so far (the claims of the jobs after the first one count too).
    const label = await page!.getByTestId('redeem').innerText()
    const due = parseEther(/^Redeem (.+) ETH$/.exec(label)?.[1] ?? '0')
    expect(due).toBeGreaterThanOrEqual(owed.get(worker!.toLowerCase())!)
    await page!.locator('[data-connector=mock]').click()
    await page!.getByTestId('redeem').click()
    await page!
      .getByText(/^Redeemed \d+ claims?: /)
      .waitFor({ timeout: 30_000 })
      .catch(async (err) => {
        throw new Error(
          `${err.message}\nThe page said:\n${await page!.locator('main').innerText()}`,
        )
      })
    const credited = await creditedBalance(client, stack.chain.contract, worker!)
    expect(credited).toBe(due)
    expect(await page!.getByTestId('redeem').innerText()).toBe('Nothing to redeem')
    const before = await client.getBalance({ address: worker! })
    await page!.getByTestId('withdraw').click()
    await page!
      .getByText(/^Withdrew /)
      .waitFor({ timeout: 30_000 })
      .catch(async (err) => {
        throw new Error(
          `${err.message}\nThe page said:\n${await page!.locator('main').innerText()}`,
        )
      })
    expect(await client.getBalance({ address: worker! })).toBe(before + credited)
    expect(await creditedBalance(client, stack.chain.contract, worker!)).toBe(0n)
    withdrawn = { page: page!, worker: worker! }
  })

  it('stakes for the tab from the wallet, unstakes signed by the tab, and returns the ether to the wallet', async () => {
    const { page, worker } = withdrawn!
    const client = publicClientFor(stack.chain)
    const said = (re: RegExp) =>
      page
        .getByTestId('stake-status')
        .filter({ hasText: re })
        .waitFor({ timeout: 30_000 })
        .catch(async (err) => {
          throw new Error(
            `${err.message}\nThe page said:\n${await page.locator('main').innerText()}`,
          )
        })
    const amount = page.locator('#stake-amount')
    await amount.fill('0.1')
    // The page says what stake on a tab's key risks before the wallet may send any.
    expect(await page.getByTestId('stake-add').isDisabled()).toBe(true)
    expect(await page.getByTestId('stake-warning').innerText()).toMatch(/bound to this tab’s key/)
    await page.getByTestId('stake-ack').check()
    await page.getByTestId('stake-add').click()
    await said(/^Staked 0.1 ETH/)
    expect((await workerOnChain(client, stack.chain.contract, worker)).active).toBe(
      parseEther('0.1'),
    )

    // The tab signs the unstaking and pays its gas from what it holds: here its withdrawn pay.
    const held = await client.getBalance({ address: worker })
    expect(held).toBeGreaterThan(0n)
    await amount.fill('0.04')
    await page.getByTestId('stake-unstake').click()
    await said(/^Unstaking 0.04 ETH/)
    const unstaking = await workerOnChain(client, stack.chain.contract, worker)
    expect(unstaking).toMatchObject({ active: parseEther('0.06'), unstaking: parseEther('0.04') })
    expect(await page.getByTestId('stake-withdraw').isDisabled()).toBe(true)

    const test = createTestClient({ mode: 'anvil', transport: http(stack.chain.rpcUrl) })
    await test.increaseTime({ seconds: 3 * 24 * 3600 })
    await test.mine({ blocks: 1 })
    await page.getByTestId('stake-withdraw').click({ timeout: 15_000 })
    await said(/^Paid 0.04 ETH of stake back/)
    const tab = await client.getBalance({ address: worker })
    expect(tab).toBeGreaterThan(parseEther('0.04'))

    const wallet = DEV_ADDRESSES[1]!
    const walletBefore = await client.getBalance({ address: wallet })
    await page.getByTestId('send-to-wallet').click()
    await said(/^Sent /)
    const left = await client.getBalance({ address: worker })
    const gained = (await client.getBalance({ address: wallet })) - walletBefore
    // The wallet got what the tab held, less the transfer fee; the tab kept only the unspent
    // part of its fee reserve.
    expect(gained).toBeGreaterThan(parseEther('0.039'))
    expect(tab - gained - left).toBeGreaterThan(0n)
    expect(tab - gained - left).toBeLessThan(parseEther('0.001'))
    expect(left).toBeLessThan(parseEther('0.001'))
  })
})

/**
 * Chaos scenarios about browser tabs (headless Chromium; the web app built and served by the
 * stack of `npm start`). Volunteers are Node peers here: the fault under test is the tab.
 */
import type { Hex } from 'viem'
import { publicClientFor } from '../../lib/chain'
import { startNodeVolunteer } from '../../lib/sdk/node'
import { launchChromium, openRequester } from '../../tests/helpers/browser'
import { chainAudit, paddedCompute, type Scenario, type ScenarioResult } from './chaos'
import { startStack } from './stack'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const requesterReload: Scenario = {
  name: 'requester-reload',
  description:
    'The requester tab coordinating a job reloads twice mid-job. Its job, tasks and results are in IndexedDB; it resumes coordinating, results computed meanwhile are delivered from the workers’ outboxes, and the job completes from where it was.',
  async run(size, log): Promise<ScenarioResult> {
    const started = Date.now()
    const tasks = size === 'full' ? 30 : 12
    const stack = await startStack({ ports: 'free', log: (l) => log(`  [stack] ${l}`) })
    const cleanup: Array<() => Promise<unknown>> = [() => stack.stop()]
    try {
      const net = { ...stack.chain, relays: [stack.relay.multiaddr] }
      const volunteers = await Promise.all(
        [0, 1, 2].map(() =>
          startNodeVolunteer({
            ...net,
            wrapCompute: (c) => paddedCompute(400, c),
          }),
        ),
      )
      cleanup.unshift(() => Promise.all(volunteers.map((v) => v.stop())))
      const browser = await launchChromium()
      cleanup.unshift(() => browser.close())
      const page = await openRequester(browser, stack.appUrl!, 'requester')
      await page.locator('#count').fill(String(tasks))
      await page.locator('#replicas').fill('2')
      await page.locator('#quorum').fill('2')
      await page.getByTestId('submit').click()
      await page.waitForURL(/\/jobs\/0x[0-9a-f]{64}$/, { timeout: 90_000 })
      const jobId = page.url().split('/').pop() as Hex
      const progress = page.getByTestId('job-progress')
      const settled = async () => Number((await progress.getAttribute('data-settled')) ?? 0)
      const waitSettled = async (atLeast: number, timeoutMs: number) => {
        const until = Date.now() + timeoutMs
        while (Date.now() < until) {
          if ((await settled().catch(() => 0)) >= atLeast) return true
          await sleep(200)
        }
        return false
      }
      const recoveries: number[] = []
      let heldDuringReload = 0
      for (const fraction of [0.25, 0.6]) {
        await waitSettled(Math.ceil(tasks * fraction), 120_000)
        const before = await settled()
        log(`  reloading the requester tab at ${before}/${tasks} settled`)
        const reloadAt = Date.now()
        await page.reload()
        heldDuringReload = Math.max(
          heldDuringReload,
          volunteers.reduce((n, v) => n + v.worker.stats().pendingResults, 0),
        )
        await waitSettled(before + 1, 120_000)
        recoveries.push(Date.now() - reloadAt)
      }
      const until = Date.now() + 180_000
      while (Date.now() < until && (await progress.getAttribute('data-status')) !== 'complete')
        await sleep(500)
      const status = await progress.getAttribute('data-status')
      const audit = await chainAudit(publicClientFor(stack.chain), stack.chain.contract, jobId)
      const reasons: string[] = []
      if (status !== 'complete') reasons.push(`job page says ${status}`)
      if (audit.settled !== tasks)
        reasons.push(`${tasks - audit.settled} tasks not settled on chain`)
      if (audit.doublePaid !== 0) reasons.push(`${audit.doublePaid} double payments`)
      return {
        name: 'requester-reload',
        tasks,
        completed: audit.settled,
        lost: tasks - audit.settled,
        doublePaid: audit.doublePaid,
        recoverMs: Math.max(...recoveries),
        pass: reasons.length === 0,
        reasons,
        details: {
          reloads: 2,
          recoveriesMs: recoveries,
          resultsHeldByWorkersDuringReload: heldDuringReload,
          status,
        },
        wallMs: Date.now() - started,
      }
    } finally {
      for (const c of cleanup) await c().catch(() => {})
    }
  },
}

export const TAB_SCENARIOS: Scenario[] = [requesterReload]

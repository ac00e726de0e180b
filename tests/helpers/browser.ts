/**
 * Headless Chromium from Debian (/usr/bin/chromium) driven by playwright-core. Browser tests run
 * inside the private network namespace of scripts/in-netns.sh, where WebRTC has an interface.
 */
import { existsSync } from 'node:fs'
import { type Browser, type BrowserContext, chromium, type Page } from 'playwright-core'

export const CHROMIUM = process.env.MESHWORK_CHROMIUM ?? '/usr/bin/chromium'

export const CHROMIUM_MISSING = `Chromium is not installed at ${CHROMIUM}. Install it with:\n  sudo apt-get install -y chromium\n(or set MESHWORK_CHROMIUM to a Chromium binary).`

const ARGS = [
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-features=WebRtcHideLocalIpsWithMdns',
]

export async function launchChromium(opts: { webgpu?: boolean } = {}): Promise<Browser> {
  if (!existsSync(CHROMIUM)) throw new Error(CHROMIUM_MISSING)
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [...ARGS, ...(opts.webgpu ? ['--enable-unsafe-webgpu'] : [])],
  })
}

/** A browser whose profile (IndexedDB included) lives in `dir`, for tests that read it on disk. */
export async function launchPersistentChromium(dir: string): Promise<BrowserContext> {
  if (!existsSync(CHROMIUM)) throw new Error(CHROMIUM_MISSING)
  return chromium.launchPersistentContext(dir, { executablePath: CHROMIUM, args: ARGS })
}

/** Forwards page errors to the test's stderr so that a failing browser test says why. */
export function watchPage(page: Page, name: string): Page {
  page.on('pageerror', (e) => process.stderr.write(`[${name}] pageerror: ${e.message}\n`))
  page.on('console', (m) => {
    if (m.type() === 'error')
      process.stderr.write(`[${name}] console.error: ${m.text().slice(0, 400)}\n`)
  })
  // The console names the status of a failed load but not what failed.
  page.on('response', (r) => {
    if (r.status() >= 400)
      process.stderr.write(
        `[${name}] HTTP ${r.status()} ${r.request().method()} ${r.url().slice(0, 300)}\n`,
      )
  })
  return page
}

/** Opens /volunteer in a fresh browser profile (its own IndexedDB, so its own key) and presses Start. */
export async function openVolunteer(
  browser: Browser,
  appUrl: string,
  name: string,
  backend = 'wasm',
): Promise<Page> {
  const context = await browser.newContext()
  const page = watchPage(await context.newPage(), name)
  await page.goto(`${appUrl}/volunteer?backend=${backend}`)
  await page.getByTestId('start').click()
  await page.getByTestId('state').waitFor({ timeout: 60_000 })
  return page
}

/** Opens /request in a fresh profile and connects the labelled dev account. */
export async function openRequester(browser: Browser, appUrl: string, name: string): Promise<Page> {
  const page = watchPage(await (await browser.newContext()).newPage(), name)
  await page.goto(`${appUrl}/request`)
  // As long as openVolunteer allows its page. At 30 s this once timed out in CI, after two HTTP
  // 400 responses whose URLs were not logged then (watchPage logs them now).
  await page.locator('[data-connector=mock]').click({ timeout: 60_000 })
  return page
}

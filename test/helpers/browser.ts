// The browser of the web page's tests: Debian's chromium driven by
// playwright-core, launched as a server so that the test file owns the
// process and can kill it (a graceful Browser.close() has been seen to hang
// on a loaded CI machine), and the steps every page test repeats.
import { execSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chromium, type Browser, type BrowserServer, type Page } from 'playwright-core'

export const CHROMIUM = '/usr/bin/chromium'
const ARGS = ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
  '--disable-sync', '--no-first-run', '--disable-quic']
export const PASSWORD = 'correct horse battery'

/** Installs Debian's chromium when it is missing (needs root, as in CI). */
export function ensureChromium (): void {
  if (existsSync(CHROMIUM)) return
  if (process.getuid?.() !== 0) throw new Error(`${CHROMIUM} is missing: run \`apt-get update && apt-get install -y chromium\` as root`)
  execSync('apt-get update && apt-get install -y chromium', { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } })
}

/** Resolves false when `work` takes longer than `ms` (it is left to finish or fail on its own). */
export async function within (ms: number, work: Promise<unknown>): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms) })
  try {
    return await Promise.race([work.then(() => true, () => true), late])
  } finally {
    clearTimeout(timer)
  }
}

export interface TestBrowser {
  browser: Browser
  /** Closed gracefully if it answers, killed if not. */
  close (): Promise<void>
}

export async function launchBrowser (): Promise<TestBrowser> {
  const server: BrowserServer = await chromium.launchServer({ executablePath: CHROMIUM, args: ARGS })
  const browser = await chromium.connect(server.wsEndpoint())
  return {
    browser,
    async close () {
      await within(5_000, Promise.all(browser.contexts().map(async (c) => { await c.close() })))
      if (!await within(5_000, browser.close())) console.warn('chromium did not close within 5 s; killing it')
      if (!await within(10_000, server.kill())) console.warn('chromium did not exit within 10 s of SIGKILL')
    }
  }
}

/** Collects what a user would see go wrong on a page: console errors, uncaught errors, failed requests. */
export function watch (page: Page, who: string, problems: string[], ignore?: (url: string) => boolean): void {
  page.on('console', (m) => { if (m.type() === 'error' && !(ignore?.(m.location().url) ?? false)) problems.push(`${who}: ${m.text()}`) })
  page.on('pageerror', (err) => problems.push(`${who}: ${err.message}`))
  page.on('response', (res) => { if (res.status() >= 400 && !(ignore?.(res.url()) ?? false)) problems.push(`${who}: ${res.status()} ${res.url()}`) })
}

export async function registerIn (page: Page, username: string, displayName: string): Promise<void> {
  await page.fill('#username', username)
  await page.fill('#password', PASSWORD)
  await page.fill('#display-name', displayName)
  await page.click('#register-button')
  await page.waitForSelector('#chat:not([hidden])')
  await page.waitForSelector('body[data-connection="live"]')
}

export async function send (page: Page, text: string): Promise<void> {
  await page.fill('#message-input', text)
  await page.click('#send')
}

/** A stored (not pending) message showing this text. */
export const message = (page: Page, text: string) => page.locator('#message-list .message:not(.pending) .body', { hasText: text })

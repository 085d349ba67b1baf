// The web page's session as people share a computer and open tabs, in
// Chromium: after Log out the next person finds an empty login form and
// nothing of the previous user on any screen or dialog; two tabs share one
// session (localStorage) whose refresh token rotates every few seconds here,
// and stay signed in while each refreshes in turn; a logout in one tab sends
// the other to the login screen, and a login there brings it back as that user.
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureChromium, launchBrowser, message, PASSWORD, registerIn, send, watch, type TestBrowser } from './helpers/browser.js'
import { client, uniqueName, type Account } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

const DESKTOP = { width: 1280, height: 800 }
/** The SDK refreshes 15 s before expiry: with 20 s, every 5 s of use. */
const ACCESS_TOKEN_TTL_SECONDS = 20

let server: TestServer
let testBrowser: TestBrowser
let browser: Browser
const sockets: TestSocket[] = []
const problems: string[] = []
// While a tab finds out that another one logged out, its refused requests are expected.
let signingOut = false

beforeAll(async () => {
  ensureChromium()
  server = await startServer({ config: { accessTokenTtlSeconds: ACCESS_TOKEN_TTL_SECONDS, refreshReuseGraceSeconds: 5 } })
  testBrowser = await launchBrowser()
  browser = testBrowser.browser
}, 600_000)

afterAll(async () => {
  await Promise.all(sockets.map((s) => s.close()))
  await testBrowser?.close()
  await server?.close()
}, 120_000)

async function newPage (who: string, context?: Awaited<ReturnType<Browser['newContext']>>): Promise<Page> {
  const page = await (context ?? await browser.newContext({ viewport: DESKTOP })).newPage()
  watch(page, who, problems, () => signingOut)
  await page.goto(server.url)
  return page
}

async function account (displayName: string): Promise<Account> {
  return (await client(server.url).post('/v1/auth/register', { username: uniqueName('u'), password: PASSWORD, displayName })).body
}

/** The session the tabs share, as saved. */
const saved = (page: Page) => page.evaluate(() => JSON.parse((globalThis as any).localStorage.getItem('switchboard.session') ?? 'null') as
  { user: { id: string }, refreshToken: string, expiresAt: number } | null)

/** What the page holds that a person could see or read out of it: every text, input value, list and open dialog. */
const leftovers = (page: Page) => page.evaluate(() => {
  const d = (globalThis as any).document
  const text = (id: string) => (d.getElementById(id).textContent as string).trim()
  return {
    text: d.body.textContent as string,
    inputs: [...d.querySelectorAll('input')].filter((i: any) => i.type !== 'file').map((i: any) => i.value as string).filter((v: string) => v !== ''),
    messages: d.querySelectorAll('#message-list li').length as number,
    searchResults: d.querySelectorAll('#search-results li').length as number,
    members: d.querySelectorAll('#member-list li').length as number,
    openDialogs: d.querySelectorAll('dialog[open]').length as number,
    composerContext: !d.getElementById('composer-context').hidden as boolean,
    typing: text('typing'),
    title: text('conversation-title')
  }
})

describe('web page: a shared computer', () => {
  it('after Log out the form is empty, one click on Log in signs nobody in, and the next person sees nothing of the previous one', async () => {
    const bob = await account('Bob')
    const page = await newPage('alice')
    const aliceName = uniqueName('alice')
    await registerIn(page, aliceName, 'Alice')
    const aliceId = (await saved(page))!.user.id

    // A group with Bob, a message, its Reply context, a draft, the members, a search and Bob typing.
    await page.click('#new-group')
    await page.fill('#group-title', 'Secret plans')
    await page.fill('#group-members', bob.user.username)
    await page.click('#group-create')
    await expect.poll(() => page.textContent('#conversation-title')).toBe('Secret plans')
    await send(page, 'alice private note for bob')
    await message(page, 'alice private note for bob').waitFor()
    await page.click('#members-button')
    await page.locator('#member-list li', { hasText: 'Bob' }).waitFor()
    await page.click('#members-close')
    const item = page.locator('#message-list .message:not(.pending)', { has: page.locator('.body', { hasText: 'alice private note' }) })
    await item.hover()
    await item.locator('button[data-action="reply"]').click()
    await expect.poll(() => page.textContent('#composer-context-text')).toContain('Replying to Alice')
    await page.fill('#message-input', 'half-written draft')
    await page.fill('#search-input', 'private')
    await page.press('#search-input', 'Enter')
    await page.locator('#search-results li', { hasText: 'private' }).waitFor()
    // Bob's token from his registration may have expired (20 s): he logs in again.
    const bobNow: Account = (await client(server.url).post('/v1/auth/login', { username: bob.user.username, password: PASSWORD })).body
    const group = (await client(server.url).get('/v1/conversations', { token: bobNow.accessToken })).body.conversations[0]
    const bobSocket = await connectReady(server.url, bobNow.accessToken, sockets)
    bobSocket.send({ type: 'typing', conversationId: group.id })
    await expect.poll(() => page.textContent('#typing')).toContain('Bob is typing')

    const logins: string[] = []
    page.on('request', (r) => { if (r.url().endsWith('/v1/auth/login')) logins.push(r.url()) })
    await page.click('#logout')
    await page.waitForSelector('#login:not([hidden])')
    expect(await page.inputValue('#username')).toBe('')
    expect(await page.inputValue('#password')).toBe('')
    expect(await page.inputValue('#display-name')).toBe('')
    expect(await page.textContent('#login-error')).toBe('')
    // Nothing of Alice's is kept in the browser (session, sync cursor, outbox).
    expect(await page.evaluate(() => Object.keys((globalThis as any).localStorage).filter((k) => k.startsWith('switchboard.') && k !== 'switchboard.device'))).toEqual([])

    // The next person clicks "Log in" without typing: the empty form is not sent.
    await page.click('#login-button')
    expect(await page.locator('#username:invalid').count()).toBe(1)
    expect(await page.isVisible('#chat')).toBe(false)

    // Nothing of Alice's is in the page, shown or hidden, before or after Carol signs in.
    const secrets = ['alice private note', 'Secret plans', 'half-written draft', 'Bob', aliceName]
    const check = async (who: string) => {
      const { text, inputs, ...shown } = await leftovers(page)
      for (const secret of secrets) {
        expect(text, `${who}: "${secret}" in the page`).not.toContain(secret)
        expect(inputs.join(' '), `${who}: "${secret}" in a field`).not.toContain(secret)
      }
      expect(shown, who).toEqual({ messages: 0, searchResults: 0, members: 0, openDialogs: 0, composerContext: false, typing: '', title: 'Pick a conversation' })
    }
    await check('the login screen')
    await registerIn(page, uniqueName('carol'), 'Carol')
    expect(await page.textContent('#me-name')).toBe('Carol')
    expect(await page.inputValue('#password'), 'the password is cleared once signed in').toBe('')
    await check('Carol')
    expect(await page.isVisible('#search-results')).toBe(false)
    expect(await page.isVisible('#composer')).toBe(false)
    // The click on the empty form sent no login; Carol registered.
    expect(logins).toEqual([])
    expect((await saved(page))!.user.id).not.toBe(aliceId)
    expect(problems).toEqual([])
    await page.context().close()
  }, 120_000)
})

describe('web page: two tabs of one browser', () => {
  it('stay signed in while each refreshes the rotating token in turn; a logout in one sends the other to the login screen', async () => {
    const context = await browser.newContext({ viewport: DESKTOP })
    const a = await newPage('tab a', context)
    await registerIn(a, uniqueName('alice'), 'Alice')
    const b = await newPage('tab b', context)
    await b.waitForSelector('body[data-connection="live"]')
    expect(await b.textContent('#me-name')).toBe('Alice')
    const refreshes: string[] = []
    for (const [name, p] of [['a', a], ['b', b]] as const) {
      p.on('response', (r) => { if (r.url().endsWith('/v1/auth/refresh')) refreshes.push(`${name}:${r.status()}`) })
    }

    // Each round waits until the saved access token is due for a refresh (12 s
    // left: 8 s after the last one, past the server's 5 s reuse grace), then
    // uses the other tab: a search asks the server with a fresh token.
    for (let round = 0; round < 3; round++) {
      const tab = round % 2 === 0 ? a : b
      const before = (await saved(tab))!.refreshToken
      await expect.poll(async () => (await saved(tab))!.expiresAt - Date.now(), { timeout: 30_000, interval: 250 }).toBeLessThan(12_000)
      await tab.bringToFront()
      if (await tab.isVisible('#search-clear')) await tab.click('#search-clear')
      await tab.fill('#search-input', ['apples', 'bananas', 'cherries', 'dates'][round]!)
      await tab.press('#search-input', 'Enter')
      // The answer, or the login screen of a session the server ended.
      await tab.locator('#search-results li, #login:not([hidden])').first().waitFor()
      expect(await tab.isVisible('#login'), `round ${round}: signed out`).toBe(false)
      expect(await tab.textContent('#search-error'), `round ${round}`).toBe('')
      await expect.poll(async () => (await saved(tab))?.refreshToken, { message: `round ${round}: the session was refreshed` }).not.toBe(before)
    }
    expect(refreshes.length).toBeGreaterThanOrEqual(3)
    expect(refreshes.filter((r) => !r.endsWith(':200'))).toEqual([])
    for (const tab of [a, b]) {
      expect(await tab.isVisible('#login')).toBe(false)
      expect(await tab.isVisible('#chat')).toBe(true)
    }
    // The saved session is alive on the server: a reload stays in the chat.
    await a.reload()
    await a.waitForSelector('body[data-connection="live"]')
    expect(await a.textContent('#me-name')).toBe('Alice')
    expect(problems).toEqual([])

    // Log out in tab b: tab a goes to the login screen, its form empty.
    signingOut = true
    await b.click('#logout')
    await b.waitForSelector('#login:not([hidden])')
    await a.waitForSelector('#login:not([hidden])')
    expect(await a.isVisible('#chat')).toBe(false)
    expect(await a.textContent('#login-error')).toBe('You were signed out. Log in again.')
    expect(await a.inputValue('#username')).toBe('')
    expect(await saved(a)).toBeNull()
    signingOut = false

    // Someone logs in in tab a: tab b follows as that user (every tab shows the saved session).
    problems.length = 0
    await registerIn(a, uniqueName('carol'), 'Carol')
    await b.waitForSelector('body[data-connection="live"]')
    await expect.poll(() => b.textContent('#me-name')).toBe('Carol')
    expect(await b.isVisible('#chat')).toBe(true)
    expect(problems).toEqual([])
    await context.close()
  }, 180_000)
})

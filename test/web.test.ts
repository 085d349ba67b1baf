// The web chat page in a real browser (Debian's chromium, driven by
// playwright-core): two people register in two browser contexts, open a
// direct conversation and chat; each sees the other's messages, typing and
// presence live; history pages back. Screenshots go to test/artifacts/.
import { mkdtempSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { fileURLToPath } from 'node:url'
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureChromium, launchBrowser, message, PASSWORD, registerIn, send, watch, type TestBrowser } from './helpers/browser.js'
import { client, uniqueName } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'

const ARTIFACTS = fileURLToPath(new URL('./artifacts/', import.meta.url))

// Uploaded photos go to a folder of this file's own (local storage driver).
const DATA_DIR = mkdtempSync(join(tmpdir(), 'sb-web-'))
test.override('serverOptions', { config: { dataDir: DATA_DIR } })

let server: TestServer
let testBrowser: TestBrowser
let browser: Browser
const problems: string[] = []

// The page is built once for the run (test/setup/web.ts), before any server starts.
beforeAll(async () => {
  ensureChromium()
  await mkdir(ARTIFACTS, { recursive: true })
}, 600_000)
test.beforeAll(async ({ server: started }) => {
  server = started
  testBrowser = await launchBrowser()
  browser = testBrowser.browser
}, 600_000)

afterAll(async () => {
  await testBrowser?.close()
  await rm(DATA_DIR, { recursive: true, force: true })
}, 120_000)

async function newPage (who: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 700 } })
  const page = await context.newPage()
  watch(page, who, problems)
  await page.goto(server.url)
  return page
}

describe('web chat page', () => {
  it('serves the page with its CSP and strict headers', async () => {
    const res = await fetch(server.url)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/html/)
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
    expect(await res.text()).toContain('<script type="module" src="/app.js"></script>')
    expect((await fetch(`${server.url}/app.js`)).status).toBe(200)
    expect((await fetch(`${server.url}/nope.js`)).status).toBe(404)
  })

  it('two people register, open a direct conversation and chat live, with typing, presence and history', async () => {
    const alice = uniqueName('alice')
    const bob = uniqueName('bob')
    const pageA = await newPage('alice')
    await pageA.screenshot({ path: `${ARTIFACTS}web-login.png` })
    await registerIn(pageA, alice, 'Alice')
    const pageB = await newPage('bob')
    await registerIn(pageB, bob, 'Bob')

    // Alice opens the conversation with Bob by username and writes first.
    await pageA.fill('#new-chat-username', bob)
    await pageA.click('#new-chat button')
    await expect.poll(() => pageA.textContent('#conversation-title')).toBe('Bob')
    await expect.poll(() => pageA.textContent('#conversation-presence')).toBe('online')
    await send(pageA, 'Hi Bob, this is Alice')
    await message(pageA, 'Hi Bob, this is Alice').waitFor()

    // Bob sees the new conversation arrive live and opens it.
    await pageB.locator('#conversations li', { hasText: 'Alice' }).click()
    await message(pageB, 'Hi Bob, this is Alice').waitFor()
    await expect.poll(() => pageB.textContent('#conversation-presence')).toBe('online')

    // Typing reaches Alice; Bob's answer shows up on Alice's page without a reload.
    await pageB.fill('#message-input', 'Hello Ali')
    await pageB.type('#message-input', 'c')
    await expect.poll(() => pageA.textContent('#typing')).toBe('Bob is typing…')
    await pageB.fill('#message-input', '')
    await send(pageB, 'Hello Alice! Nice to meet you.')
    await message(pageA, 'Hello Alice! Nice to meet you.').waitFor()
    await send(pageA, 'Likewise, Bob!')
    await message(pageB, 'Likewise, Bob!').waitFor()
    expect(await pageA.locator('#message-list .message.mine').count()).toBe(2)
    expect(await pageB.locator('#message-list .message.mine').count()).toBe(1)
    await pageA.screenshot({ path: `${ARTIFACTS}web-alice.png` })
    await pageB.screenshot({ path: `${ARTIFACTS}web-bob.png` })

    // History: 40 more messages from another session of Alice, then Bob pages back.
    const api = client(server.url)
    const login = await api.post('/v1/auth/login', { username: alice, password: PASSWORD })
    const conversationId = await pageB.getAttribute('#conversations li.active', 'data-id')
    for (let i = 1; i <= 40; i++) {
      await api.post(`/v1/conversations/${conversationId}/messages`, { body: `numbered ${i}` }, { token: login.body.accessToken })
    }
    await message(pageB, 'numbered 40').waitFor()
    await pageB.reload()
    await pageB.waitForSelector('body[data-connection="live"]')
    await pageB.locator('#conversations li', { hasText: 'Alice' }).click()
    await message(pageB, 'numbered 40').waitFor()
    expect(await message(pageB, 'Hi Bob, this is Alice').count()).toBe(0)
    await pageB.click('#load-older')
    await message(pageB, 'Hi Bob, this is Alice').waitFor()
    expect(await pageB.locator('#load-older').isHidden()).toBe(true)
    expect(await pageB.locator('#message-list .message').count()).toBe(43)

    // Presence: Bob leaves, Alice sees him go offline after the grace period.
    await pageB.context().close()
    await expect.poll(() => pageA.textContent('#conversation-presence'), { timeout: 15_000 }).toBe('offline')
    await pageA.screenshot({ path: `${ARTIFACTS}web-alice-bob-offline.png` })
    expect(problems).toEqual([])
  }, 90_000)

  // The list shows only the first members of a big group; the page loads the
  // rest when it opens the group, so a late joiner's message has their name.
  it('names every sender of a group bigger than the member preview of the list', async () => {
    const api = client(server.url)
    const carol = uniqueName('carol')
    const page = await newPage('carol')
    await registerIn(page, carol, 'Carol')
    const me = (await api.post('/v1/auth/login', { username: carol, password: PASSWORD })).body.user
    const others = await Promise.all(Array.from({ length: 12 }, (_, i) =>
      api.post('/v1/auth/register', { username: uniqueName('m'), password: PASSWORD, displayName: `Member ${i + 1}` }).then((r) => r.body)))
    const [owner, late] = [others[0]!, others[11]!]
    const group = (await api.post('/v1/conversations', { type: 'group', title: 'Big group', memberIds: [me.id, ...others.slice(1, 11).map((o) => o.user.id)] },
      { token: owner.accessToken })).body
    await api.post(`/v1/conversations/${group.id}/members`, { userIds: [late.user.id] }, { token: owner.accessToken })
    await api.post(`/v1/conversations/${group.id}/messages`, { body: 'hello from the last to join' }, { token: late.accessToken })
    expect((await api.get('/v1/conversations', { token: owner.accessToken })).body.conversations[0]).toMatchObject({ memberCount: 13 })

    // A fresh load takes the group from the list, with its first 10 members only.
    await page.reload()
    await page.waitForSelector('body[data-connection="live"]')
    await page.locator('#conversations li', { hasText: 'Big group' }).click()
    await expect.poll(() => page.textContent('#conversation-presence')).toBe('13 members')
    await message(page, 'hello from the last to join').waitFor()
    await expect.poll(() => page.locator('#message-list .message .meta').first().textContent()).toContain('Member 12')
    expect(problems).toEqual([])
  }, 60_000)

  it('sends a photo: both sides see its thumbnail', async () => {
    const [alice, bob] = [uniqueName('alice'), uniqueName('bob')]
    const pageA = await newPage('alice')
    await registerIn(pageA, alice, 'Alice')
    const pageB = await newPage('bob')
    await registerIn(pageB, bob, 'Bob')
    await pageA.fill('#new-chat-username', bob)
    await pageA.click('#new-chat button')
    await expect.poll(() => pageA.textContent('#conversation-title')).toBe('Bob')
    const photo = await sharp({ create: { width: 640, height: 480, channels: 3, background: { r: 30, g: 120, b: 200 } } }).jpeg().toBuffer()
    await pageA.fill('#message-input', 'our view')
    await pageA.setInputFiles('#attach-input', { name: 'view.jpg', mimeType: 'image/jpeg', buffer: photo })
    await message(pageA, 'our view').waitFor()
    await pageB.locator('#conversations li', { hasText: 'Alice' }).click()
    for (const page of [pageA, pageB]) {
      const thumb = page.locator('#message-list .message img.thumb')
      await thumb.waitFor()
      // Loaded from its signed URL and decoded: the thumbnail fits THUMBNAIL_SIZE (320) and keeps the aspect.
      await expect.poll(() => thumb.evaluate((img) => { const i = img as unknown as { naturalWidth: number, naturalHeight: number }; return `${i.naturalWidth}x${i.naturalHeight}` })).toBe('320x240')
    }
    await pageB.screenshot({ path: `${ARTIFACTS}web-photo.png` })
    expect(problems).toEqual([])
  }, 60_000)
})

// The web page's Web Push subscription flow in Chromium (Debian's chromium,
// driven by playwright-core), as far as a browser goes without an outside push
// service: the service worker registers, permission is asked, and subscribing
// either fails with a message (Chromium's push service is Google's FCM, out of
// reach here) or, with PushManager.subscribe answered by a subscription of the
// test's own push service, the page registers it as a device, a message makes
// the server send a real encrypted push there, and that push, delivered to the
// service worker, shows the notification.
import type { Browser, Page } from 'playwright-core'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ensureChromium, launchBrowser, PASSWORD, type TestBrowser } from './helpers/browser.js'
import { createDirect, post } from './helpers/chat.js'
import { client, register, uniqueName, type Client } from './helpers/http.js'
import { startFakeWebPush, type FakeWebPush } from './helpers/push-services.js'
import { startServer, testConfig, type TestServer } from './helpers/server.js'


let web: FakeWebPush
let server: TestServer
let api: Client
let testBrowser: TestBrowser | undefined
let browser: Browser | undefined

beforeAll(async () => {
  ensureChromium()
  web = await startFakeWebPush()
  server = await startServer({ config: { push: { ...testConfig().push, webpush: web.config, ca: web.ca, pollIntervalMs: 500, whenOnline: true } } })
  api = client(server.url)
  testBrowser = await launchBrowser()
  browser = testBrowser.browser
}, 120_000)

afterAll(async () => {
  await testBrowser?.close()
  await server?.close()
  await web?.close()
}, 60_000)

async function signedInPage (subscription?: { endpoint: string, keys: { p256dh: string, auth: string } }): Promise<{ page: Page, username: string }> {
  const context = await browser!.newContext()
  await context.grantPermissions(['notifications'], { origin: server.url })
  if (subscription !== undefined) {
    // PushManager.subscribe answered with the test push service's subscription; what the page asked for is kept.
    await context.addInitScript((sub) => {
      // Runs in the page (the test is type-checked without the DOM library).
      const w = globalThis as any
      w.PushManager.prototype.getSubscription = async () => null
      w.PushManager.prototype.subscribe = async function (options?: { userVisibleOnly?: boolean, applicationServerKey?: ArrayBuffer }) {
        const key = new Uint8Array(options?.applicationServerKey as ArrayBuffer)
        w.subscribeOptions = { userVisibleOnly: options?.userVisibleOnly, key: btoa(String.fromCharCode(...key)).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '') }
        return { endpoint: sub.endpoint, toJSON: () => sub }
      }
    }, subscription)
  }
  const page = await context.newPage()
  await page.goto(server.url)
  const username = uniqueName('web')
  await page.fill('#username', username)
  await page.fill('#password', PASSWORD)
  await page.click('#register-button')
  await page.waitForSelector('#chat:not([hidden])')
  return { page, username }
}

describe('Web Push in the browser', () => {
  it('registers the service worker and reports what Chromium answers to subscribe without its push service', async () => {
    const { page } = await signedInPage()
    await page.click('#push-toggle')
    await page.waitForSelector('body[data-push]', { timeout: 20_000 })
    expect(await page.getAttribute('body', 'data-service-worker')).toBe('registered')
    const scope = await page.evaluate(async () => (await (globalThis as any).navigator.serviceWorker.getRegistration('/'))?.scope)
    expect(scope).toBe(`${server.url}/`)
    const state = await page.getAttribute('body', 'data-push')
    const text = await page.textContent('#push-status')
    // Offline, Chromium cannot reach FCM to create a subscription: the page says so and registers nothing.
    // (Should a build subscribe anyway, the page registers the device; both are the page's correct handling.)
    expect(['failed', 'subscribed']).toContain(state)
    if (state === 'failed') expect(text).toMatch(/^Could not subscribe: /)
    console.info(`chromium without its push service: ${state}: ${text}`)
    await page.context().close()
  }, 60_000)

  it('registers the subscription as a device; a message reaches the push service encrypted and the service worker shows it', async () => {
    const sub = web.subscribe()
    const { page, username } = await signedInPage(sub.json)
    await page.click('#push-toggle')
    await page.waitForSelector('body[data-push="subscribed"]', { timeout: 20_000 })
    expect(await page.textContent('#push-status')).toBe('Notifications on')
    expect(await page.evaluate(() => (globalThis as any).subscribeOptions)).toEqual({ userVisibleOnly: true, key: web.config.publicKey })

    const me = (await api.post('/v1/auth/login', { username, password: PASSWORD })).body
    const devices = (await api.get('/v1/me/devices', { token: me.accessToken })).body.devices
    expect(devices).toHaveLength(1)
    expect(devices[0]).toMatchObject({ platform: 'webpush', deviceId: expect.stringMatching(/^web-[0-9a-f]{24}$/) })

    // PUSH_WHEN_ONLINE here: the page's own socket does not hold the push back.
    const writer = await register(api)
    const direct = await createDirect(api, writer, me)
    const context = page.context()
    const scopeUrl = `${server.url}/`
    const sent = await post(api, writer, direct.id, 'Are you coming tonight?')
    const deadline = Date.now() + 15_000
    while (!web.received.some((r) => r.token === sub.id) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50))
    const push = web.received.find((r) => r.token === sub.id)
    expect(push?.answered).toBe(201)
    expect(push?.payload).toMatchObject({ type: 'message', title: writer.user.displayName, body: 'Are you coming tonight?', seq: String(sent.seq), badge: 1 })

    // What the push service would hand the browser, delivered to the service worker through DevTools.
    const cdp = await context.newCDPSession(page)
    const registrations: Array<{ registrationId: string, scopeURL: string }> = []
    cdp.on('ServiceWorker.workerRegistrationUpdated', (e: { registrations: Array<{ registrationId: string, scopeURL: string }> }) => registrations.push(...e.registrations))
    await cdp.send('ServiceWorker.enable')
    const deadline2 = Date.now() + 10_000
    while (!registrations.some((r) => r.scopeURL === scopeUrl) && Date.now() < deadline2) await new Promise((r) => setTimeout(r, 50))
    const registration = registrations.find((r) => r.scopeURL === scopeUrl)
    expect(registration).toBeDefined()
    await cdp.send('ServiceWorker.deliverPushMessage', { origin: server.url, registrationId: registration!.registrationId, data: JSON.stringify(push!.payload) })
    await expect.poll(async () => await page.evaluate(async () => {
      const reg = await (globalThis as any).navigator.serviceWorker.getRegistration('/')
      const shown: Array<{ title: string, body: string, tag: string }> = (await reg?.getNotifications()) ?? []
      return shown.map((n) => ({ title: n.title, body: n.body, tag: n.tag }))
    }), { timeout: 10_000 }).toEqual([{ title: writer.user.displayName, body: 'Are you coming tonight?', tag: direct.id.replaceAll('-', '') }])
    await context.close()
  }, 60_000)
})

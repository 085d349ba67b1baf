// The device registry: devices are owned by the session that registered
// them and go when it ends; tokens move between accounts; platforms without
// credentials are refused. Real server, real HTTP, real PostgreSQL.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import webpush from 'web-push'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { loadConfig } from '../src/config.js'
import { webPushEndpointAllowed } from '../src/notifications/push/endpoint-hosts.js'
import { createGroup, post } from './helpers/chat.js'
import { client, expectError, register, type Account, type Client, type Response } from './helpers/http.js'
import { apnsToken, fcmToken, startFakeApns, startFakeWebPush, type FakeApns, type FakeWebPush } from './helpers/push-services.js'
import { startServer, testConfig, type TestServer } from './helpers/server.js'

let apns: FakeApns
let web: FakeWebPush
let server: TestServer
let api: Client
const fcm = {
  config: {
    serviceAccount: { projectId: 'p', clientEmail: 'push@p.iam.gserviceaccount.com', privateKey: 'unused: nothing is sent in this file', tokenUri: 'http://127.0.0.1:1/token' },
    baseUrl: 'http://127.0.0.1:1'
  }
}

beforeAll(async () => {
  [apns, web] = await Promise.all([startFakeApns(), startFakeWebPush()])
  server = await startServer({
    config: { push: { ...testConfig().push, apns: apns.config, fcm: fcm.config, webpush: web.config, ca: `${apns.ca}\n${web.ca}` } }
  })
  api = client(server.url)
})
afterAll(async () => {
  await server?.close()
  await Promise.all([apns?.close(), web?.close()])
})

const putDevice = (who: Account, deviceId: string, body: Record<string, unknown>) => api.put(`/v1/me/devices/${deviceId}`, body, { token: who.accessToken })

describe('device registry', () => {
  it('registers, lists, updates and removes devices; refuses malformed ones', async () => {
    const a = await register(api)
    const token = apnsToken()
    const res = await putDevice(a, 'iphone-1', { platform: 'apns', token, locale: 'en-GB' })
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ deviceId: 'iphone-1', platform: 'apns', appId: null, locale: 'en-GB' })
    expect((await putDevice(a, 'iphone-1', { platform: 'apns', token, appId: apns.config.topic })).body.appId).toBe(apns.config.topic)
    const list = await api.get('/v1/me/devices', { token: a.accessToken })
    expect(list.body.devices.map((d: any) => d.deviceId)).toEqual(['iphone-1'])

    expectError(await putDevice(a, 'x', { platform: 'apns', token: 'not-hex-at-all' }), 400, 'VALIDATION_FAILED')
    expectError(await putDevice(a, 'x', { platform: 'webpush', token: fcmToken() }), 400, 'VALIDATION_FAILED')
    expectError(await putDevice(a, 'x', { platform: 'fcm' }), 400, 'VALIDATION_FAILED')
    expectError(await putDevice(a, 'bad id!', { platform: 'fcm', token: fcmToken() }), 400, 'VALIDATION_FAILED')
    expectError(await putDevice(a, 'x', { platform: 'webpush', subscription: { endpoint: 'http://insecure.test/x', keys: { p256dh: 'a', auth: 'b' } } }), 400, 'VALIDATION_FAILED')
    // The server POSTs to the endpoint and shows its answer in the deliveries: only known push services (WEBPUSH_ENDPOINT_HOSTS).
    for (const endpoint of ['https://169.254.169.254/latest/meta-data', 'https://internal.corp/x', 'https://user:pw@fcm.googleapis.com/x', 'https://evilfcm.googleapis.com.attacker.test/x']) {
      const refused = await putDevice(a, 'x', { platform: 'webpush', subscription: { endpoint, keys: { p256dh: 'B'.repeat(87), auth: 'a'.repeat(22) } } })
      expectError(refused, 400, 'VALIDATION_FAILED')
      expect(refused.body.message).toContain('WEBPUSH_ENDPOINT_HOSTS')
    }

    expect((await api.del('/v1/me/devices/iphone-1', { token: a.accessToken })).status).toBe(204)
    expectError(await api.del('/v1/me/devices/iphone-1', { token: a.accessToken }), 404, 'NOT_FOUND')
    expectError(await api.get('/v1/me/devices/iphone-1/deliveries', { token: a.accessToken }), 404, 'NOT_FOUND')
  })

  it('keeps at most PUSH_DEVICES_PER_USER (20) devices a user: one more drops the one updated longest ago', async () => {
    const a = await register(api)
    for (let i = 1; i <= 20; i++) expect((await putDevice(a, `phone-${i}`, { platform: 'fcm', token: fcmToken() })).status).toBe(200)
    // phone-1 is used again (its token refreshed): phone-2 is now the one updated longest ago.
    expect((await putDevice(a, 'phone-1', { platform: 'fcm', token: fcmToken() })).status).toBe(200)
    expect((await putDevice(a, 'phone-21', { platform: 'fcm', token: fcmToken() })).status).toBe(200)
    const ids = (await api.get('/v1/me/devices', { token: a.accessToken })).body.devices.map((d: any) => d.deviceId)
    expect(ids).toHaveLength(20)
    expect(ids).toContain('phone-1')
    expect(ids).toContain('phone-21')
    expect(ids).not.toContain('phone-2')
  })

  it('moves a push token to the account that registers it last', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const token = fcmToken()
    await putDevice(a, 'phone', { platform: 'fcm', token })
    await putDevice(b, 'phone', { platform: 'fcm', token })
    expect((await api.get('/v1/me/devices', { token: a.accessToken })).body.devices).toEqual([])
    expect((await api.get('/v1/me/devices', { token: b.accessToken })).body.devices).toHaveLength(1)
  })

  it('removes the devices of a session when it ends: logout, ended session, password change, account deletion', async () => {
    const a = await register(api)
    const second = (await api.post('/v1/auth/login', { username: a.user.username, password: a.password })).body
    const third = (await api.post('/v1/auth/login', { username: a.user.username, password: a.password })).body
    await putDevice(a, 'first', { platform: 'fcm', token: fcmToken() })
    await putDevice({ ...a, accessToken: second.accessToken }, 'second', { platform: 'fcm', token: fcmToken() })
    await putDevice({ ...a, accessToken: third.accessToken }, 'third', { platform: 'fcm', token: fcmToken() })
    const names = async () => (await server.sql('SELECT device_id FROM devices WHERE user_id = $1 ORDER BY device_id', [a.user.id])).map((r) => r.device_id)
    expect(await names()).toEqual(['first', 'second', 'third'])

    expect((await api.post('/v1/auth/logout', { refreshToken: second.refreshToken })).status).toBe(204)
    expect(await names()).toEqual(['first', 'third'])

    const sessions = (await api.get('/v1/me/sessions', { token: a.accessToken })).body.sessions
    const thirdSession = sessions.find((s: any) => !s.current)
    expect((await api.del(`/v1/me/sessions/${thirdSession.id}`, { token: a.accessToken })).status).toBe(204)
    expect(await names()).toEqual(['first'])

    const fourth = (await api.post('/v1/auth/login', { username: a.user.username, password: a.password })).body
    await putDevice({ ...a, accessToken: fourth.accessToken }, 'fourth', { platform: 'fcm', token: fcmToken() })
    expect((await api.post('/v1/me/password', { currentPassword: a.password, newPassword: 'another horse battery' }, { token: a.accessToken })).status).toBe(204)
    expect(await names()).toEqual(['first'])

    expect((await api.request('DELETE', '/v1/me', { body: { password: 'another horse battery' }, token: a.accessToken })).status).toBeLessThan(300)
    expect(await names()).toEqual([])
  })

  it('keeps no device of a session that has ended, even while its access token still passes', async () => {
    const a = await register(api)
    await server.sql('UPDATE sessions SET revoked_at = now() WHERE user_id = $1', [a.user.id])
    expectError(await putDevice(a, 'late', { platform: 'fcm', token: fcmToken() }), 401, 'UNAUTHORIZED')
    expect(await server.sql('SELECT 1 FROM devices WHERE user_id = $1', [a.user.id])).toEqual([])
  })

  it('publishes the push configuration for web pages', async () => {
    const res = await api.get('/v1/push/config')
    expect(res.body).toEqual({ platforms: ['fcm', 'apns', 'webpush'], vapidPublicKey: web.config.publicKey })
  })
})

// Registrations in parallel with each other, with the logout of their session
// and with the deletion of their account: what stays once all have answered.
describe('registrations racing', () => {
  const login = async (a: Account): Promise<Account> => {
    const res = await api.post('/v1/auth/login', { username: a.user.username, password: a.password })
    if (res.status !== 200) throw new Error(`login: ${res.status}`)
    return { ...a, accessToken: res.body.accessToken, refreshToken: res.body.refreshToken }
  }
  const fcmDevice = (who: Account, deviceId: string) => putDevice(who, deviceId, { platform: 'fcm', token: fcmToken() })
  const unexpected = (rs: Response[]) => rs.filter((r) => r.status !== 200 && !(r.status === 401 && r.body?.code === 'UNAUTHORIZED')).map((r) => `${r.status} ${JSON.stringify(r.body)}`)

  it('keeps at most PUSH_DEVICES_PER_USER (20) devices a user when 40 register at once from two sessions', async () => {
    for (let round = 0; round < 2; round++) {
      const a = await register(api)
      const sessions = [a, await login(a)]
      const results = await Promise.all(Array.from({ length: 40 }, (_, i) => fcmDevice(sessions[i % 2]!, `phone-${i}`)))
      expect(results.map((r) => r.status)).toEqual(Array(40).fill(200))
      const [{ n }] = await server.sql('SELECT count(*)::int AS n FROM devices WHERE user_id = $1', [a.user.id])
      expect(n).toBe(20)
      expect((await api.get('/v1/me/devices', { token: a.accessToken })).body.devices).toHaveLength(20)
    }
  })

  it('keeps no device on a session that logout ended while its registrations were under way (each answered 200 or 401)', async () => {
    for (let round = 0; round < 5; round++) {
      const s = await login(await register(api))
      const regs = Array.from({ length: 30 }, async (_, i) => { await sleep(i * 2); return fcmDevice(s, `tab-${i}`) })
      const logout = sleep(25).then(() => api.post('/v1/auth/logout', { refreshToken: s.refreshToken }))
      const [out, ...rs] = await Promise.all([logout, ...regs])
      expect(out.status).toBe(204)
      expect(unexpected(rs)).toEqual([])
      expect(await server.sql('SELECT device_id FROM devices WHERE user_id = $1', [s.user.id])).toEqual([])
    }
  })

  it('answers 401 (never 500) to registrations racing the deletion of the account, and keeps none of its devices', async () => {
    for (let round = 0; round < 4; round++) {
      const a = await register(api)
      const regs = Array.from({ length: 40 }, async (_, i) => { await sleep(i * 20); return fcmDevice(a, `d-${i}`) })
      const [deleted, ...rs] = await Promise.all([api.request('DELETE', '/v1/me', { body: { password: a.password }, token: a.accessToken }), ...regs])
      expect(deleted.status).toBe(204)
      expect(unexpected(rs)).toEqual([])
      expect(await server.sql('SELECT device_id FROM devices WHERE user_id = $1', [a.user.id])).toEqual([])
    }
  })

  it('queues no push for a device left on an ended session: only live sessions are push targets', async () => {
    const [alice, bob] = await Promise.all([register(api), register(api)])
    const old = await login(bob)
    await fcmDevice(bob, 'live')
    await fcmDevice(old, 'stale')
    const [stale] = await server.sql('SELECT * FROM devices WHERE user_id = $1 AND device_id = $2', [bob.user.id, 'stale'])
    expect((await api.post('/v1/auth/logout', { refreshToken: old.refreshToken })).status).toBe(204)
    // What a registration that slipped past the logout would leave behind.
    await server.sql('INSERT INTO devices (user_id, device_id, session_id, platform, token) VALUES ($1, $2, $3, $4, $5)',
      [stale.user_id, stale.device_id, stale.session_id, stale.platform, stale.token])
    const group = await createGroup(api, alice, [bob])
    await post(api, alice, group.id, 'for live sessions only')
    const queued = async () => (await server.sql("SELECT device_id FROM push_deliveries WHERE user_id = $1 AND kind = 'message'", [bob.user.id])).map((r) => r.device_id)
    await expect.poll(queued).toContain('live')
    expect(await queued()).toEqual(['live'])
  })
})

describe('without providers', () => {
  it('answers 503 PUSH_NOT_CONFIGURED for a platform without credentials', async () => {
    const bare = await startServer()
    try {
      const c = client(bare.url)
      const a = await register(c)
      expectError(await c.put('/v1/me/devices/p', { platform: 'fcm', token: fcmToken() }, { token: a.accessToken }), 503, 'PUSH_NOT_CONFIGURED')
      expect((await c.get('/v1/push/config')).body).toEqual({ platforms: [], vapidPublicKey: null })
    } finally {
      await bare.close()
    }
  })
})

describe('push settings', () => {
  const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', ...env }, { dotenv: false })

  it('turn each provider on by its credentials, read from files, and name what is missing', () => {
    const dir = mkdtempSync(join(tmpdir(), 'push-settings-'))
    try {
      expect(load({}).push).toMatchObject({ fcm: undefined, apns: undefined, webpush: undefined, previewChars: 100, whenOnline: false })
      const p8 = join(dir, 'AuthKey.p8')
      writeFileSync(p8, '-----BEGIN PRIVATE KEY-----\nabc\n-----END PRIVATE KEY-----\n')
      const apnsEnv = { APNS_KEY_FILE: p8, APNS_KEY_ID: 'ABC123DEFG', APNS_TEAM_ID: 'TEAM123456', APNS_TOPIC: 'com.example.chat' }
      expect(load(apnsEnv).push.apns).toEqual({ key: readFileSync(p8, 'utf8'), keyId: 'ABC123DEFG', teamId: 'TEAM123456', topic: 'com.example.chat', url: 'https://api.push.apple.com' })
      expect(() => load({ APNS_KEY_FILE: p8 })).toThrow(/APNs needs all of APNS_KEY_FILE, APNS_KEY_ID, APNS_TEAM_ID and APNS_TOPIC/)
      expect(() => load({ ...apnsEnv, APNS_KEY_FILE: join(dir, 'missing.p8') })).toThrow(/APNS_KEY_FILE=.*cannot be read \(ENOENT\)/)
      expect(() => load({ ...apnsEnv, APNS_KEY_ID: 'short' })).toThrow(/APNS_KEY_ID/)

      const account = join(dir, 'service-account.json')
      writeFileSync(account, JSON.stringify({ type: 'service_account', project_id: 'chat-1', client_email: 'a@chat-1.iam.gserviceaccount.com', private_key: 'k', token_uri: 'https://oauth2.googleapis.com/token' }))
      expect(load({ FCM_SERVICE_ACCOUNT_FILE: account }).push.fcm).toEqual({
        serviceAccount: { projectId: 'chat-1', clientEmail: 'a@chat-1.iam.gserviceaccount.com', privateKey: 'k', tokenUri: 'https://oauth2.googleapis.com/token' },
        baseUrl: 'https://fcm.googleapis.com'
      })
      expect(load({ FCM_SERVICE_ACCOUNT_FILE: account, FCM_TOKEN_URI: 'http://127.0.0.1:9/token' }).push.fcm?.serviceAccount.tokenUri).toBe('http://127.0.0.1:9/token')
      writeFileSync(account, '{"project_id": "x"}')
      expect(() => load({ FCM_SERVICE_ACCOUNT_FILE: account })).toThrow(/needs project_id, client_email and private_key/)

      const keys = webpush.generateVAPIDKeys()
      expect(load({ VAPID_PUBLIC_KEY: keys.publicKey, VAPID_PRIVATE_KEY: keys.privateKey, VAPID_SUBJECT: 'mailto:ops@example.com' }).push.webpush)
        .toEqual({ publicKey: keys.publicKey, privateKey: keys.privateKey, subject: 'mailto:ops@example.com' })
      expect(() => load({ VAPID_PUBLIC_KEY: keys.publicKey })).toThrow(/Web Push needs all of VAPID_PUBLIC_KEY, VAPID_PRIVATE_KEY and VAPID_SUBJECT/)
      expect(() => load({ PUSH_POLL_INTERVAL_MS: '100' })).toThrow(/PUSH_POLL_INTERVAL_MS/)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('Web Push endpoint hosts', () => {
  it('are the configured hosts and their subdomains, over https, without credentials', () => {
    const hosts = ['fcm.googleapis.com', 'notify.windows.com']
    expect(webPushEndpointAllowed('https://fcm.googleapis.com/fcm/send/abc', hosts)).toBe(true)
    expect(webPushEndpointAllowed('https://wns2-by3p.notify.windows.com/w/?token=x', hosts)).toBe(true)
    expect(webPushEndpointAllowed('https://FCM.googleapis.com/x', hosts)).toBe(true)
    expect(webPushEndpointAllowed('https://notify.windows.com.attacker.test/x', hosts)).toBe(false)
    expect(webPushEndpointAllowed('https://xnotify.windows.com/x', hosts)).toBe(false)
    expect(webPushEndpointAllowed('http://fcm.googleapis.com/x', hosts)).toBe(false)
    expect(webPushEndpointAllowed('https://a:b@fcm.googleapis.com/x', hosts)).toBe(false)
    expect(webPushEndpointAllowed('not a url', hosts)).toBe(false)
    expect(webPushEndpointAllowed('https://anything.test/x', ['*'])).toBe(true)
  })
})

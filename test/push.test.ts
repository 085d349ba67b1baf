// Device push against local stand-ins of APNs (HTTP/2, TLS, ES256 provider
// tokens), FCM HTTP v1 (OAuth JWT grant, bearer tokens) and a Web Push
// service (VAPID, aes128gcm), each checking what the real one checks and
// answering its real errors. Real server, real HTTP, real PostgreSQL.
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDirect, createGroup, post } from './helpers/chat.js'
import { createClient } from '../src/client/index.js'
import { client, expectError, register, uniqueName, type Account, type Client } from './helpers/http.js'
import { apnsToken, fcmToken, startFakeApns, startFakeFcm, startFakeWebPush, type FakeApns, type FakeFcm, type FakeWebPush, type Received } from './helpers/push-services.js'
import { startServer, testConfig, type TestServer } from './helpers/server.js'
import { connect } from './helpers/ws.js'

async function until<T> (check: () => T | undefined | false | Promise<T | undefined | false>, what: string, timeoutMs = 15_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const value = await check()
    if (value !== undefined && value !== false) return value
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 25))
  }
}

let apns: FakeApns
let fcm: FakeFcm
let web: FakeWebPush
let server: TestServer
let api: Client

beforeAll(async () => {
  [apns, fcm, web] = await Promise.all([startFakeApns(), startFakeFcm(), startFakeWebPush()])
  server = await startServer({
    config: {
      push: {
        ...testConfig().push,
        apns: apns.config,
        fcm: fcm.config,
        webpush: web.config,
        ca: `${apns.ca}\n${web.ca}`,
        pollIntervalMs: 500,
        retryDelayMs: 200,
        retryLimit: 3,
        timeoutMs: 5_000,
        testPerMinute: 2,
        readCoalesceSeconds: 2
      }
    }
  })
  api = client(server.url)
})
afterAll(async () => {
  await server?.close()
  await Promise.all([apns?.close(), fcm?.close(), web?.close()])
})

const putDevice = (who: Account, deviceId: string, body: Record<string, unknown>) => api.put(`/v1/me/devices/${deviceId}`, body, { token: who.accessToken })
const deliveries = async (who: Account, deviceId: string) => (await api.get(`/v1/me/devices/${deviceId}/deliveries`, { token: who.accessToken })).body.deliveries as any[]
const forToken = (list: Received[], token: string) => list.filter((r) => r.token === token)

describe('APNs', () => {
  it('pushes a message with alert, badge (total unread), thread and collapse ids; a read elsewhere sends a silent lower badge', async () => {
    const [alice, bob] = await Promise.all([register(api), register(api)])
    const token = apnsToken()
    await putDevice(bob, 'iphone', { platform: 'apns', token })
    const group = await createGroup(api, alice, [bob], 'Climbing club')
    const direct = await createDirect(api, alice, bob)
    await post(api, alice, direct.id, 'earlier, unread')
    await until(() => forToken(apns.received, token).length === 1, 'the direct message push')
    const message = await post(api, alice, group.id, 'Meet at six?')
    const push = await until(() => forToken(apns.received, token).find((r) => r.payload.seq === String(message.seq) && r.payload.conversationId === group.id), 'the group push')
    expect(push.answered).toBe(200)
    expect(push.headers).toMatchObject({ 'apns-topic': apns.config.topic, 'apns-push-type': 'alert', 'apns-priority': '10', 'apns-collapse-id': group.id.replaceAll('-', '') })
    expect(Number(push.headers['apns-expiration'])).toBeGreaterThan(Date.now() / 1000)
    expect(push.payload).toEqual({
      aps: { alert: { title: 'Climbing club', body: `${alice.user.displayName}: Meet at six?` }, badge: 2, sound: 'default', 'thread-id': group.id },
      type: 'message', badge: '2', conversationId: group.id, seq: String(message.seq), messageId: message.id, senderId: alice.user.id
    })
    const direct1 = forToken(apns.received, token)[0]!
    expect(direct1.payload.aps.alert).toEqual({ title: alice.user.displayName, body: 'earlier, unread' })

    await until(async () => (await deliveries(bob, 'iphone')).filter((d) => d.status === 'accepted').length === 2, 'accepted records')
    const records = await deliveries(bob, 'iphone')
    expect(records[0]).toMatchObject({ provider: 'apns', kind: 'message', conversationId: group.id, seq: message.seq, status: 'accepted', reason: null, attempts: 1 })

    // Bob reads the group elsewhere (the web page): his phone's badge drops to 1, silently.
    expect((await api.post(`/v1/conversations/${group.id}/read`, { seq: message.seq }, { token: bob.accessToken })).status).toBe(204)
    const silent = await until(() => forToken(apns.received, token).find((r) => r.payload.type === 'read'), 'the silent badge update')
    // Apple's background pushes may not carry a badge (and are throttled): an alert push with only the badge, not urgent.
    expect(silent.headers).toMatchObject({ 'apns-push-type': 'alert', 'apns-priority': '5' })
    expect(silent.payload.aps).toEqual({ badge: 1 })
  })

  it('coalesces badge updates of reads: a chat read message by message sends a few, the last with the final badge; none when the badge did not change', async () => {
    const [alice, bob] = await Promise.all([register(api), register(api)])
    const token = apnsToken()
    await putDevice(bob, 'iphone', { platform: 'apns', token })
    const direct = await createDirect(api, alice, bob)
    const messages = []
    for (let i = 0; i < 20; i++) messages.push(await post(api, alice, direct.id, `live ${i}`))
    await until(async () => (await deliveries(bob, 'iphone')).filter((d) => d.kind === 'message' && d.status === 'accepted').length === 20, 'the message pushes')
    const reads = () => forToken(apns.received, token).filter((r) => r.payload.type === 'read')

    // Bob reads on the web as the messages come in: 20 read positions within a slot or two.
    for (const m of messages) expect((await api.post(`/v1/conversations/${direct.id}/read`, { seq: m.seq }, { token: bob.accessToken })).status).toBe(204)
    await until(() => reads().at(-1)?.payload.aps.badge === 0, 'the badge update to 0')
    // Slots are 2 s; 20 reads made in well under one span at most two slots: at most 3 pushes, not 20.
    await new Promise((resolve) => setTimeout(resolve, 2 * 2_000 + 1_000))
    expect(reads().length).toBeGreaterThanOrEqual(1)
    expect(reads().length).toBeLessThanOrEqual(3)
    expect(reads().at(-1)!.payload).toMatchObject({ type: 'read', conversationId: direct.id, seq: String(messages.at(-1)!.seq), badge: '0' })

    // Reading a followed thread elsewhere lowers the badge on the phone too (its replies are in the badge).
    const root = await post(api, bob, direct.id, 'a thread of mine')
    const reply = await post(api, alice, direct.id, 'a reply in it', { threadRootId: root.id })
    await until(() => forToken(apns.received, token).find((r) => r.payload.type === 'message' && r.payload.messageId === reply.id && r.payload.aps.badge === 1), 'the reply push, badge 1')
    expect((await api.post(`/v1/conversations/${direct.id}/messages/${root.id}/thread/read`, { seq: reply.seq }, { token: bob.accessToken })).status).toBe(204)
    await until(() => { const last = forToken(apns.received, token).at(-1); return last?.payload.type === 'read' && last.payload.aps.badge === 0 }, 'the badge update after the thread read')

    // A read that leaves the badge as the phone has it (bob's own message) sends nothing.
    const own = await post(api, bob, direct.id, 'my own')
    const before = reads().length
    expect((await api.post(`/v1/conversations/${direct.id}/read`, { seq: own.seq }, { token: bob.accessToken })).status).toBe(204)
    await new Promise((resolve) => setTimeout(resolve, 2_000 + 1_000))
    expect(reads().length).toBe(before)
  })

  it('a push waiting for its retry is not sent once its message was deleted (its text would be)', async () => {
    const [alice, bob] = await Promise.all([register(api), register(api)])
    const token = apnsToken()
    apns.behaviours.throttle.set(token, { times: 1, retryAfter: '2' })
    await putDevice(bob, 'iphone', { platform: 'apns', token })
    const direct = await createDirect(api, alice, bob)
    const message = await post(api, alice, direct.id, 'sent in haste')
    await until(() => forToken(apns.received, token).length === 1, 'the throttled first attempt')
    expect((await api.del(`/v1/conversations/${direct.id}/messages/${message.id}`, { token: alice.accessToken })).status).toBe(200)
    const record = await until(async () => (await deliveries(bob, 'iphone')).find((d) => d.status === 'failed'), 'the delivery settled')
    expect(record).toMatchObject({ kind: 'message', seq: message.seq, reason: 'message deleted' })
    expect(forToken(apns.received, token).filter((r) => r.answered === 200)).toEqual([])
  })

  it('prunes a device at once on 410 Unregistered and on 400 BadDeviceToken, keeping the reason', async () => {
    const [alice, bob, carol] = await Promise.all([register(api), register(api), register(api)])
    const gone = apnsToken()
    apns.behaviours.gone.add(gone)
    await putDevice(bob, 'old-phone', { platform: 'apns', token: gone })
    await putDevice(carol, 'odd-phone', { platform: 'apns', token: 'ab'.repeat(40) }) // 80 hex characters: the service refuses it
    const group = await createGroup(api, alice, [bob, carol])
    await post(api, alice, group.id, 'hello')
    await until(async () => (await server.sql('SELECT 1 FROM devices WHERE user_id = ANY($1)', [[bob.user.id, carol.user.id]])).length === 0, 'both devices pruned')
    const [bobRecord] = await server.sql("SELECT status, reason FROM push_deliveries WHERE user_id = $1 AND kind = 'message'", [bob.user.id])
    expect(bobRecord).toEqual({ status: 'failed', reason: 'Unregistered (device removed)' })
    const [carolRecord] = await server.sql("SELECT status, reason FROM push_deliveries WHERE user_id = $1 AND kind = 'message'", [carol.user.id])
    expect(carolRecord).toEqual({ status: 'failed', reason: 'BadDeviceToken (device removed)' })
    // Re-registered, the device shows why the last push failed.
    await putDevice(bob, 'old-phone', { platform: 'apns', token: apnsToken() })
    expect((await deliveries(bob, 'old-phone'))[0]).toMatchObject({ status: 'failed', reason: 'Unregistered (device removed)' })
  })

  it('cuts a long preview so the payload stays within 4 KB', async () => {
    const [alice, bob] = await Promise.all([register(api), register(api)])
    const token = apnsToken()
    await putDevice(bob, 'iphone', { platform: 'apns', token })
    const direct = await createDirect(api, alice, bob)
    await post(api, alice, direct.id, '😀'.repeat(3000))
    const push = await until(() => forToken(apns.received, token)[0], 'the push')
    expect(push.answered).toBe(200)
    expect(push.bytes).toBeLessThanOrEqual(4096)
    expect(push.payload.aps.alert.body.endsWith('…')).toBe(true)
  })
})

describe('FCM', () => {
  it('sends the v1 message shape with an OAuth token from the service account, and honours 429 Retry-After', async () => {
    const [alice, bob] = await Promise.all([register(api), register(api)])
    const token = fcmToken()
    fcm.behaviours.throttle.set(token, { times: 1, retryAfter: '1' })
    await putDevice(bob, 'pixel', { platform: 'fcm', token })
    const group = await createGroup(api, alice, [bob], 'Choir')
    const message = await post(api, alice, group.id, 'Rehearsal moved')
    const accepted = await until(() => forToken(fcm.received, token).find((r) => r.answered === 200), 'the accepted FCM push')
    const [first, second] = forToken(fcm.received, token)
    expect(first!.answered).toBe(429)
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(950)
    const tag = group.id.replaceAll('-', '')
    expect(accepted.payload).toMatchObject({
      token,
      notification: { title: 'Choir', body: `${alice.user.displayName}: Rehearsal moved` },
      data: { type: 'message', conversationId: group.id, seq: String(message.seq), messageId: message.id, badge: '1' },
      android: { priority: 'high', collapse_key: tag, notification: { tag, notification_count: 1 } },
      apns: { headers: { 'apns-collapse-id': tag, 'apns-priority': '10', 'apns-push-type': 'alert' }, payload: { aps: { badge: 1, 'thread-id': group.id } } },
      webpush: { headers: { Topic: tag, Urgency: 'high' } }
    })
    expect(fcm.issued.length).toBeGreaterThanOrEqual(1)
    const record = await until(async () => (await deliveries(bob, 'pixel')).find((d) => d.status === 'accepted'), 'the accepted record')
    expect(record).toMatchObject({ attempts: 2, reason: null })
  })

  it('prunes on 404 UNREGISTERED and retries 5xx', async () => {
    const [alice, bob, carol] = await Promise.all([register(api), register(api), register(api)])
    const gone = fcmToken()
    const flaky = fcmToken()
    fcm.behaviours.gone.add(gone)
    fcm.behaviours.unavailable.set(flaky, 2)
    await putDevice(bob, 'pixel', { platform: 'fcm', token: gone })
    await putDevice(carol, 'pixel', { platform: 'fcm', token: flaky })
    const group = await createGroup(api, alice, [bob, carol])
    await post(api, alice, group.id, 'hi')
    await until(async () => (await server.sql('SELECT 1 FROM devices WHERE user_id = $1', [bob.user.id])).length === 0, 'the pruned device')
    await until(() => forToken(fcm.received, flaky).some((r) => r.answered === 200), 'the flaky device accepted')
    expect(forToken(fcm.received, flaky).map((r) => r.answered)).toEqual([503, 503, 200])
    const [record] = await server.sql("SELECT status, reason FROM push_deliveries WHERE user_id = $1 AND kind = 'message'", [bob.user.id])
    expect(record.status).toBe('failed')
    expect(record.reason).toMatch(/^UNREGISTERED/)
  })
})

describe('Web Push', () => {
  it('sends a VAPID-signed, aes128gcm-encrypted payload the subscription keys decrypt; 410 Gone prunes', async () => {
    const [alice, bob, carol] = await Promise.all([register(api), register(api), register(api)])
    const sub = web.subscribe()
    const goneSub = web.subscribe()
    web.behaviours.gone.add(goneSub.id)
    await putDevice(bob, 'browser', { platform: 'webpush', subscription: sub.json })
    await putDevice(carol, 'browser', { platform: 'webpush', subscription: goneSub.json })
    const group = await createGroup(api, alice, [bob, carol], 'Book club')
    const message = await post(api, alice, group.id, 'Chapter 3 tonight')
    const push = await until(() => forToken(web.received, sub.id)[0], 'the web push')
    expect(push.answered).toBe(201)
    expect(push.headers).toMatchObject({ 'content-encoding': 'aes128gcm', urgency: 'high', topic: group.id.replaceAll('-', '') })
    expect(push.payload).toMatchObject({
      type: 'message', title: 'Book club', body: `${alice.user.displayName}: Chapter 3 tonight`, badge: 1,
      conversationId: group.id, seq: String(message.seq), tag: group.id.replaceAll('-', '')
    })
    await until(async () => (await server.sql('SELECT 1 FROM devices WHERE user_id = $1', [carol.user.id])).length === 0, 'the unsubscribed browser pruned')
  })
})

describe('who gets pushes', () => {
  it('nobody with a live socket, nobody who blocked the sender, no suspended user; the sender never', async () => {
    const [alice, online, blocker, suspended, offline] = await Promise.all([register(api), register(api), register(api), register(api), register(api)])
    const tokens = new Map<Account, string>([[alice, fcmToken()], [online, fcmToken()], [blocker, fcmToken()], [suspended, fcmToken()], [offline, fcmToken()]])
    for (const [who, token] of tokens) await putDevice(who, 'phone', { platform: 'fcm', token })
    const group = await createGroup(api, alice, [online, blocker, suspended, offline])
    expect((await api.put(`/v1/me/blocks/${alice.user.id}`, undefined, { token: blocker.accessToken })).status).toBeLessThan(300)
    await server.sql('UPDATE users SET suspended_at = now() WHERE id = $1', [suspended.user.id])
    const sock = await connect(server.url, online.accessToken)
    await sock.next((f) => f.type === 'ready')
    await post(api, alice, group.id, 'who hears this?')
    await until(() => forToken(fcm.received, tokens.get(offline)!).length === 1, 'the offline member push')
    // Its batch is settled; the others were never queued.
    const queued = await server.sql("SELECT user_id FROM push_deliveries WHERE conversation_id = $1 AND kind = 'message'", [group.id])
    expect(queued.map((r) => r.user_id)).toEqual([offline.user.id])
    await sock.close()
  })

  it('one slow provider does not hold up the others', async () => {
    const [alice, bob, carol] = await Promise.all([register(api), register(api), register(api)])
    const slow = apnsToken()
    apns.behaviours.slow.set(slow, 3_000)
    const quick = fcmToken()
    await putDevice(bob, 'iphone', { platform: 'apns', token: slow })
    await putDevice(carol, 'pixel', { platform: 'fcm', token: quick })
    const group = await createGroup(api, alice, [bob, carol])
    const sent = Date.now()
    await post(api, alice, group.id, 'race')
    const fast = await until(() => forToken(fcm.received, quick)[0], 'the FCM push')
    expect(forToken(apns.received, slow)).toHaveLength(0)
    expect(fast.at - sent).toBeLessThan(2_500)
    await until(() => forToken(apns.received, slow)[0], 'the slow APNs push')
  })
})

describe('SDK', () => {
  it('registers, lists, tests and removes a device, and reads its deliveries', async () => {
    const sdk = createClient({ baseUrl: server.url })
    await sdk.auth.register({ username: uniqueName('sdk'), password: 'correct horse battery' })
    expect((await sdk.devices.pushConfig()).platforms).toEqual(['fcm', 'apns', 'webpush'])
    const token = fcmToken()
    expect(await sdk.devices.register('pixel', { platform: 'fcm', token, locale: 'de-DE' })).toMatchObject({ deviceId: 'pixel', platform: 'fcm', locale: 'de-DE' })
    expect((await sdk.devices.list()).devices.map((d) => d.deviceId)).toEqual(['pixel'])
    const { deliveryId } = await sdk.devices.test('pixel')
    const record = await until(async () => (await sdk.devices.deliveries('pixel')).deliveries.find((d) => d.id === deliveryId && d.status === 'accepted'), 'the accepted test push')
    expect(record).toMatchObject({ kind: 'test', provider: 'fcm' })
    expect(forToken(fcm.received, token)[0]?.payload.notification.title).toBe('Switchboard')
    await sdk.devices.remove('pixel')
    expect((await sdk.devices.list()).devices).toEqual([])
    await sdk.logout()
  })
})

describe('a hostile Web Push endpoint (any https URL a user registers)', () => {
  it('answering an endless body: 4 KiB of it are read, the push settles, the server goes on', async () => {
    const bob = await register(api)
    const sub = web.subscribe()
    web.behaviours.hostile.set(sub.id, 'endless')
    await putDevice(bob, 'evil', { platform: 'webpush', subscription: sub.json })
    const res = await api.post('/v1/me/devices/evil/test', undefined, { token: bob.accessToken })
    expect(res.status).toBe(202)
    // The web-push library read it whole into one string: the process died past ~512 MiB.
    const record = await until(async () => (await deliveries(bob, 'evil')).find((d) => d.id === res.body.deliveryId && d.status === 'accepted'), 'the settled push')
    expect(record).toMatchObject({ provider: 'webpush' })
    await until(() => (web.behaviours.closed.get(sub.id) ?? 0) > 0 ? true : undefined, 'the answer dropped')
    expect((await api.get('/v1/me', { token: bob.accessToken })).status).toBe(200)
  })

  it('dripping its answer: the push gives up at PUSH_TIMEOUT_MS, whatever keeps arriving', async () => {
    const bob = await register(api)
    const sub = web.subscribe()
    web.behaviours.hostile.set(sub.id, 'drip')
    await putDevice(bob, 'slow', { platform: 'webpush', subscription: sub.json })
    const res = await api.post('/v1/me/devices/slow/test', undefined, { token: bob.accessToken })
    const record = await until(async () => (await deliveries(bob, 'slow')).find((d) => d.id === res.body.deliveryId && /no answer within 5000 ms/.test(d.reason ?? '')), 'the timed-out push')
    expect(record.status).not.toBe('accepted')
    // An idle timeout alone never fired: a byte came every 200 ms.
    expect(web.behaviours.closed.get(sub.id) ?? 0).toBeGreaterThan(0)
  }, 60_000)
})

describe('test pushes and metrics', () => {
  it('sends a test push, traceable in deliveries, rate-limited per user', async () => {
    const bob = await register(api)
    const sub = web.subscribe()
    await putDevice(bob, 'browser', { platform: 'webpush', subscription: sub.json })
    const res = await api.post('/v1/me/devices/browser/test', undefined, { token: bob.accessToken })
    expect(res.status).toBe(202)
    const push = await until(() => forToken(web.received, sub.id)[0], 'the test push')
    expect(push.payload).toMatchObject({ type: 'test', title: 'Switchboard', badge: 0 })
    const record = await until(async () => (await deliveries(bob, 'browser')).find((d) => d.id === res.body.deliveryId && d.status === 'accepted'), 'the accepted test')
    expect(record).toMatchObject({ kind: 'test', provider: 'webpush', reason: null })
    expect(record.attempts).toBeGreaterThanOrEqual(1) // a kept-alive socket the service closed meanwhile costs a retry on a loaded machine
    expect((await api.post('/v1/me/devices/browser/test', undefined, { token: bob.accessToken })).status).toBe(202)
    expectError(await api.post('/v1/me/devices/browser/test', undefined, { token: bob.accessToken }), 429, 'RATE_LIMITED')
    expectError(await api.post('/v1/me/devices/nothing/test', undefined, { token: (await register(api)).accessToken }), 404, 'NOT_FOUND')

    const metrics = (await api.get('/metrics')).body as string
    expect(metrics).toMatch(/push_device_deliveries_total\{provider="webpush",outcome="accepted"\} [1-9]/)
    expect(metrics).toMatch(/push_device_deliveries_total\{provider="apns",outcome="invalid"\} [1-9]/)
    expect(metrics).toMatch(/push_provider_request_seconds_count\{provider="fcm"\} [1-9]/)
  })
})

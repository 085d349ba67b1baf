// Local stand-ins for the push services, started by the tests. Each checks
// what the real service checks (auth signatures against the test key pair,
// headers, payload shape and size) and answers the real error forms. Tokens
// (or endpoint ids) choose the answer: see `behaviours`.
import { createECDH, generateKeyPairSync, randomBytes, randomUUID, type ECDH } from 'node:crypto'
import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2'
import { createServer as createHttpsServer } from 'node:https'
import { createRequire } from 'node:module'
import { decodeProtectedHeader, importJWK, importSPKI, jwtVerify } from 'jose'
import { generate } from 'selfsigned'
import webpush from 'web-push'

const require = createRequire(import.meta.url)
const ece = require('http_ece') as { decrypt (buffer: Buffer, params: { version: string, privateKey: ECDH, authSecret: Buffer }): Buffer }

/**
 * A self-signed certificate for 127.0.0.1; `cert` doubles as the CA the
 * client trusts. Each service names its own: OpenSSL finds a trusted
 * certificate by subject, so two with one name would shadow each other.
 */
export async function loopbackCertificate (name: string): Promise<{ key: string, cert: string }> {
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'ec',
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] }]
  })
  return { key: pems.private, cert: pems.cert }
}

/** How a token behaves: by its prefix in FCM and Web Push; APNs tokens are hex, so by a registered set. */
export interface Behaviours {
  /** Answer "unregistered" (APNs 410 Unregistered, FCM 404 UNREGISTERED, Web Push 410 Gone). */
  gone: Set<string>
  /** Answer 429 with Retry-After this many times, then accept. */
  throttle: Map<string, { times: number, retryAfter: string }>
  /** Answer 503 this many times, then accept. */
  unavailable: Map<string, number>
  /** Delay the answer by this many ms. */
  slow: Map<string, number>
  /** Hold the first request until `release` settles, setting `arrived` (a test acts while a push is in flight). */
  hold: Map<string, { arrived: boolean, release: Promise<unknown> }>
  /**
   * Web Push only, as a hostile endpoint a user registered: 201 and a body that never ends, either as fast as it
   * is read (`endless`) or a byte every 200 ms (`drip`). `closed` counts the answers the client stopped reading.
   */
  hostile: Map<string, 'endless' | 'drip'>
  closed: Map<string, number>
}

const behaviours = (): Behaviours => ({ gone: new Set(), throttle: new Map(), unavailable: new Map(), slow: new Map(), hold: new Map(), hostile: new Map(), closed: new Map() })

/** What a fake service received: the decoded payload and headers, with what it answered. */
export interface Received { at: number, token: string, headers: Record<string, string>, payload: any, bytes: number, answered: number }

const wait = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

function readBody (req: IncomingMessage | Http2ServerRequest): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks)))
    req.on('error', reject)
  })
}

function flatHeaders (h: Record<string, string | string[] | undefined>): Record<string, string> {
  return Object.fromEntries(Object.entries(h).filter(([, v]) => v !== undefined).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : v!]))
}

/** Decides the scripted answer of a token, or undefined to go on with the normal checks. */
async function scripted (b: Behaviours, token: string): Promise<'gone' | { status: number, retryAfter?: string } | undefined> {
  const hold = b.hold.get(token)
  if (hold !== undefined && !hold.arrived) {
    hold.arrived = true
    await hold.release
  }
  const slow = b.slow.get(token)
  if (slow !== undefined) await wait(slow)
  if (b.gone.has(token)) return 'gone'
  const t = b.throttle.get(token)
  if (t !== undefined && t.times > 0) {
    t.times--
    return { status: 429, retryAfter: t.retryAfter }
  }
  const u = b.unavailable.get(token)
  if (u !== undefined && u > 0) {
    b.unavailable.set(token, u - 1)
    return { status: 503 }
  }
  return undefined
}

// ---------------------------------------------------------------- APNs

export interface FakeApns {
  url: string
  ca: string
  config: { key: string, keyId: string, teamId: string, topic: string, url: string }
  received: Received[]
  behaviours: Behaviours
  close (): Promise<void>
}

/** APNs: HTTP/2 over TLS, provider JWT (ES256, kid, iss) checked against the key pair, the apns-* headers, 4 KB payloads. */
export async function startFakeApns (): Promise<FakeApns> {
  const { cert, key: tlsKey } = await loopbackCertificate('apns.switchboard.test')
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' })
  const keyId = 'ABC123DEFG'
  const teamId = 'TEAM123456'
  const topic = 'com.example.switchboard'
  const received: Received[] = []
  const b = behaviours()
  const server = createSecureServer({ key: tlsKey, cert, allowHTTP1: false })
  server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
    void (async () => {
      const body = await readBody(req)
      const headers = flatHeaders(req.headers)
      const token = decodeURIComponent(/^\/3\/device\/(.+)$/.exec(req.url)?.[1] ?? '')
      const answer = (status: number, reason?: string, extra: Record<string, string> = {}) => {
        let payload: any
        try { payload = JSON.parse(body.toString('utf8')) } catch { payload = undefined }
        received.push({ at: Date.now(), token, headers, payload, bytes: body.length, answered: status })
        res.writeHead(status, { 'apns-id': headers['apns-id'] ?? randomUUID(), ...(reason === undefined ? {} : { 'content-type': 'application/json' }), ...extra })
        if (reason === undefined) res.end()
        else res.end(JSON.stringify(status === 410 ? { reason, timestamp: Date.now() } : { reason }))
      }
      if (req.method !== 'POST') return answer(405, 'MethodNotAllowed')
      const auth = /^bearer (.+)$/.exec(headers.authorization ?? '')?.[1]
      if (auth === undefined) return answer(403, 'MissingProviderToken')
      try {
        const header = decodeProtectedHeader(auth)
        if (header.alg !== 'ES256' || header.kid !== keyId) return answer(403, 'InvalidProviderToken')
        const { payload } = await jwtVerify(auth, publicKey, { issuer: teamId, algorithms: ['ES256'] })
        if (typeof payload.iat !== 'number' || Math.abs(Date.now() / 1000 - payload.iat) > 3600) return answer(403, 'ExpiredProviderToken')
      } catch {
        return answer(403, 'InvalidProviderToken')
      }
      if (!/^[0-9a-f]{64}$/i.test(token)) return answer(400, 'BadDeviceToken')
      if (headers['apns-topic'] !== topic) return answer(400, headers['apns-topic'] === undefined ? 'MissingTopic' : 'DeviceTokenNotForTopic')
      const pushType = headers['apns-push-type']
      if (pushType !== 'alert' && pushType !== 'background') return answer(400, 'InvalidPushType')
      const priority = headers['apns-priority']
      if (priority !== '10' && priority !== '5') return answer(400, 'BadPriority')
      if (pushType === 'background' && priority !== '5') return answer(400, 'BadPriority')
      if (headers['apns-expiration'] !== undefined && !/^\d+$/.test(headers['apns-expiration'])) return answer(400, 'BadExpirationDate')
      if (headers['apns-collapse-id'] !== undefined && Buffer.byteLength(headers['apns-collapse-id']) > 64) return answer(400, 'BadCollapseId')
      if (headers['apns-id'] !== undefined && !/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(headers['apns-id'])) return answer(400, 'BadMessageId')
      if (body.length > 4096) return answer(413, 'PayloadTooLarge')
      let json: any
      try { json = JSON.parse(body.toString('utf8')) } catch { return answer(400, 'BadPayload') }
      if (typeof json?.aps !== 'object') return answer(400, 'PayloadEmpty')
      const s = await scripted(b, token)
      if (s === 'gone') return answer(410, 'Unregistered')
      if (s !== undefined) return answer(s.status, s.status === 429 ? 'TooManyRequests' : 'ServiceUnavailable', s.retryAfter === undefined ? {} : { 'retry-after': s.retryAfter })
      return answer(200)
    })().catch((err: unknown) => { res.writeHead(500); res.end(String(err)) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const url = `https://127.0.0.1:${(server.address() as { port: number }).port}`
  return {
    url,
    ca: cert,
    config: { key: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, keyId, teamId, topic, url },
    received,
    behaviours: b,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

// ---------------------------------------------------------------- FCM

export interface FakeFcm {
  config: { serviceAccount: { projectId: string, clientEmail: string, privateKey: string, tokenUri: string }, baseUrl: string }
  received: Received[]
  /** Access tokens the token endpoint issued. */
  issued: string[]
  behaviours: Behaviours
  close (): Promise<void>
}

/** FCM HTTP v1 with its OAuth token endpoint: the JWT grant checked against the service-account key, bearer tokens, message shape, 4,000 bytes. */
export async function startFakeFcm (): Promise<FakeFcm> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 })
  const projectId = 'switchboard-test'
  const clientEmail = 'push@switchboard-test.iam.gserviceaccount.com'
  const received: Received[] = []
  const issued: string[] = []
  const b = behaviours()
  const spki = await importSPKI(publicKey.export({ type: 'spki', format: 'pem' }) as string, 'RS256')
  const json = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    res.writeHead(status, { 'content-type': 'application/json', ...headers })
    res.end(JSON.stringify(body))
  }
  const fcmError = (code: number, status: string, message: string, errorCode?: string) => ({
    error: { code, status, message, details: errorCode === undefined ? [] : [{ '@type': 'type.googleapis.com/google.firebase.fcm.v1.FcmError', errorCode }] }
  })
  const server = createHttpServer((req, res) => {
    void (async () => {
      const body = await readBody(req)
      if (req.method === 'POST' && req.url === '/token') {
        const form = new URLSearchParams(body.toString('utf8'))
        if (form.get('grant_type') !== 'urn:ietf:params:oauth:grant-type:jwt-bearer') return json(res, 400, { error: 'unsupported_grant_type' })
        try {
          const { payload } = await jwtVerify(form.get('assertion') ?? '', spki, { issuer: clientEmail, audience: 'https://oauth2.googleapis.com/token', algorithms: ['RS256'] })
          if (!String(payload.scope).split(' ').includes('https://www.googleapis.com/auth/firebase.messaging')) return json(res, 400, { error: 'invalid_scope' })
        } catch (err) {
          return json(res, 400, { error: 'invalid_grant', error_description: (err as Error).message })
        }
        const token = `ya29.${randomBytes(16).toString('hex')}`
        issued.push(token)
        return json(res, 200, { access_token: token, expires_in: 3599, token_type: 'Bearer' })
      }
      if (req.method !== 'POST' || req.url !== `/v1/projects/${projectId}/messages:send`) return json(res, 404, fcmError(404, 'NOT_FOUND', 'no such method'))
      const headers = flatHeaders(req.headers)
      let message: any
      try { message = JSON.parse(body.toString('utf8')).message } catch { /* checked below */ }
      const token = String(message?.token ?? '')
      const answer = (status: number, payload: unknown, extra: Record<string, string> = {}) => {
        received.push({ at: Date.now(), token, headers, payload: message, bytes: body.length, answered: status })
        json(res, status, payload, extra)
      }
      const bearer = /^Bearer (.+)$/.exec(headers.authorization ?? '')?.[1]
      if (bearer === undefined || !issued.includes(bearer)) return answer(401, fcmError(401, 'UNAUTHENTICATED', 'Request had invalid authentication credentials.'))
      if (typeof message !== 'object' || message === null || token === '') return answer(400, fcmError(400, 'INVALID_ARGUMENT', 'Invalid JSON payload received.', 'INVALID_ARGUMENT'))
      if (body.length > 4000) return answer(400, fcmError(400, 'INVALID_ARGUMENT', 'Message is too big', 'INVALID_ARGUMENT'))
      if (message.data !== undefined && Object.values(message.data).some((v) => typeof v !== 'string')) {
        return answer(400, fcmError(400, 'INVALID_ARGUMENT', 'Invalid value at message.data: strings only', 'INVALID_ARGUMENT'))
      }
      const apnsHeaders = message.apns?.headers ?? {}
      if (Object.values(apnsHeaders).some((v) => typeof v !== 'string')) return answer(400, fcmError(400, 'INVALID_ARGUMENT', 'apns.headers take strings', 'INVALID_ARGUMENT'))
      if (message.android?.ttl !== undefined && !/^\d+(\.\d+)?s$/.test(message.android.ttl)) return answer(400, fcmError(400, 'INVALID_ARGUMENT', 'Invalid android.ttl', 'INVALID_ARGUMENT'))
      if (!/^[A-Za-z0-9:_-]+$/.test(token)) return answer(400, fcmError(400, 'INVALID_ARGUMENT', 'The registration token is not a valid FCM registration token', 'INVALID_ARGUMENT'))
      const s = await scripted(b, token)
      if (s === 'gone') return answer(404, fcmError(404, 'NOT_FOUND', 'Requested entity was not found.', 'UNREGISTERED'))
      if (s !== undefined && s.status === 429) return answer(429, fcmError(429, 'RESOURCE_EXHAUSTED', 'Quota exceeded', 'QUOTA_EXCEEDED'), s.retryAfter === undefined ? {} : { 'retry-after': s.retryAfter })
      if (s !== undefined) return answer(s.status, fcmError(s.status, 'UNAVAILABLE', 'The service is unavailable', 'UNAVAILABLE'))
      return answer(200, { name: `projects/${projectId}/messages/${randomUUID()}` })
    })().catch((err: unknown) => { res.writeHead(500); res.end(String(err)) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const base = `http://127.0.0.1:${(server.address() as { port: number }).port}`
  return {
    config: {
      serviceAccount: { projectId, clientEmail, privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string, tokenUri: `${base}/token` },
      baseUrl: base
    },
    received,
    issued,
    behaviours: b,
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

// ---------------------------------------------------------------- Web Push

export interface BrowserSubscription {
  /** What the page sends: PushSubscription.toJSON(). */
  json: { endpoint: string, keys: { p256dh: string, auth: string } }
  /** The endpoint's last path segment, the key of `behaviours`. */
  id: string
}

export interface FakeWebPush {
  ca: string
  config: { publicKey: string, privateKey: string, subject: string }
  received: Received[]
  behaviours: Behaviours
  /** A subscription as a browser makes one: its own P-256 key pair and auth secret, kept to decrypt what arrives. */
  subscribe (): BrowserSubscription
  close (): Promise<void>
}

/** A push service: VAPID JWT (aud, exp, sub) checked against the `k` key, aes128gcm payloads decrypted with the subscription keys. */
export async function startFakeWebPush (): Promise<FakeWebPush> {
  const { cert, key } = await loopbackCertificate('webpush.switchboard.test')
  const vapid = webpush.generateVAPIDKeys()
  const subject = 'mailto:push@switchboard.test'
  const received: Received[] = []
  const b = behaviours()
  const subscriptions = new Map<string, { ecdh: ECDH, auth: Buffer }>()
  let origin = ''
  const server = createHttpsServer({ key, cert }, (req, res) => {
    void (async () => {
      const body = await readBody(req)
      const headers = flatHeaders(req.headers)
      const id = /^\/push\/([A-Za-z0-9_-]+)$/.exec(req.url ?? '')?.[1] ?? ''
      let payload: any
      const answer = (status: number, text = '', extra: Record<string, string> = {}) => {
        received.push({ at: Date.now(), token: id, headers, payload, bytes: body.length, answered: status })
        res.writeHead(status, { 'content-type': 'text/plain', ...extra })
        res.end(text)
      }
      const sub = subscriptions.get(id)
      if (req.method !== 'POST' || sub === undefined) return answer(404, 'no such subscription')
      const auth = /^vapid t=([^,]+),\s*k=(.+)$/.exec(headers.authorization ?? '')
      if (auth === null) return answer(401, 'missing VAPID authorization')
      const [, jwt, k] = auth
      if (k !== vapid.publicKey) return answer(403, 'VAPID key does not match the subscription')
      try {
        const point = Buffer.from(k!, 'base64url')
        const jwk = { kty: 'EC', crv: 'P-256', x: point.subarray(1, 33).toString('base64url'), y: point.subarray(33, 65).toString('base64url') }
        const { payload: claims } = await jwtVerify(jwt!, await importJWK(jwk, 'ES256'), { audience: origin, algorithms: ['ES256'] })
        if (typeof claims.exp !== 'number' || claims.exp > Date.now() / 1000 + 24 * 3600) return answer(403, 'VAPID exp more than 24 h ahead')
        if (claims.sub !== subject) return answer(403, 'VAPID sub missing')
      } catch (err) {
        return answer(403, `bad VAPID JWT: ${(err as Error).message}`)
      }
      if (!/^\d+$/.test(headers.ttl ?? '')) return answer(400, 'TTL header required')
      if (headers.urgency !== undefined && !['very-low', 'low', 'normal', 'high'].includes(headers.urgency)) return answer(400, 'bad Urgency')
      if (headers.topic !== undefined && !/^[A-Za-z0-9_-]{1,32}$/.test(headers.topic)) return answer(400, 'bad Topic')
      if (body.length > 4096) return answer(413, 'payload too large')
      if (body.length > 0) {
        if (headers['content-encoding'] !== 'aes128gcm') return answer(415, 'aes128gcm only')
        try {
          payload = JSON.parse(ece.decrypt(body, { version: 'aes128gcm', privateKey: sub.ecdh, authSecret: sub.auth }).toString('utf8'))
        } catch (err) {
          return answer(400, `cannot decrypt: ${(err as Error).message}`)
        }
      }
      const hostile = b.hostile.get(id)
      if (hostile !== undefined) {
        received.push({ at: Date.now(), token: id, headers, payload, bytes: body.length, answered: 201 })
        res.writeHead(201, { 'content-type': 'text/plain' })
        const chunk = Buffer.alloc(hostile === 'endless' ? 64 * 1024 : 1, 'x')
        const timer = setInterval(() => { if (!res.destroyed) res.write(chunk) }, hostile === 'endless' ? 1 : 200)
        res.on('close', () => {
          clearInterval(timer)
          b.closed.set(id, (b.closed.get(id) ?? 0) + 1)
        })
        return
      }
      const s = await scripted(b, id)
      if (s === 'gone') return answer(410, 'push subscription has unsubscribed or expired')
      if (s !== undefined) return answer(s.status, '', s.retryAfter === undefined ? {} : { 'retry-after': s.retryAfter })
      return answer(201, '', { location: `${origin}/message/${randomUUID()}` })
    })().catch((err: unknown) => { res.writeHead(500); res.end(String(err)) })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  origin = `https://127.0.0.1:${(server.address() as { port: number }).port}`
  return {
    ca: cert,
    config: { publicKey: vapid.publicKey, privateKey: vapid.privateKey, subject },
    received,
    behaviours: b,
    subscribe () {
      const ecdh = createECDH('prime256v1')
      ecdh.generateKeys()
      const auth = randomBytes(16)
      const id = randomBytes(12).toString('base64url')
      subscriptions.set(id, { ecdh, auth })
      return { id, json: { endpoint: `${origin}/push/${id}`, keys: { p256dh: ecdh.getPublicKey().toString('base64url'), auth: auth.toString('base64url') } } }
    },
    close: () => new Promise<void>((resolve) => { server.closeAllConnections(); server.close(() => resolve()) })
  }
}

/** An APNs-style device token: 64 hex characters. */
export const apnsToken = () => randomBytes(32).toString('hex')
/** An FCM-style registration token. */
export const fcmToken = (prefix = 'fcm') => `${prefix}:${randomBytes(48).toString('base64url')}`


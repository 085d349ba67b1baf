// Attachments end to end over real HTTP, against both storage drivers: local
// (files under a temporary DATA_DIR, served by the app) and s3 (a real
// S3-compatible server, s3rver, started here on loopback).
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createClient } from '../src/client/index.js'
import type { AppConfig } from '../src/config.js'
import { createGroup, post, replay } from './helpers/chat.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'
import { connectReady, type TestSocket } from './helpers/ws.js'

const TTL_SECONDS = 2
const LIMITS: Partial<AppConfig> = {
  downloadUrlTtlSeconds: TTL_SECONDS,
  uploadMaxImageBytes: 5_000_000,
  uploadMaxFileBytes: 2_500_000,
  uploadQuotaBytes: 3_000_000,
  uploadRateLimitPerMinute: 12
}

/** A JPEG with EXIF including GPS, as phones write them. */
async function photo (width = 64, height = 48): Promise<Buffer> {
  return sharp({ create: { width, height, channels: 3, background: { r: 200, g: 40, b: 90 } } })
    .jpeg()
    .withExif({ IFD0: { Copyright: 'Someone', Make: 'PhoneCo' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1', GPSLongitudeRef: 'W', GPSLongitude: '0/1 7/1 0/1' } })
    .toBuffer()
}

/**
 * A JPEG that grows once its metadata is stripped: noise saved at quality 30, with EXIF. Stripping re-encodes
 * it (at quality 90), which takes about 1.7 times its bytes.
 */
async function grower (width = 300, height = 200): Promise<Buffer> {
  return sharp(randomBytes(width * height * 3), { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 30 }).withExif({ IFD0: { Make: 'PhoneCo' } }).toBuffer()
}

async function until (check: () => Promise<boolean>, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 50))
  }
}

interface Driver { name: 'local' | 's3', start (): Promise<{ config: Partial<AppConfig>, stop (): Promise<void> }> }

const drivers: Driver[] = [
  {
    name: 'local',
    async start () {
      // The files in a folder of their own (STORAGE_LOCAL_DIR), not under DATA_DIR: the other tests of the driver keep the default.
      const dir = await mkdtemp(join(tmpdir(), 'sb-att-'))
      const files = await mkdtemp(join(tmpdir(), 'sb-att-files-'))
      return {
        config: { storageDriver: 'local', dataDir: dir, storageLocalDir: files },
        async stop () {
          await rm(dir, { recursive: true, force: true })
          await rm(files, { recursive: true, force: true })
        }
      }
    }
  },
  {
    name: 's3',
    async start () {
      const dir = await mkdtemp(join(tmpdir(), 'sb-s3-'))
      const s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: 'switchboard-test', configs: [] }] })
      const { port } = await s3.run()
      return {
        config: {
          storageDriver: 's3', s3Bucket: 'switchboard-test', s3Endpoint: `http://127.0.0.1:${port}`, s3ForcePathStyle: true,
          s3AccessKeyId: 'S3RVER', s3SecretAccessKey: 'S3RVER', dataDir: dir
        },
        async stop () {
          await s3.close()
          await rm(dir, { recursive: true, force: true })
        }
      }
    }
  }
]

describe.each(drivers)('attachments with the $name driver', (driver) => {
  let server: TestServer
  let api: Client
  let stop: () => Promise<void>
  const sockets: TestSocket[] = []

  beforeAll(async () => {
    const started = await driver.start()
    stop = started.stop
    server = await startServer({ config: { ...LIMITS, ...started.config } })
    api = client(server.url)
  })

  afterAll(async () => {
    for (const s of sockets) await s.close()
    await server?.close()
    await stop?.()
  })

  const as = (who: Account) => ({ token: who.accessToken })
  const users = (n: number) => registerMany(api, n)
  const abs = (url: string) => new URL(url, server.url).toString()
  const stored = (key: string) => server.app.storage.size(key)
  /** The keys an upload's files are stored under now (a pending one's bytes are at its incoming key). */
  const filesOf = async (id: string): Promise<string[]> => {
    const [row] = await server.sql('SELECT storage_key, thumbnail_key FROM uploads WHERE id = $1', [id])
    return [row.storage_key, `uploads/${id}/incoming`, ...(row.thumbnail_key === null ? [] : [row.thumbnail_key])]
  }
  const allGone = async (keys: string[]) => (await Promise.all(keys.map(stored))).every((size) => size === null)

  async function start (who: Account, conversationId: string | null, bytes: Buffer, filename: string, contentType: string, size = bytes.length) {
    const res = await api.post('/v1/uploads', { conversationId, filename, contentType, size }, as(who))
    if (res.status !== 201) throw new Error(`create upload: ${res.status} ${JSON.stringify(res.body)}`)
    return res.body
  }

  async function send (created: any, bytes: Buffer) {
    return fetch(abs(created.uploadUrl), { method: created.method, headers: created.headers, body: bytes })
  }

  async function upload (who: Account, conversationId: string | null, bytes: Buffer, filename = 'photo.jpg', contentType = 'image/jpeg') {
    const created = await start(who, conversationId, bytes, filename, contentType)
    const put = await send(created, bytes)
    expect(put.ok).toBe(true)
    const done = await api.post(`/v1/uploads/${created.upload.id}/complete`, undefined, as(who))
    if (done.status !== 200) throw new Error(`complete: ${done.status} ${JSON.stringify(done.body)}`)
    return done.body
  }

  async function setup () {
    const [a, b, c] = await users(3)
    const group = await createGroup(api, a, [b])
    return { a, b, c, group }
  }

  it('uploads a photo: dimensions, thumbnail, placeholder, metadata stripped; posted, pushed, in history and replay', async () => {
    const { a, b, group } = await setup()
    const socket = await connectReady(server.url, b.accessToken, sockets)
    const bytes = await photo(64, 48)
    expect((await sharp(bytes).metadata()).exif).toBeDefined()
    const done = await upload(a, group.id, bytes)
    expect(done).toMatchObject({ state: 'ready', kind: 'image', contentType: 'image/jpeg', width: 64, height: 48, filename: 'photo.jpg', placeholder: expect.any(String) })

    const message = await post(api, a, group.id, 'look', { attachments: [done.id] })
    expect(message.attachments).toEqual([{
      id: done.id, kind: 'image', contentType: 'image/jpeg', size: done.size, filename: 'photo.jpg', width: 64, height: 48,
      placeholder: done.placeholder, url: `/v1/attachments/${done.id}/content`, thumbnailUrl: `/v1/attachments/${done.id}/thumbnail`
    }])
    const pushed = await socket.next((f) => f.type === 'message.created' && f.data.id === message.id)
    expect(pushed.data).toEqual(message)
    const history = await api.get(`/v1/conversations/${group.id}/messages`, as(b))
    expect(history.body.messages[0]).toEqual(message)
    expect((await replay(api, b, group.id)).find((e) => e.type === 'message.created').data).toEqual(message)
    expect((await api.get(`/v1/conversations/${group.id}`, as(b))).body.lastMessage).toEqual(message)

    // A member downloads it through a signed URL: no metadata left, same pixels.
    const urls = await api.get(`/v1/attachments/${done.id}`, as(b))
    expect(urls.status).toBe(200)
    const file = await fetch(abs(urls.body.url))
    expect(file.status).toBe(200)
    expect(file.headers.get('content-type')).toBe('image/jpeg')
    const got = Buffer.from(await file.arrayBuffer())
    expect(got.length).toBe(done.size)
    const meta = await sharp(got).metadata()
    expect([meta.width, meta.height, meta.exif]).toEqual([64, 48, undefined])
    const thumb = await fetch(abs(urls.body.thumbnailUrl))
    expect(thumb.status).toBe(200)
    expect((await sharp(Buffer.from(await thumb.arrayBuffer())).metadata()).format).toBe('webp')

    // The message's url answers 302 to a signed URL.
    const redirect = await fetch(abs(message.attachments[0].url), { headers: { authorization: `Bearer ${b.accessToken}` }, redirect: 'manual' })
    expect(redirect.status).toBe(302)
    expect((await fetch(abs(redirect.headers.get('location')!))).status).toBe(200)
    const asJson = await api.get(`${message.attachments[0].url}?redirect=false`, as(b))
    expect(asJson.body).toEqual({ url: expect.any(String), expiresAt: expect.any(String) })
    expect((await fetch(abs(asJson.body.url))).status).toBe(200)
  })

  it('a plain file downloads as an attachment with its name; a message may have attachments and no body', async () => {
    const { a, b, group } = await setup()
    const text = Buffer.from('minutes of the meeting\n')
    const done = await upload(a, group.id, text, 'notes é.txt', 'text/plain')
    expect(done).toMatchObject({ kind: 'file', contentType: 'text/plain', width: null, placeholder: null })
    const res = await api.post(`/v1/conversations/${group.id}/messages`, { attachments: [done.id] }, as(a))
    expect(res.status).toBe(201)
    expect(res.body).toMatchObject({ body: '', attachments: [{ id: done.id, kind: 'file', thumbnailUrl: null }] })
    const urls = await api.get(`/v1/attachments/${done.id}`, as(b))
    const file = await fetch(abs(urls.body.url))
    expect(file.headers.get('content-disposition')).toMatch(/^attachment; filename="notes _.txt"; filename\*=UTF-8''notes%20%C3%A9.txt$/)
    expect(await file.text()).toBe('minutes of the meeting\n')
    expectError(await api.post(`/v1/conversations/${group.id}/messages`, {}, as(a)), 400, 'VALIDATION_FAILED')
  })

  it('refuses to post an upload that is not ready, not the sender\'s, of another conversation, or already attached', async () => {
    const { a, b, group } = await setup()
    const other = await createGroup(api, a, [b])
    const mine = await upload(a, group.id, Buffer.from('x'), 'x.txt', 'text/plain')
    const pending = await start(a, group.id, Buffer.from('y'), 'y.txt', 'text/plain')
    const path = (id: string) => `/v1/conversations/${id}/messages`
    expectError(await api.post(path(group.id), { attachments: [pending.upload.id] }, as(a)), 400, 'INVALID_ATTACHMENT')
    expectError(await api.post(path(group.id), { body: 'hi', attachments: [mine.id] }, as(b)), 400, 'INVALID_ATTACHMENT')
    expectError(await api.post(path(other.id), { body: 'hi', attachments: [mine.id] }, as(a)), 400, 'INVALID_ATTACHMENT')
    await post(api, a, group.id, 'once', { attachments: [mine.id] })
    expectError(await api.post(path(group.id), { body: 'twice', attachments: [mine.id] }, as(a)), 400, 'INVALID_ATTACHMENT')
  })

  it('complete reads the real type: a .png that is text is 415 and leaves nothing behind', async () => {
    const { a, group } = await setup()
    const created = await start(a, group.id, Buffer.from('not a picture at all'), 'cat.png', 'image/png')
    expect((await send(created, Buffer.from('not a picture at all'))).ok).toBe(true)
    const key = `uploads/${created.upload.id}/incoming`
    expect(await stored(key)).toBe(20)
    expectError(await api.post(`/v1/uploads/${created.upload.id}/complete`, undefined, as(a)), 415, 'UNSUPPORTED_MEDIA_TYPE')
    expect(await stored(key)).toBeNull()
    expect(await server.sql('SELECT id FROM uploads WHERE id = $1', [created.upload.id])).toEqual([])
    // A PNG declared as JPEG is taken for what it is.
    const png = await sharp({ create: { width: 8, height: 8, channels: 4, background: '#00ff00' } }).png().toBuffer()
    expect(await upload(a, group.id, png, 'green.jpg', 'image/jpeg')).toMatchObject({ contentType: 'image/png', kind: 'image', width: 8 })
  })

  it('completions of one upload sent together all answer the ready upload, also one that finds its bytes moved on', async () => {
    const { a, b, group } = await setup()
    const bytes = Buffer.from('completed twice over')
    // A burst, as a client retrying on a slow answer sends it.
    const burst = await start(a, group.id, bytes, 'burst.txt', 'text/plain')
    expect((await send(burst, bytes)).ok).toBe(true)
    const answers = await Promise.all(Array.from({ length: 6 }, () => api.post(`/v1/uploads/${burst.upload.id}/complete`, undefined, as(a))))
    expect(answers.map((r) => [r.status, r.body.state])).toEqual(answers.map(() => [200, 'ready']))

    // The narrow case made certain: one completion is held just before it looks at (size) or copies (copy) the
    // bytes, while another completes the upload and removes them. It answered 409 UPLOAD_INCOMPLETE (size) or
    // 500 (copy; with the local driver, an uncaught error that ended the process).
    const storage = server.app.storage as unknown as Record<'size' | 'copy', (...args: unknown[]) => Promise<unknown>>
    for (const step of ['size', 'copy'] as const) {
      const created = await start(a, group.id, bytes, `${step}.txt`, 'text/plain')
      expect((await send(created, bytes)).ok).toBe(true)
      const incoming = `uploads/${created.upload.id}/incoming`
      const original = storage[step]
      let reached!: () => void
      let release!: () => void
      const atStep = new Promise<void>((resolve) => { reached = resolve })
      const released = new Promise<void>((resolve) => { release = resolve })
      let held = false
      storage[step] = async (...args: unknown[]) => {
        if (!held && args[0] === incoming) {
          held = true
          reached()
          await released
        }
        return original.apply(storage, args)
      }
      try {
        const first = api.post(`/v1/uploads/${created.upload.id}/complete`, undefined, as(a))
        await atStep
        const second = await api.post(`/v1/uploads/${created.upload.id}/complete`, undefined, as(a))
        expect(second.status).toBe(200)
        release()
        const answer = await first
        expect([step, answer.status, answer.body]).toEqual([step, 200, second.body])
      } finally {
        release()
        storage[step] = original
      }
      await post(api, a, group.id, step, { attachments: [created.upload.id] })
      const { url } = (await api.get(`/v1/attachments/${created.upload.id}`, as(b))).body
      expect(await (await fetch(abs(url))).text()).toBe(bytes.toString())
    }
    expect((await api.get(`/v1/conversations/${group.id}`, as(a))).status).toBe(200)
  })

  it('an AVIF with metadata is kept as an AVIF without it (it was refused as no image)', async () => {
    const { a, b, group } = await setup()
    const avif = await sharp({ create: { width: 40, height: 30, channels: 3, background: '#3366cc' } })
      .avif().withExif({ IFD0: { Make: 'PhoneCo' }, IFD3: { GPSLatitudeRef: 'N', GPSLatitude: '51/1 30/1 0/1' } }).toBuffer()
    expect((await sharp(avif).metadata()).exif).toBeDefined()
    const done = await upload(a, group.id, avif, 'shot.avif', 'image/avif')
    expect(done).toMatchObject({ state: 'ready', kind: 'image', contentType: 'image/avif', width: 40, height: 30, placeholder: expect.any(String) })
    await post(api, a, group.id, 'avif', { attachments: [done.id] })
    const urls = (await api.get(`/v1/attachments/${done.id}`, as(b))).body
    const got = Buffer.from(await (await fetch(abs(urls.url))).arrayBuffer())
    expect(got.length).toBe(done.size)
    const meta = await sharp(got).metadata()
    expect([meta.format, meta.compression, meta.width, meta.height, meta.exif]).toEqual(['heif', 'av1', 40, 30, undefined])
    expect((await fetch(abs(urls.thumbnailUrl))).status).toBe(200)
  })

  it('bytes sent to the upload URL after completing change nothing that was checked and posted', async () => {
    const { a, b, group } = await setup()
    const checked = Buffer.from('the words that were checked')
    const created = await start(a, group.id, checked, 'notes.txt', 'text/plain')
    expect((await send(created, checked)).ok).toBe(true)
    expect((await api.post(`/v1/uploads/${created.upload.id}/complete`, undefined, as(a))).status).toBe(200)
    await post(api, a, group.id, 'read this', { attachments: [created.upload.id] })
    // The URL is used again, with other bytes of the same size (the store may take them, at a key nothing serves).
    const again = await send(created, Buffer.from('<script>x</script> swapped!!'))
    if (driver.name === 'local') expect(again.status).toBe(404)
    const urls = (await api.get(`/v1/attachments/${created.upload.id}`, as(b))).body
    expect(await (await fetch(abs(urls.url))).text()).toBe(checked.toString())
    // Deleting the upload's message takes every file it had, the unused bytes too.
    const files = await filesOf(created.upload.id)
    const m = (await api.get(`/v1/conversations/${group.id}/messages`, as(a))).body.messages.find((x: any) => x.attachments.length > 0)
    expect((await api.del(`/v1/conversations/${group.id}/messages/${m.id}`, as(a))).status).toBe(200)
    await until(() => allGone(files), 'files removed')
  })

  it('a size other than declared is refused and nothing half-written stays', async () => {
    const { a, group } = await setup()
    const fewer = await start(a, group.id, Buffer.alloc(100, 65), 'a.txt', 'text/plain')
    const put = await send(fewer, Buffer.alloc(50, 65))
    if (driver.name === 'local') {
      expect(put.status).toBe(400)
      expect(((await put.json()) as { code: string }).code).toBe('SIZE_MISMATCH')
    }
    const key = `uploads/${fewer.upload.id}/incoming`
    const complete = await api.post(`/v1/uploads/${fewer.upload.id}/complete`, undefined, as(a))
    expectError(complete, driver.name === 'local' ? 409 : 400, driver.name === 'local' ? 'UPLOAD_INCOMPLETE' : 'SIZE_MISMATCH')
    expect(await stored(key)).toBeNull()

    const more = await start(a, group.id, Buffer.alloc(100, 65), 'b.txt', 'text/plain')
    const longer = await send(more, Buffer.alloc(300_000, 65)).catch(() => null)
    if (driver.name === 'local') expect(longer?.status).toBe(413)
    else await api.post(`/v1/uploads/${more.upload.id}/complete`, undefined, as(a)).then((r) => expectError(r, 400, 'SIZE_MISMATCH'))
    expect(await stored(`uploads/${more.upload.id}/incoming`)).toBeNull()
    if (driver.name === 'local') {
      const { readdir } = await import('node:fs/promises')
      const folder = join(server.app.config.storageLocalDir!, 'uploads', more.upload.id)
      await until(async () => (await readdir(folder).catch(() => [])).length === 0, 'no temporary file left')
    }
  })

  it('limits: type 415, size per kind 413, quota 413, rate 429', async () => {
    const [u, q, r] = await users(3)
    expectError(await api.post('/v1/uploads', { filename: 'x.exe', contentType: 'application/x-msdownload', size: 10 }, as(u)), 415, 'UNSUPPORTED_MEDIA_TYPE')
    expectError(await api.post('/v1/uploads', { filename: 'x.pdf', contentType: 'application/pdf', size: 2_500_001 }, as(u)), 413, 'FILE_TOO_LARGE')
    expect((await api.post('/v1/uploads', { filename: 'big.jpg', contentType: 'image/jpeg', size: 2_500_001 }, as(u))).status).toBe(201)
    expectError(await api.post('/v1/uploads', { filename: 'x', contentType: 'not a type', size: 1 }, as(u)), 400, 'VALIDATION_FAILED')

    expect((await api.post('/v1/uploads', { filename: 'a.pdf', contentType: 'application/pdf', size: 2_000_000 }, as(q))).status).toBe(201)
    expectError(await api.post('/v1/uploads', { filename: 'b.pdf', contentType: 'application/pdf', size: 1_000_001 }, as(q)), 413, 'QUOTA_EXCEEDED')
    expect((await api.post('/v1/uploads', { filename: 'c.pdf', contentType: 'application/pdf', size: 1_000_000 }, as(q))).status).toBe(201)

    const statuses = []
    for (let i = 0; i < 13; i++) statuses.push((await api.post('/v1/uploads', { filename: 'r.txt', contentType: 'text/plain', size: 1 }, as(r))).status)
    expect(statuses.filter((s) => s === 201)).toHaveLength(12)
    expectError(await api.post('/v1/uploads', { filename: 'r.txt', contentType: 'text/plain', size: 1 }, as(r)), 429, 'RATE_LIMITED')
  })

  it('an image that grows without its metadata: its size is what is stored, and that counts against the quota', async () => {
    const [a, full] = await users(2)
    const quota = LIMITS.uploadQuotaBytes!
    const bytes = await grower()
    const usage = async (who: Account) => Number((await server.sql('SELECT coalesce(sum(size + thumbnail_size), 0)::bigint AS n FROM uploads WHERE owner_id = $1', [who.user.id]))[0].n)

    // Room to spare: the upload reports the bytes stored and served, not the ones declared; the quota counts them
    // and its thumbnail's.
    const done = await upload(a, null, bytes, 'noisy.jpg')
    const [row] = await server.sql('SELECT storage_key, thumbnail_key, thumbnail_size FROM uploads WHERE id = $1', [done.id])
    const stored = (await server.app.storage.size(row.storage_key))!
    const thumbnail = (await server.app.storage.size(row.thumbnail_key))!
    expect(stored).toBeGreaterThan(bytes.length)
    expect(done.size).toBe(stored)
    expect(thumbnail).toBeGreaterThan(0)
    expect(row.thumbnail_size).toBe(thumbnail)
    expect(await usage(a)).toBe(stored + thumbnail)
    expect(await server.app.storage.size(`uploads/${done.id}/incoming`)).toBeNull()

    // Room for the image but not its thumbnail: refused too, nothing kept.
    const [thumbs] = await users(1)
    for (let fill = quota - stored - thumbnail + 1, i = 0; fill > 0; fill -= 2_000_000, i++) {
      await start(thumbs, null, Buffer.alloc(0), `${i}.pdf`, 'application/pdf', Math.min(fill, 2_000_000))
    }
    const tight = await start(thumbs, null, bytes, 'noisy.jpg', 'image/jpeg')
    expect((await send(tight, bytes)).ok).toBe(true)
    expectError(await api.post(`/v1/uploads/${tight.upload.id}/complete`, undefined, as(thumbs)), 413, 'QUOTA_EXCEEDED')
    expect(await server.sql('SELECT id FROM uploads WHERE id = $1', [tight.upload.id])).toEqual([])
    expect(await usage(thumbs)).toBeLessThanOrEqual(quota)

    // No room for the growth: the declared bytes fit, the stored ones would not. It was kept, past the quota.
    await start(full, null, Buffer.alloc(0), 'a.pdf', 'application/pdf', 2_000_000)
    await start(full, null, Buffer.alloc(0), 'b.pdf', 'application/pdf', quota - 2_000_000 - bytes.length - 10)
    const keys: string[] = []
    const storage = server.app.storage as unknown as Record<'copy' | 'write', (key: string, ...rest: unknown[]) => Promise<void>>
    const [copy, write] = [storage.copy, storage.write]
    storage.copy = async (from: string, to: unknown, ...rest: unknown[]) => { keys.push(to as string); return copy.call(storage, from, to, ...rest) }
    storage.write = async (key: string, ...rest: unknown[]) => { keys.push(key); return write.call(storage, key, ...rest) }
    try {
      const created = await start(full, null, bytes, 'noisy.jpg', 'image/jpeg')
      expect((await send(created, bytes)).ok).toBe(true)
      expectError(await api.post(`/v1/uploads/${created.upload.id}/complete`, undefined, as(full)), 413, 'QUOTA_EXCEEDED')
      expect(await usage(full)).toBeLessThanOrEqual(quota)
      // Nothing of it stays: no row, no bytes (sent, checked, re-encoded or thumbnail).
      expect(await server.sql('SELECT id FROM uploads WHERE id = $1', [created.upload.id])).toEqual([])
      expect(keys.filter((k) => k.startsWith(`uploads/${created.upload.id}/`)).length).toBeGreaterThanOrEqual(2)
      expect(await allGone([`uploads/${created.upload.id}/incoming`, ...keys])).toBe(true)
      expectError(await api.post(`/v1/uploads/${created.upload.id}/complete`, undefined, as(full)), 404, 'NOT_FOUND')
    } finally {
      Object.assign(storage, { copy, write })
    }
  })

  it.runIf(driver.name === 'local')('an image whose stripped bytes pass the image limit is refused with FILE_TOO_LARGE', async () => {
    // A server of its own: an image limit between the bytes sent and the bytes stripping makes of them.
    const bytes = await grower()
    const started = await driver.start()
    const small = await startServer({ config: { ...LIMITS, ...started.config, uploadMaxImageBytes: bytes.length + 100 } })
    try {
      const other = client(small.url)
      const [a] = await registerMany(other, 1)
      const created = await other.post('/v1/uploads', { filename: 'noisy.jpg', contentType: 'image/jpeg', size: bytes.length }, as(a))
      expect(created.status).toBe(201)
      expect((await fetch(new URL(created.body.uploadUrl, small.url), { method: 'PUT', headers: created.body.headers, body: bytes })).ok).toBe(true)
      const res = await other.post(`/v1/uploads/${created.body.upload.id}/complete`, undefined, as(a))
      expectError(res, 413, 'FILE_TOO_LARGE')
      expect(res.body.message).toContain('without its metadata')
      expect(await small.sql('SELECT id FROM uploads WHERE id = $1', [created.body.upload.id])).toEqual([])
    } finally {
      await small.close()
      await started.stop()
    }
  })

  it('downloads only for members who can see the message; a removed member\'s earlier URL works until it expires', async () => {
    const { a, b, c, group } = await setup()
    const done = await upload(a, group.id, await photo())
    await post(api, a, group.id, 'pic', { attachments: [done.id] })
    expectError(await api.get(`/v1/attachments/${done.id}`, as(c)), 404, 'NOT_FOUND')
    expect((await fetch(abs(`/v1/attachments/${done.id}/content`), { headers: { authorization: `Bearer ${c.accessToken}` }, redirect: 'manual' })).status).toBe(404)
    // A member who joined after the message does not see it, as in history.
    expect((await api.post(`/v1/conversations/${group.id}/members`, { userIds: [c.user.id] }, as(a))).status).toBeLessThan(300)
    expectError(await api.get(`/v1/attachments/${done.id}`, as(c)), 404, 'NOT_FOUND')

    const early = await api.get(`/v1/attachments/${done.id}`, as(b))
    expect(early.status).toBe(200)
    expect((await api.del(`/v1/conversations/${group.id}/members/${b.user.id}`, as(a))).status).toBeLessThan(300)
    expectError(await api.get(`/v1/attachments/${done.id}`, as(b)), 404, 'NOT_FOUND')
    const url = abs(early.body.url)
    expect((await fetch(url)).status).toBe(200)
    // Expiry: the same URL stops working once DOWNLOAD_URL_TTL_SECONDS pass.
    await until(async () => (await fetch(url)).status === 403, 'the signed URL to expire', (TTL_SECONDS + 5) * 1000)
  })

  it.runIf(driver.name === 'local')('serves HTTP range requests', async () => {
    const { a, b, group } = await setup()
    const bytes = Buffer.from('0123456789abcdefghij')
    const done = await upload(a, group.id, bytes, 'digits.txt', 'text/plain')
    await post(api, a, group.id, 'f', { attachments: [done.id] })
    const { url } = (await api.get(`/v1/attachments/${done.id}`, as(b))).body
    const part = await fetch(abs(url), { headers: { range: 'bytes=5-9' } })
    expect(part.status).toBe(206)
    expect(part.headers.get('content-range')).toBe('bytes 5-9/20')
    expect(await part.text()).toBe('56789')
    expect((await fetch(abs(url), { headers: { range: 'bytes=50-60' } })).status).toBe(416)
    if (driver.name === 'local') expect((await fetch(abs(url), { method: 'HEAD', headers: { range: 'bytes=50-60' } })).status).toBe(416)
    const forged = abs(url).replace(/token=([^.]+)\./, 'token=$1x.')
    expect((await fetch(forged)).status).toBe(403)
  })

  it('deleting a message deletes its files', async () => {
    const { a, b, group } = await setup()
    const done = await upload(a, group.id, await photo())
    const message = await post(api, a, group.id, 'soon gone', { attachments: [done.id] })
    const urls = (await api.get(`/v1/attachments/${done.id}`, as(b))).body
    const files = await filesOf(done.id)
    expect(await stored(files[0]!)).not.toBeNull()
    const deleted = await api.del(`/v1/conversations/${group.id}/messages/${message.id}`, as(a))
    expect(deleted.body).toMatchObject({ body: '', attachments: [] })
    await until(() => allGone(files), 'files removed')
    await until(async () => (await server.sql('SELECT id FROM uploads WHERE id = $1', [done.id])).length === 0, 'row removed')
    expect((await fetch(abs(urls.url))).status).not.toBe(200)
    expectError(await api.get(`/v1/attachments/${done.id}`, as(b)), 404, 'NOT_FOUND')
    const created = (await replay(api, b, group.id)).find((e) => e.type === 'message.created' && e.data.id === message.id)
    expect(created.data.attachments).toEqual([])
  })

  it.runIf(driver.name === 'local')('files that go take their upload\'s folder with them: none is left behind per upload', async () => {
    const { a, group } = await setup()
    const folders = join(server.app.config.storageLocalDir!, 'uploads')
    const { readdir } = await import('node:fs/promises')
    const posted = await upload(a, group.id, await photo(), 'gone.jpg')
    const message = await post(api, a, group.id, 'soon gone', { attachments: [posted.id] })
    const refused = await start(a, group.id, Buffer.from('no png'), 'x.png', 'image/png')
    expect((await send(refused, Buffer.from('no png'))).ok).toBe(true)
    expectError(await api.post(`/v1/uploads/${refused.upload.id}/complete`, undefined, as(a)), 415, 'UNSUPPORTED_MEDIA_TYPE')
    expect((await readdir(folders)).includes(posted.id)).toBe(true)
    // STORAGE_LOCAL_DIR set: nothing under DATA_DIR.
    expect(await readdir(join(server.app.config.dataDir, 'uploads')).catch(() => [])).toEqual([])
    expect((await api.del(`/v1/conversations/${group.id}/messages/${message.id}`, as(a))).status).toBe(200)
    await until(async () => (await server.sql('SELECT id FROM uploads WHERE id = $1', [posted.id])).length === 0, 'row removed')
    const left = await readdir(folders)
    expect([left.includes(posted.id), left.includes(refused.upload.id)]).toEqual([false, false])
  })

  it('the sweeper removes uploads never attached within the setting', async () => {
    const { a, group } = await setup()
    const old = await upload(a, group.id, Buffer.from('old'), 'old.txt', 'text/plain')
    const fresh = await upload(a, group.id, Buffer.from('fresh'), 'fresh.txt', 'text/plain')
    const kept = await upload(a, group.id, Buffer.from('kept'), 'kept.txt', 'text/plain')
    await post(api, a, group.id, 'keep', { attachments: [kept.id] })
    await server.sql("UPDATE uploads SET created_at = now() - interval '2 days' WHERE id = ANY($1::uuid[])", [[old.id, kept.id]])
    const [oldFiles, freshFiles, keptFiles] = await Promise.all([filesOf(old.id), filesOf(fresh.id), filesOf(kept.id)])
    expect(await stored(oldFiles[0]!)).toBe(3)
    await server.app.uploads.sweep()
    expect(await allGone(oldFiles)).toBe(true)
    expect(await stored(freshFiles[0]!)).toBe(5)
    expect(await stored(keptFiles[0]!)).toBe(4)
    expect((await server.sql('SELECT id FROM uploads WHERE id = ANY($1::uuid[]) ORDER BY id', [[old.id, fresh.id, kept.id]])).map((r) => r.id).sort())
      .toEqual([fresh.id, kept.id].sort())
  })

  it('an erased account\'s files go: attachments, avatar and uploads never posted', async () => {
    const { a, b, group } = await setup()
    const posted = await upload(b, group.id, await photo())
    await post(api, b, group.id, 'mine', { attachments: [posted.id] })
    const loose = await upload(b, group.id, Buffer.from('loose'), 'l.txt', 'text/plain')
    const avatar = await upload(b, null, await photo(40, 40), 'me.jpg')
    expect((await api.patch('/v1/me', { avatarUploadId: avatar.id }, as(b))).status).toBe(200)
    const files = new Map(await Promise.all([posted.id, loose.id, avatar.id].map(async (id) => [id, await filesOf(id)] as const)))
    expect((await api.request('DELETE', '/v1/me', { body: { password: b.password }, token: b.accessToken })).status).toBe(204)
    for (const [id, keys] of files) await until(() => allGone(keys), `files of ${id} removed`)
    await until(async () => (await server.sql('SELECT id FROM uploads WHERE owner_id = $1', [b.user.id])).length === 0, 'rows removed')
    const history = await api.get(`/v1/conversations/${group.id}/messages`, as(a))
    expect(history.body.messages.find((m: any) => m.senderId === b.user.id)?.attachments).toEqual([])
  })

  it('avatars and group pictures use the same uploads', async () => {
    const { a, b, group } = await setup()
    const first = await upload(a, null, await photo(30, 30), 'a1.jpg')
    const me = await api.patch('/v1/me', { avatarUploadId: first.id }, as(a))
    expect(me.status).toBe(200)
    expect(me.body.avatarUrl).toBe(`/v1/media/${first.id}`)
    const seen = await api.get(`/v1/users/${a.user.id}`, as(b))
    expect(seen.body.avatarUrl).toBe(`/v1/media/${first.id}`)
    const picture = await fetch(abs(me.body.avatarUrl), { redirect: 'manual' })
    expect(picture.status).toBe(302)
    const image = await fetch(abs(picture.headers.get('location')!))
    expect((await sharp(Buffer.from(await image.arrayBuffer())).metadata()).width).toBe(30)
    // A new avatar replaces the old one, whose files go.
    const second = await upload(a, null, await photo(20, 20), 'a2.jpg')
    const [firstFiles, secondFiles] = await Promise.all([filesOf(first.id), filesOf(second.id)])
    expect((await api.patch('/v1/me', { avatarUploadId: second.id }, as(a))).body.avatarUrl).toBe(`/v1/media/${second.id}`)
    await until(() => allGone(firstFiles), 'old avatar removed')
    expect((await fetch(abs(`/v1/media/${first.id}`), { redirect: 'manual' })).status).toBe(404)
    // Someone else's upload, or a file that is no image, cannot be an avatar.
    const text = await upload(a, null, Buffer.from('hi'), 'hi.txt', 'text/plain')
    expectError(await api.patch('/v1/me', { avatarUploadId: text.id }, as(a)), 400, 'INVALID_ATTACHMENT')
    const theirs = await upload(b, null, await photo(), 'b.jpg')
    expectError(await api.patch('/v1/me', { avatarUploadId: theirs.id }, as(a)), 400, 'INVALID_ATTACHMENT')
    expect((await api.patch('/v1/me', { avatarUploadId: null }, as(a))).body.avatarUrl).toBeNull()
    await until(() => allGone(secondFiles), 'cleared avatar removed')

    const pic = await upload(a, null, await photo(50, 50), 'group.jpg')
    const renamed = await api.patch(`/v1/conversations/${group.id}`, { pictureUploadId: pic.id }, as(a))
    expect(renamed.status).toBe(200)
    expect(renamed.body.pictureUrl).toBe(`/v1/media/${pic.id}`)
    expect((await api.get(`/v1/conversations/${group.id}`, as(b))).body.pictureUrl).toBe(`/v1/media/${pic.id}`)
    const bPic = await upload(b, null, await photo(), 'bp.jpg')
    expectError(await api.patch(`/v1/conversations/${group.id}`, { pictureUploadId: bPic.id }, as(b)), 403, 'FORBIDDEN')
  })

  it('avatars and group pictures set in parallel: only the one in use stays, the replaced ones go', async () => {
    const [a, owner] = await users(2)
    const group = await createGroup(api, owner, [])
    const [avatars, pictures] = await Promise.all([
      Promise.all(Array.from({ length: 6 }, async (_, i) => upload(a, null, await photo(20 + i, 20), `a${i}.jpg`))),
      Promise.all(Array.from({ length: 6 }, async (_, i) => upload(owner, null, await photo(20 + i, 20), `g${i}.jpg`)))
    ])
    const changes = await Promise.all([
      ...avatars.map((u) => api.patch('/v1/me', { avatarUploadId: u.id }, as(a))),
      ...pictures.map((u) => api.patch(`/v1/conversations/${group.id}`, { pictureUploadId: u.id }, as(owner)))
    ])
    expect(changes.map((r) => r.status)).toEqual(changes.map(() => 200))
    const [{ avatar }] = await server.sql('SELECT avatar_upload_id AS avatar FROM users WHERE id = $1', [a.user.id])
    const [{ picture }] = await server.sql('SELECT picture_upload_id AS picture FROM conversations WHERE id = $1', [group.id])
    // Each change replaced the one set before it: one stays in use, the others are on their way out (or gone).
    expect((await server.sql("SELECT id FROM uploads WHERE owner_id = $1 AND state = 'avatar'", [a.user.id])).map((r) => r.id)).toEqual([avatar])
    expect((await server.sql("SELECT id FROM uploads WHERE owner_id = $1 AND state = 'picture'", [owner.user.id])).map((r) => r.id)).toEqual([picture])
    for (const replaced of [...avatars.filter((u) => u.id !== avatar), ...pictures.filter((u) => u.id !== picture)]) {
      expect((await fetch(abs(`/v1/media/${replaced.id}`), { redirect: 'manual' })).status).toBe(404)
    }
  })

  it('the SDK uploads with progress, posts the upload and fetches it back', async () => {
    const { a, b, group } = await setup()
    const sdk = createClient({ baseUrl: server.url, session: { user: a.user as any, accessToken: a.accessToken, refreshToken: a.refreshToken, expiresAt: Date.now() + 600_000 } })
    const bytes = await photo(200, 100)
    const progress: number[] = []
    const done = await sdk.uploads.upload(group.id, new Uint8Array(bytes), { filename: 'sdk.jpg', contentType: 'image/jpeg', onProgress: (p) => progress.push(p.loaded) })
    expect(done).toMatchObject({ state: 'ready', width: 200, height: 100 })
    expect(progress.at(-1)).toBe(bytes.length)
    expect(progress.every((n, i) => i === 0 || n >= progress[i - 1]!)).toBe(true)
    const message = await sdk.messages.send(group.id, { attachments: [done.id] })
    expect(message.attachments[0]!.id).toBe(done.id)
    const reader = createClient({ baseUrl: server.url, session: { user: b.user as any, accessToken: b.accessToken, refreshToken: b.refreshToken, expiresAt: Date.now() + 600_000 } })
    const urls = await reader.uploads.urls(done.id)
    expect(urls.url).toMatch(/^http/)
    expect((await fetch(urls.thumbnailUrl!)).status).toBe(200)
    const avatar = await sdk.uploads.upload(null, new Uint8Array(await photo(16, 16)), { filename: 'me.jpg' })
    expect((await sdk.account.setAvatar(avatar.id)).avatarUrl).toBe(`/v1/media/${avatar.id}`)
  })
})

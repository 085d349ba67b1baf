// What a download URL answers, over real HTTP, beyond test/attachments.test.ts:
// the local driver under a DATA_DIR whose path has URL-special characters, its
// conditional and range requests (RFC 9110), and the headers an s3 presigned
// URL makes the store send (s3rver on loopback).
import { HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AppConfig } from '../src/config.js'
import { servedAs } from '../src/storage/s3.js'
import { createGroup, post } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { users } from './helpers/users.js'

const TTL_SECONDS = 120

interface Harness {
  server: TestServer
  api: Client
  abs (url: string): string
  /** Uploads, completes and posts a file; answers its attachment id and fresh signed URLs. */
  attach (bytes: Buffer, filename: string, contentType: string): Promise<{ id: string, url: string, thumbnailUrl: string | null }>
  /** Signed URLs of an attachment, signed anew. */
  urls (id: string): Promise<{ url: string, thumbnailUrl: string | null }>
}

async function harness (config: Partial<AppConfig>): Promise<Harness & { close (): Promise<void> }> {
  const server = await startServer({ config: { downloadUrlTtlSeconds: TTL_SECONDS, uploadRateLimitPerMinute: 1_000, ...config } })
  const api = client(server.url)
  const [a, b] = await users(api, 2)
  const group = await createGroup(api, a, [b])
  const as = (who: Account) => ({ token: who.accessToken })
  const abs = (url: string) => new URL(url, server.url).toString()
  const urls = async (id: string) => {
    const res = await api.get(`/v1/attachments/${id}`, as(b))
    expect(res.status).toBe(200)
    return { url: abs(res.body.url), thumbnailUrl: res.body.thumbnailUrl === null ? null : abs(res.body.thumbnailUrl) as string }
  }
  return {
    server,
    api,
    abs,
    async attach (bytes, filename, contentType) {
      const created = await api.post('/v1/uploads', { conversationId: group.id, filename, contentType, size: bytes.length }, as(a))
      expect(created.status).toBe(201)
      const put = await fetch(abs(created.body.uploadUrl), { method: 'PUT', headers: created.body.headers, body: bytes })
      expect(put.ok).toBe(true)
      const done = await api.post(`/v1/uploads/${created.body.upload.id}/complete`, undefined, as(a))
      if (done.status !== 200) throw new Error(`complete: ${done.status} ${JSON.stringify(done.body)}`)
      await post(api, a, group.id, 'file', { attachments: [done.body.id] })
      return { id: done.body.id, ...await urls(done.body.id) }
    },
    urls,
    close: () => server.close()
  }
}

const photo = () => sharp({ create: { width: 40, height: 30, channels: 3, background: '#3366cc' } }).png().toBuffer()

describe('local driver', () => {
  let h: Awaited<ReturnType<typeof harness>>
  let dataDir: string

  beforeAll(async () => {
    // A path that is not a valid URL path as it is: '%' starts an escape, '#' a fragment, '?' a query.
    dataDir = await mkdtemp(join(tmpdir(), 'sb dl 100% #1?a=b&c '))
    h = await harness({ storageDriver: 'local', dataDir })
  })

  afterAll(async () => {
    await h?.close()
    await rm(dataDir, { recursive: true, force: true })
  })

  it('stores and serves files under a DATA_DIR with %, #, ? and spaces in its path', async () => {
    const text = Buffer.from('percent % hash # query ? space')
    const file = await h.attach(text, 'odd.txt', 'text/plain')
    expect(await h.server.app.storage.size(`uploads/${file.id}/incoming`)).toBeNull()
    const res = await fetch(file.url)
    expect(res.status).toBe(200)
    expect(await res.text()).toBe(text.toString())
    const part = await fetch(file.url, { headers: { range: 'bytes=0-6' } })
    expect(part.status).toBe(206)
    expect(await part.text()).toBe('percent')

    const image = await h.attach(await photo(), 'p.png', 'image/png')
    const content = await fetch(image.url)
    expect(content.status).toBe(200)
    expect((await sharp(Buffer.from(await content.arrayBuffer())).metadata()).width).toBe(40)
    const thumbnail = await fetch(image.thumbnailUrl!)
    expect(thumbnail.status).toBe(200)
    expect(thumbnail.headers.get('content-type')).toBe('image/webp')
  })

  it('answers validators and a private cache lifetime up to the URL\'s expiry', async () => {
    const file = await h.attach(Buffer.from('cache me'), 'c.txt', 'text/plain')
    const res = await fetch(file.url)
    expect(res.status).toBe(200)
    await res.arrayBuffer()
    const etag = res.headers.get('etag')
    expect(etag).toMatch(/^(W\/)?"[^"]+"$/)
    expect(Date.parse(res.headers.get('last-modified')!)).not.toBeNaN()
    const cache = /^private, max-age=(\d+), immutable$/.exec(res.headers.get('cache-control') ?? '')
    expect(cache, res.headers.get('cache-control') ?? 'no cache-control').not.toBeNull()
    expect(Number(cache![1])).toBeGreaterThan(TTL_SECONDS - 10)
    expect(Number(cache![1])).toBeLessThanOrEqual(TTL_SECONDS)
    expect(res.headers.get('x-content-type-options')).toBe('nosniff')
    expect(res.headers.get('content-security-policy')).toBe("default-src 'none'; sandbox")
  })

  it('If-None-Match and If-Modified-Since: 304 without a body, with the same validators; also through a newer URL', async () => {
    const file = await h.attach(Buffer.from('not modified'), 'n.txt', 'text/plain')
    const first = await fetch(file.url)
    await first.arrayBuffer()
    const etag = first.headers.get('etag')!
    const lastModified = first.headers.get('last-modified')!

    // fetch() sends `Cache-Control: no-cache` with a conditional header a caller sets (Fetch standard), as an SDK that
    // keeps files does: that asks caches to validate with the origin, and the origin still answers 304.
    for (const headers of [{ 'if-none-match': etag }, { 'if-none-match': `"other", ${etag}` }, { 'if-modified-since': lastModified }] as Array<Record<string, string>>) {
      const res = await fetch(file.url, { headers })
      expect(res.status, JSON.stringify(headers)).toBe(304)
      expect(await res.text()).toBe('')
      expect(res.headers.get('etag')).toBe(etag)
      expect(res.headers.get('cache-control')).toMatch(/^private, max-age=\d+, immutable$/)
      // A 304 carries no representation metadata of its own (RFC 9110 15.4.5).
      expect(res.headers.get('content-type')).toBeNull()
      expect(res.headers.get('content-disposition')).toBeNull()
      expect(res.headers.get('content-length') ?? '0').toBe('0')
    }
    const head = await fetch(file.url, { method: 'HEAD', headers: { 'if-none-match': etag } })
    expect(head.status).toBe(304)

    // Another signed URL of the same file (each GET of /v1/attachments/{id} signs anew, a second later: another
    // token) has the same validator, so a client that keeps the file and its ETag revalidates through it.
    await new Promise((resolve) => setTimeout(resolve, 1_100))
    const { url: newer } = await h.urls(file.id)
    expect(newer).not.toBe(file.url)
    const revalidated = await fetch(newer, { headers: { 'if-none-match': etag } })
    expect(revalidated.status).toBe(304)
    expect(revalidated.headers.get('etag')).toBe(etag)

    // A validator that does not match, or a date before the file's: the whole file.
    for (const headers of [{ 'if-none-match': '"other"' }, { 'if-modified-since': new Date(Date.parse(lastModified) - 60_000).toUTCString() },
      // If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
      { 'if-none-match': '"other"', 'if-modified-since': lastModified }] as Array<Record<string, string>>) {
      const res = await fetch(file.url, { headers })
      expect(res.status, JSON.stringify(headers)).toBe(200)
      expect(await res.text()).toBe('not modified')
    }
  })

  it('If-Range: the range only while the validator holds (the exact Last-Modified), else the whole file', async () => {
    const bytes = Buffer.from('0123456789abcdefghij')
    const file = await h.attach(bytes, 'r.txt', 'text/plain')
    const first = await fetch(file.url)
    await first.arrayBuffer()
    const etag = first.headers.get('etag')!
    const lastModified = first.headers.get('last-modified')!
    const range = (ifRange: string) => fetch(file.url, { headers: { range: 'bytes=2-4', 'if-range': ifRange } })

    const fresh = await range(lastModified)
    expect(fresh.status).toBe(206)
    expect(fresh.headers.get('content-range')).toBe('bytes 2-4/20')
    expect(await fresh.text()).toBe('234')

    // The ETag is weak (size and mtime), and a weak tag never holds for If-Range, even ours (a strong comparison).
    expect(etag).toMatch(/^W\//)
    const stale = [
      etag,
      '"something-else"',
      new Date(Date.parse(lastModified) - 60_000).toUTCString(),
      // Not the Last-Modified itself: only an exact match holds (RFC 9110 13.1.5).
      new Date(Date.parse(lastModified) + 60_000).toUTCString()
    ]
    for (const ifRange of stale) {
      const res = await range(ifRange)
      expect(res.status, ifRange).toBe(200)
      expect(res.headers.get('content-range'), ifRange).toBeNull()
      expect(await res.text()).toBe(bytes.toString())
    }
  })

  it('If-Match that does not match: 412; a range past the end: 416', async () => {
    const file = await h.attach(Buffer.from('precondition'), 'p.txt', 'text/plain')
    const res = await fetch(file.url, { headers: { 'if-match': '"nope"' } })
    expect(res.status).toBe(412)
    expect(((await res.json()) as { code: string }).code).toBe('PRECONDITION_FAILED')
    const ok = await fetch(file.url, { headers: { 'if-match': '*' } })
    expect(ok.status).toBe(200)
    await ok.arrayBuffer()
    expect((await fetch(file.url, { headers: { range: 'bytes=100-' } })).status).toBe(416)
  })
})

describe('s3 driver', () => {
  let h: Awaited<ReturnType<typeof harness>>
  let dir: string
  let s3: S3rver
  let store: S3Client

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sb-s3-dl-'))
    s3 = new S3rver({ address: '127.0.0.1', port: 0, silent: true, directory: dir, configureBuckets: [{ name: 'dl-test', configs: [] }] })
    const { port } = await s3.run()
    const endpoint = `http://127.0.0.1:${port}`
    store = new S3Client({ region: 'us-east-1', endpoint, forcePathStyle: true, credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' } })
    h = await harness({
      storageDriver: 's3', s3Bucket: 'dl-test', s3Endpoint: endpoint, s3ForcePathStyle: true, s3AccessKeyId: 'S3RVER', s3SecretAccessKey: 'S3RVER', dataDir: dir,
      // An operator who accepts any text and XML: HTML and XHTML are accepted (the bytes of HTML have no signature)
      // and must never be rendered from the bucket's origin.
      uploadAllowedTypes: ['image/png', 'text/*', 'application/xml']
    })
  })

  afterAll(async () => {
    store?.destroy()
    await h?.close()
    await s3?.close()
    await rm(dir, { recursive: true, force: true })
  })

  const cacheControl = /^private, max-age=(\d+), immutable$/

  it('images and their thumbnails are inline with their own type', async () => {
    const image = await h.attach(await photo(), 'p.png', 'image/png')
    for (const [url, type] of [[image.url, 'image/png'], [image.thumbnailUrl!, 'image/webp']] as const) {
      const res = await fetch(url)
      expect(res.status).toBe(200)
      await res.arrayBuffer()
      expect(res.headers.get('content-type')).toBe(type)
      expect(res.headers.get('content-disposition')).toMatch(/^inline; /)
      expect(res.headers.get('cache-control')).toMatch(cacheControl)
    }
  })

  it('anything else is an attachment, and a type a browser could render as a page is sent as application/octet-stream', async () => {
    const cases = [
      { bytes: Buffer.from('plain words'), filename: 'a.txt', type: 'text/plain', served: 'text/plain' },
      { bytes: Buffer.from('<html><script>alert(document.domain)</script></html>'), filename: 'x.html', type: 'text/html', served: 'application/octet-stream' },
      { bytes: Buffer.from('<?xml version="1.0"?><x:script xmlns:x="http://www.w3.org/1999/xhtml">alert(1)</x:script>'), filename: 'x.xml', type: 'application/xml', served: 'application/octet-stream' }
    ]
    for (const c of cases) {
      const file = await h.attach(c.bytes, c.filename, c.type)
      const res = await fetch(file.url)
      expect(res.status).toBe(200)
      expect(await res.text()).toBe(c.bytes.toString())
      expect(res.headers.get('content-type'), c.type).toBe(c.served)
      expect(res.headers.get('content-disposition'), c.type).toMatch(new RegExp(`^attachment; filename="${c.filename.replace('.', '\\.')}"`))
      expect(res.headers.get('cache-control')).toMatch(cacheControl)
    }
  })

  it('the rule: inline only for raster images, video and audio; the real type only for those and types no browser runs', () => {
    expect(servedAs('image/png', 'inline')).toEqual({ contentType: 'image/png', disposition: 'inline' })
    expect(servedAs('video/mp4', 'inline')).toEqual({ contentType: 'video/mp4', disposition: 'inline' })
    expect(servedAs('audio/ogg', 'inline')).toEqual({ contentType: 'audio/ogg', disposition: 'inline' })
    expect(servedAs('image/png', 'attachment')).toEqual({ contentType: 'image/png', disposition: 'attachment' })
    expect(servedAs('text/plain; charset=utf-8', 'attachment')).toEqual({ contentType: 'text/plain; charset=utf-8', disposition: 'attachment' })
    expect(servedAs('application/pdf', 'attachment')).toEqual({ contentType: 'application/pdf', disposition: 'attachment' })
    for (const type of ['image/svg+xml', 'text/html', 'application/xhtml+xml', 'text/xml', 'text/javascript', 'video/x-thing+xml', 'image/bmp', 'application/msword']) {
      expect(servedAs(type, 'inline'), type).toEqual({ contentType: 'application/octet-stream', disposition: 'attachment' })
    }
  })

  it('objects kept on completion are stored as attachments, so the store never serves one inline unless a signed URL asks', async () => {
    const file = await h.attach(Buffer.from('kept'), 'k.txt', 'text/plain')
    const [row] = await h.server.sql('SELECT storage_key FROM uploads WHERE id = $1', [file.id])
    const head = await store.send(new HeadObjectCommand({ Bucket: 'dl-test', Key: row.storage_key }))
    expect(head.ContentDisposition).toBe('attachment')
  })
})

// What one image may cost, and who waits for it (README "Attachments"): an
// animation of more than IMAGE_MAX_FRAMES frames, or an image whose work takes
// longer than IMAGE_TIMEOUT_SECONDS, is refused at complete with 400
// IMAGE_TOO_COMPLEX; images are processed one at a time per process, out of the
// UPLOAD_CONCURRENCY slots and taking turns by user, so one user's slow images
// hold up neither other users' upload requests nor, beyond the image being
// processed, their images. Real HTTP against the real app (local driver).
import { mkdtemp, rm } from 'node:fs/promises'
import { buffer } from 'node:stream/consumers'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { AppConfig } from '../src/config.js'
import { client, expectError, type Account, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { users } from './helpers/users.js'

/**
 * An animated image of `frames` frames of size×size, two colours in turn (every frame differs from the one
 * before, so none is skipped), with an EXIF block: it is re-encoded, every frame, to strip it.
 */
async function animation (frames: number, size: number, format: 'webp' | 'gif' = 'webp'): Promise<Buffer> {
  const frame = (v: number) => sharp({ create: { width: size, height: size, channels: 3, background: { r: v, g: 255 - v, b: 90 } } }).png().toBuffer()
  const two = [await frame(20), await frame(220)]
  const joined = sharp(Array.from({ length: frames }, (_, i) => two[i % 2]!), { join: { animated: true } })
  return format === 'gif'
    ? joined.gif().toBuffer()
    : joined.webp({ effort: 0, lossless: true }).withExif({ IFD0: { Copyright: 'Someone' } }).toBuffer()
}

/** A small JPEG with EXIF, as phones write them. */
const photo = () => sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 40, b: 90 } } })
  .jpeg().withExif({ IFD0: { Make: 'PhoneCo' } }).toBuffer()

async function serve (config: Partial<AppConfig>) {
  const dataDir = await mkdtemp(join(tmpdir(), 'sb-media-'))
  const server = await startServer({ config: { storageDriver: 'local', dataDir, uploadRateLimitPerMinute: 1_000, ...config } })
  return { server, api: client(server.url), stop: async () => { await server.close(); await rm(dataDir, { recursive: true, force: true }) } }
}

/** Creates an upload and sends its bytes; its id, ready to complete. */
async function send (api: Client, server: TestServer, who: Account, bytes: Buffer, filename: string, contentType: string): Promise<string> {
  const created = await api.post('/v1/uploads', { filename, contentType, size: bytes.length }, { token: who.accessToken })
  if (created.status !== 201) throw new Error(`create upload: ${created.status} ${JSON.stringify(created.body)}`)
  const put = await fetch(new URL(created.body.uploadUrl, server.url), { method: created.body.method, headers: created.body.headers, body: bytes })
  if (!put.ok) throw new Error(`PUT: ${put.status}`)
  return created.body.upload.id
}

const complete = (api: Client, who: Account, id: string) => api.post(`/v1/uploads/${id}/complete`, undefined, { token: who.accessToken })

describe('one user\'s slow images and everyone else', () => {
  let server: TestServer
  let api: Client
  let stop: () => Promise<void>
  beforeAll(async () => { ({ server, api, stop } = await serve({})) })
  afterAll(async () => { await stop?.() })

  // Eight animations within the limits that take a while each (about a second on an idle 2-core machine),
  // completed at once. Once the first has come back the others are all at the server, queued behind each other;
  // the count of those that come back while another user's requests run says what these waited for: none (for
  // a file), or the one being processed (for an image). Were the images holding the upload slots while they
  // waited (4), the other user's requests would wait for four of them, in either case.
  const SLOW = 8
  async function slowImages (attacker: Account) {
    const slow = await animation(100, 316)
    const ids = await Promise.all(Array.from({ length: SLOW }, (_, i) => send(api, server, attacker, slow, `slow${i}.webp`, 'image/webp')))
    let back = 0
    const completes = ids.map((id) => complete(api, attacker, id).then((r) => { back++; return r }))
    await Promise.race(completes)
    return { all: Promise.all(completes), back: () => back }
  }

  it('another user\'s upload of a file waits for none of them', async () => {
    const [attacker, other] = await users(api, 2)
    const { all, back } = await slowImages(attacker)
    const before = back()
    const id = await send(api, server, other, Buffer.from('hello'), 'note.txt', 'text/plain')
    const done = await complete(api, other, id)
    const during = back() - before
    expect(done.status).toBe(200)
    expect(done.body.state).toBe('ready')
    expect(during, `slow images that came back while the file was uploaded: ${during}`).toBeLessThanOrEqual(1)
    const results = await all
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200))
  }, 120_000)

  it('another user\'s image waits for the one being processed, not for all of them', async () => {
    const [attacker, other] = await users(api, 2)
    const { all, back } = await slowImages(attacker)
    const before = back()
    const id = await send(api, server, other, await photo(), 'photo.jpg', 'image/jpeg')
    const done = await complete(api, other, id)
    const during = back() - before
    expect(done.status).toBe(200)
    expect(done.body).toMatchObject({ state: 'ready', width: 64, height: 48 })
    // The one being processed when it came, and at most one more if that one finished just before.
    expect(during, `slow images that came back before the photo was ready: ${during}`).toBeLessThanOrEqual(2)
    expect(back()).toBeLessThan(SLOW)
    const results = await all
    expect(results.map((r) => r.status)).toEqual(results.map(() => 200))
  }, 120_000)
})

describe('IMAGE_MAX_FRAMES and IMAGE_TIMEOUT_SECONDS', () => {
  const MAX_FRAMES = 50
  let server: TestServer
  let api: Client
  let stop: () => Promise<void>
  beforeAll(async () => { ({ server, api, stop } = await serve({ imageMaxFrames: MAX_FRAMES, imageTimeoutSeconds: 1 })) })
  afterAll(async () => { await stop?.() })

  /** A refused upload leaves nothing: no row, no file. */
  async function gone (id: string) {
    expect(await server.sql('SELECT id FROM uploads WHERE id = $1', [id])).toEqual([])
    expect(await server.app.storage.size(`uploads/${id}/incoming`)).toBeNull()
  }

  it('an animation of more frames is refused with IMAGE_TOO_COMPLEX and leaves nothing behind', async () => {
    const [a] = await users(api, 1)
    for (const [format, type] of [['webp', 'image/webp'], ['gif', 'image/gif']] as const) {
      const id = await send(api, server, a, await animation(MAX_FRAMES + 1, 16, format), `long.${format}`, type)
      const res = await complete(api, a, id)
      expectError(res, 400, 'IMAGE_TOO_COMPLEX')
      expect(res.body.message).toContain(`at most ${MAX_FRAMES} frames`)
      await gone(id)
      expectError(await complete(api, a, id), 404, 'NOT_FOUND')
    }
  })

  it('an animation of as many frames is kept, every frame, without its metadata', async () => {
    const [a] = await users(api, 1)
    const id = await send(api, server, a, await animation(MAX_FRAMES, 16), 'sticker.webp', 'image/webp')
    const res = await complete(api, a, id)
    expect(res.status).toBe(200)
    expect(res.body).toMatchObject({ state: 'ready', width: 16, height: 16 })
    const [row] = await server.sql('SELECT storage_key FROM uploads WHERE id = $1', [id])
    const kept = await sharp(await buffer(await server.app.storage.read(row.storage_key))).metadata()
    expect(kept.pages).toBe(MAX_FRAMES)
    expect(kept.exif).toBeUndefined()
  })

  it('an image whose work takes longer is stopped and refused with IMAGE_TOO_COMPLEX; the next image is processed', async () => {
    const [a] = await users(api, 1)
    // 50 frames of 1200×1200 (72 million pixels, under the 100 million of a decode): seconds of work, stopped after one.
    const id = await send(api, server, a, await animation(MAX_FRAMES, 1200), 'heavy.webp', 'image/webp')
    const res = await complete(api, a, id)
    expectError(res, 400, 'IMAGE_TOO_COMPLEX')
    expect(res.body.message).toContain('more than 1 s')
    await gone(id)
    const next = await complete(api, a, await send(api, server, a, await photo(), 'photo.jpg', 'image/jpeg'))
    expect(next.status).toBe(200)
    expect(next.body.state).toBe('ready')
  }, 60_000)
})

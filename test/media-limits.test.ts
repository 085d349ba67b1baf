// What one image may cost, and who waits for it (README "Attachments"): an
// image of more than 100 million pixels (an animation: all its frames), an
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
import { crc32, deflateSync } from 'node:zlib'
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

// Images whose headers declare more than 100 million pixels, a few hundred bytes each: a decompression bomb is
// refused from its header, so no pixel data is needed behind it.
const tiny = (format: 'jpeg' | 'gif' | 'avif') => sharp({ create: { width: 16, height: 16, channels: 3, background: '#884422' } })[format]().toBuffer()

/** A PNG of width×height whose pixel data is cut short (an IHDR and one IDAT of a few rows). */
function hugePng (width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, 'latin1'), data])
    const framed = Buffer.alloc(body.length + 8)
    framed.writeUInt32BE(data.length, 0)
    body.copy(framed, 4)
    framed.writeUInt32BE(crc32(body) >>> 0, body.length + 4)
    return framed
  }
  const ihdr = Buffer.alloc(13)
  ihdr.writeUInt32BE(width, 0)
  ihdr.writeUInt32BE(height, 4)
  ihdr[8] = 8 // 8 bits per sample, greyscale
  return Buffer.concat([Buffer.from('89504e470d0a1a0a', 'hex'), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(Buffer.alloc(64))), chunk('IEND', Buffer.alloc(0))])
}

/** A baseline JPEG whose frame header (SOF0) says width×height. */
async function hugeJpeg (width: number, height: number): Promise<Buffer> {
  const b = await tiny('jpeg')
  for (let i = 2; i < b.length; i += 2 + b.readUInt16BE(i + 2)) {
    if (b[i + 1] === 0xc0) {
      b.writeUInt16BE(height, i + 5)
      b.writeUInt16BE(width, i + 7)
      return b
    }
  }
  throw new Error('no SOF0')
}

/** A GIF of `frames` frames, its screen and every frame's descriptor saying width×height. */
async function hugeGif (width: number, height: number, frames = 1): Promise<Buffer> {
  const still = (background: string) => sharp({ create: { width: 16, height: 16, channels: 3, background } }).png().toBuffer()
  const stills = await Promise.all(Array.from({ length: frames }, (_, i) => still(i % 2 === 0 ? '#884422' : '#228844')))
  const b = frames === 1 ? await tiny('gif') : await sharp(stills, { join: { animated: true } }).gif().toBuffer()
  b.writeUInt16LE(width, 6)
  b.writeUInt16LE(height, 8)
  const table = (packed: number) => (packed & 0x80) === 0 ? 0 : 3 * (2 << (packed & 7))
  const skipBlocks = (i: number) => { while (b[i] !== 0) i += b[i]! + 1; return i + 1 }
  let i = 13 + table(b[10]!)
  while (b[i] !== 0x3b) {
    if (b[i] === 0x21) i = skipBlocks(i + 2)
    else if (b[i] === 0x2c) {
      b.writeUInt16LE(width, i + 5)
      b.writeUInt16LE(height, i + 7)
      i = skipBlocks(i + 10 + table(b[i + 9]!) + 1)
    } else throw new Error(`unexpected GIF block at ${i}`)
  }
  return b
}

/** A lossless WebP whose VP8L header says width×height (14 bits each, 16384 at most). */
async function hugeWebp (width: number, height: number): Promise<Buffer> {
  const b = await sharp({ create: { width: 16, height: 16, channels: 4, background: '#88442288' } }).webp({ lossless: true }).toBuffer()
  const at = b.indexOf('VP8L') + 9
  const bits = b.readUInt32LE(at)
  b.writeUInt32LE(((bits & ~0x0fffffff) | (width - 1) | ((height - 1) << 14)) >>> 0, at)
  return b
}

/** An AVIF whose image spatial extents (ispe) say width×height. */
async function hugeAvif (width: number, height: number): Promise<Buffer> {
  const b = await tiny('avif')
  const at = b.indexOf('ispe')
  b.writeUInt32BE(width, at + 8)
  b.writeUInt32BE(height, at + 12)
  return b
}

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

  // Six animations within the limits that take a while each (about a second on an idle 2-core machine),
  // completed at once. Once the first has come back the others are all at the server, queued behind each other;
  // the count of those that come back while another user's requests run says what these waited for: none (for
  // a file), or the one being processed (for an image). Were the images holding the upload slots while they
  // waited (4), the other user's requests would wait for four of them, in either case.
  const SLOW = 6
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

describe('100 million pixels, IMAGE_MAX_FRAMES and IMAGE_TIMEOUT_SECONDS', () => {
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

  it('an image past 100 million pixels is refused with IMAGE_TOO_COMPLEX in every format, an animation by all its frames', async () => {
    const [a] = await users(api, 1)
    // They answered 415 UNSUPPORTED_MEDIA_TYPE ("no image that can be decoded"), as if the bytes were no image.
    const bombs: Array<[string, string, Buffer]> = [
      ['png', 'image/png', hugePng(20_000, 20_000)],
      ['jpg', 'image/jpeg', await hugeJpeg(20_000, 20_000)],
      ['gif', 'image/gif', await hugeGif(20_000, 20_000)],
      ['webp', 'image/webp', await hugeWebp(16_000, 16_000)],
      ['avif', 'image/avif', await hugeAvif(20_000, 20_000)],
      // Two frames of 56 million pixels each: each under the limit, together past it.
      ['gif', 'image/gif', await hugeGif(8_000, 7_000, 2)]
    ]
    for (const [ext, type, bytes] of bombs) {
      expect(bytes.length).toBeLessThan(2_000)
      const id = await send(api, server, a, bytes, `bomb.${ext}`, type)
      const res = await complete(api, a, id)
      expect([type, res.status, res.body.code]).toEqual([type, 400, 'IMAGE_TOO_COMPLEX'])
      expect(res.body.message).toContain('at most 100000000 pixels')
      await gone(id)
    }
  })

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

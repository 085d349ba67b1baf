// UPLOAD_BYTES_PER_SECOND (issue 15): the local driver's uploads of one
// process share one budget of bytes per second, so that many uploads at once
// leave the cores to posts and pushes. Uploads past it still complete, only
// later; a post meanwhile is answered at once. Whose bytes go first: the
// upload with the fewest left, so uploads sent together finish one after
// another (src/storage/byte-rate.ts).
import { randomBytes } from 'node:crypto'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client, type Account, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'
import { users as registerMany } from './helpers/users.js'

const RATE = 512 * 1024
const SIZE = 512 * 1024

let server: TestServer
let api: Client

const dataDir = join(tmpdir(), `switchboard-upload-rate-${randomBytes(6).toString('hex')}`)
test.override('serverOptions', { config: { storageDriver: 'local', dataDir, uploadBytesPerSecond: RATE, uploadRateLimitPerMinute: 1_000 } })
afterAll(() => rm(dataDir, { recursive: true, force: true }))
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

const as = (who: Account) => ({ token: who.accessToken })

async function upload (who: Account, conversationId: string, bytes: Buffer): Promise<number> {
  const created = await api.post('/v1/uploads', { conversationId, filename: 'notes.txt', contentType: 'text/plain', size: bytes.length }, as(who))
  expect(created.status).toBe(201)
  const put = await fetch(new URL(created.body.uploadUrl, server.url), { method: 'PUT', headers: created.body.headers, body: bytes })
  expect(put.status).toBe(204)
  const done = await api.post(`/v1/uploads/${created.body.upload.id}/complete`, undefined, as(who))
  expect(done.status).toBe(200)
  expect(done.body.size).toBe(bytes.length)
  return Date.now()
}

describe('UPLOAD_BYTES_PER_SECOND', () => {
  it('spreads the uploads of a process over time, all of them complete, and posts are not held up', async () => {
    const [a, b] = await registerMany(api, 2)
    const group = await createGroup(api, a, [b])
    const bytes = Buffer.alloc(SIZE, 'x')
    const started = Date.now()
    // Four uploads of 512 KiB at 512 KiB/s together: about three seconds past the first burst, whatever the machine.
    const uploads = Promise.all([a, a, b, b].map((who) => upload(who, group.id, bytes)))
    const postStart = Date.now()
    await post(api, a, group.id, 'while uploading')
    const postMs = Date.now() - postStart
    const finished = await uploads
    const tookMs = Math.max(...finished) - started
    expect(tookMs).toBeGreaterThanOrEqual(2_500)
    // The post did not wait for the uploads' budget.
    expect(postMs).toBeLessThan(tookMs)
  }, 60_000)

  it('gives the budget to the upload with the fewest bytes left: two sent together finish one after the other', async () => {
    const [a, b] = await registerMany(api, 2)
    const group = await createGroup(api, a, [b])
    const bytes = Buffer.alloc(SIZE, 'y')
    const started = Date.now()
    // Shared evenly, both would end together after about two seconds; served by bytes left, one ends after
    // about 7/8 of that (every 8th turn goes to the longest-waiting chunk, so the other keeps moving).
    const [first, second] = (await Promise.all([upload(a, group.id, bytes), upload(b, group.id, bytes)]))
      .map((t) => t - started).sort((x, y) => x - y) as [number, number]
    expect(second).toBeGreaterThanOrEqual(1_500)
    expect(first).toBeLessThan(second * 0.8)
  }, 60_000)
})

// The local driver's copy on a real file system: completing an upload copies
// its bytes to a key of the completion's own (src/domain/uploads.ts), and what
// was copied must stay what was checked whatever later happens to the source.
// The driver gives the copy a second name (a hard link: no file is changed in
// place once at its key), so these hold only because every write replaces a
// file instead of writing into it. Its flushes to the disk run one at a time
// (src/storage/local.ts, Flush): many uploads at once, refused ones among
// them, are all stored whole or not at all.
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLocalStorage, type LocalStorage } from '../src/storage/local.js'
import { createSigner } from '../src/storage/signed-token.js'

describe('local storage: copies and concurrent writes', () => {
  let dir: string
  let storage: LocalStorage
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchboard-storage-'))
    storage = createLocalStorage({ root: dir, signer: createSigner('a-test-secret-of-thirty-two-chars!') })
  })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  const text = async (key: string) => (await readFile(storage.path(key))).toString()

  it('keeps the copied bytes when the source is written again or removed', async () => {
    await storage.write('uploads/u1/incoming', Buffer.from('checked bytes'), 'text/plain')
    await storage.copy('uploads/u1/incoming', 'uploads/u1/original-v1', 'text/plain')
    expect(await text('uploads/u1/original-v1')).toBe('checked bytes')

    // A PUT to the upload URL after the copy (received as every PUT is), then a write: the copy does not change.
    expect(await storage.receive('uploads/u1/incoming', Readable.from([Buffer.from('swapped by a late PUT')]), 100)).toBe(21)
    expect(await text('uploads/u1/incoming')).toBe('swapped by a late PUT')
    await storage.write('uploads/u1/incoming', Buffer.from('written again'), 'text/plain')
    expect(await text('uploads/u1/original-v1')).toBe('checked bytes')

    // The source removed (completing removes it): the copy stays, its folder too.
    await storage.remove(['uploads/u1/incoming'])
    expect(await storage.size('uploads/u1/incoming')).toBeNull()
    expect(await storage.size('uploads/u1/original-v1')).toBe(13)
    await storage.remove(['uploads/u1/original-v1'])
    await expect(stat(join(dir, 'uploads/u1'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('rejects a missing source and leaves nothing at the target', async () => {
    await expect(storage.copy('uploads/u2/incoming', 'uploads/u2/original-v1', 'text/plain')).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await storage.size('uploads/u2/original-v1')).toBeNull()
  })

  it('copies into a folder that does not exist yet', async () => {
    await storage.write('uploads/u3/incoming', Buffer.from('x'.repeat(1000)), 'text/plain')
    await storage.copy('uploads/u3/incoming', 'other/u3/original-v1', 'text/plain')
    expect(await storage.size('other/u3/original-v1')).toBe(1000)
  })

  it('stores 50 uploads at once whole, with their flushes one at a time; refused ones among them keep nothing and hold none of the others', async () => {
    const bytes = (i: number) => Buffer.alloc(64 * 1024 + i, i % 251)
    const results = await Promise.allSettled(Array.from({ length: 50 }, async (_, i) => {
      // Every tenth sends more than it may; every tenth after that is no longer wanted once its bytes are in.
      const max = i % 10 === 3 ? 1_000 : 1 << 20
      const wanted = async () => i % 10 !== 7
      const n = await storage.receive(`uploads/c${i}/incoming`, Readable.from([bytes(i)]), max, wanted)
      await storage.copy(`uploads/c${i}/incoming`, `uploads/c${i}/original-v1`, 'application/octet-stream')
      return n
    }))
    for (const [i, r] of results.entries()) {
      if (i % 10 === 3 || i % 10 === 7) {
        expect(r.status).toBe('rejected')
        expect(await storage.size(`uploads/c${i}/incoming`)).toBeNull()
        continue
      }
      expect(r).toEqual({ status: 'fulfilled', value: bytes(i).length })
      expect((await readFile(storage.path(`uploads/c${i}/original-v1`))).equals(bytes(i))).toBe(true)
    }
    // Nothing half-written remains (no temporary file of any of them).
    const left = (await readdir(join(dir, 'uploads'), { recursive: true })).filter((f) => f.includes('.part-'))
    expect(left).toEqual([])
  })
})

// The local driver's copy on a real file system: completing an upload copies
// its bytes to a key of the completion's own (src/domain/uploads.ts), and what
// was copied must stay what was checked whatever later happens to the source.
// The driver gives the copy a second name (a hard link: no file is changed in
// place once at its key), so these hold only because every write replaces a
// file instead of writing into it.
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createLocalStorage, type LocalStorage } from '../src/storage/local.js'
import { createSigner } from '../src/storage/signed-token.js'

describe('local storage: copy', () => {
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
})

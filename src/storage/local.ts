// The local driver: files under a folder (DATA_DIR/uploads). The app receives
// uploads (PUT, streamed to a temporary file that is renamed only once every
// byte arrived) and serves downloads (with HTTP range requests) at
// /v1/storage?token=..., a signed, expiring token (see signed-token.ts).
import { link, mkdir, open, rename, rm, rmdir, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { dirname, join, resolve, sep } from 'node:path'
import { Transform, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import pLimit from 'p-limit'
import { socketBytesReceived } from '../heap.js'
import type { Storage } from './storage.js'
import type { Signer } from './signed-token.js'
import type { ByteRate } from './byte-rate.js'

export const STORAGE_ROUTE = '/v1/storage'

/** The body was longer than the upload allows. */
export class TooLargeError extends Error {}

export interface LocalStorage extends Storage {
  readonly driver: 'local'
  /** Absolute path of the folder the keys live in (any characters: not a URL path). */
  readonly root: string
  /** Absolute path of a key (inside the root). */
  path (key: string): string
  /**
   * Writes a stream to `key`, refusing more than `maxBytes`: the temporary
   * file is removed on any failure, so nothing half-written stays.
   */
  receive (key: string, body: Readable, maxBytes: number, stillWanted?: () => Promise<boolean>): Promise<number>
}

/** The upload stopped wanting the bytes while they arrived (completed or deleted meanwhile): nothing was kept. */
export class NotWantedError extends Error {}

const KEY = /^[A-Za-z0-9_-]+(\/[A-Za-z0-9_.-]+)*$/

export function createLocalStorage (opts: { root: string, signer: Signer, rate?: ByteRate }): LocalStorage {
  const root = resolve(opts.root)
  const { signer } = opts
  const path = (key: string) => {
    if (!KEY.test(key) || key.split('/').includes('..')) throw new Error(`invalid storage key ${key}`)
    const p = join(root, key)
    if (!p.startsWith(root + sep)) throw new Error(`invalid storage key ${key}`)
    return p
  }
  const exp = (seconds: number) => Math.floor(Date.now() / 1000) + seconds
  // One flush to the disk at a time (see Flush).
  const flush: Flush = pLimit(1)
  const url = (token: string) => `${STORAGE_ROUTE}?token=${encodeURIComponent(token)}`

  return {
    driver: 'local',
    root,
    path,

    async uploadTarget (key, { contentType, size, expiresInSeconds }) {
      return { url: url(signer.sign({ m: 'PUT', k: key, e: exp(expiresInSeconds), s: size })), method: 'PUT', headers: { 'content-type': contentType } }
    },

    async downloadUrl (key, { expiresInSeconds, contentType, filename, disposition }) {
      return url(signer.sign({ m: 'GET', k: key, e: exp(expiresInSeconds), t: contentType, n: filename, d: disposition }))
    },

    async size (key) {
      try {
        return (await stat(path(key))).size
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
        throw err
      }
    },

    async head (key, bytes) {
      const file = await open(path(key), 'r')
      try {
        const buffer = Buffer.alloc(bytes)
        const { bytesRead } = await file.read(buffer, 0, bytes, 0)
        return buffer.subarray(0, bytesRead)
      } finally {
        await file.close()
      }
    },

    // The file is opened first: a missing one rejects here. A stream opening it itself reports that as an
    // 'error' event, which, emitted before anything listens (copy's writeDurably awaits a mkdir first), was an
    // uncaught exception that ended the process (two completions of one upload at once: test/attachments.test.ts).
    async read (key) {
      return (await open(path(key), 'r')).createReadStream()
    },

    async write (key, body) {
      await writeDurably(flush, path(key), [async function * () { yield body }])
    },

    // A file is never changed once at its key (every write goes to a temporary file renamed into place), so a copy
    // is a second name for the same bytes: a hard link, whatever the size. Streamed, completing a 100 MB upload read
    // and wrote it all again, its chunks as fast as the disk gave them, with no socket to pace them: the memory the
    // process then kept (bench scenario 8, README "Attachments"). Streamed still where the file system has no links.
    async copy (from, to) {
      if (await linkDurably(flush, path(from), path(to))) return
      const source = (await open(path(from), 'r')).createReadStream()
      try {
        await writeDurably(flush, path(to), [source])
      } finally {
        // Closes the file also when writeDurably failed before reading it (a stream that ended is left as it is).
        source.destroy()
      }
    },

    async receive (key, body, maxBytes, stillWanted) {
      let received = 0
      const limit = new Transform({
        transform (chunk: Buffer, _encoding, done) {
          received += chunk.length
          socketBytesReceived(chunk.length)
          if (received > maxBytes) done(new TooLargeError(`more than ${maxBytes} bytes`))
          else done(null, chunk)
        }
      })
      await writeDurably(flush, path(key), [body, limit, ...(opts.rate === undefined ? [] : [opts.rate.stream(maxBytes)])], stillWanted)
      return received
    },

    async remove (keys) {
      await Promise.all(keys.map(async (key) => {
        await rm(path(key), { force: true })
        // The upload's folder goes with its last file (rmdir refuses a folder that still holds one; rm, without
        // recursive, refused every folder, and each upload ever made left its empty folder for good).
        await rmdir(dirname(path(key))).catch(() => {})
      }))
    },

    async close () {}
  }
}

/**
 * Runs the driver's flushes to the disk (a file's fdatasync, a folder's fsync)
 * one at a time, in the order they come. Concurrent flushes of uploads (the
 * folders' ones are journal commits of the file system) held the flushes of
 * everything else on the disk, PostgreSQL's WAL at every commit among them:
 * with 30 uploads of 1 MB a second on the bench machine's one disk, an 8 KiB
 * write and fdatasync beside them (the WAL's pattern) took 13-15 ms at p99 and
 * 30-39 ms at p99.9 with the flushes concurrent, 0.9-2.0 and 6-11 ms with
 * them one at a time, for the same uploads per second (README "Against the
 * targets", the uploaders' post→push). A flush waits for the ones before it:
 * a large file's holds a small one's by as long as its bytes take to reach
 * the disk.
 */
type Flush = <T>(fn: () => Promise<T>) => Promise<T>

/**
 * Writes a file that is whole or absent, also after a crash: the bytes go to a
 * temporary file, are flushed to the disk (fdatasync), and only then renamed
 * to `target`, whose folder is flushed too, so that an upload is not answered
 * as stored while its bytes are still only in the page cache (a crash would
 * leave an empty or partial file under a ready upload).
 */
async function writeDurably (flush: Flush, target: string, sources: Array<NodeJS.ReadableStream | Transform | (() => AsyncGenerator<Buffer>)>, stillWanted?: () => Promise<boolean>): Promise<void> {
  const folder = dirname(target)
  const part = `${target}.part-${randomBytes(6).toString('hex')}`
  const output = await inFolder(folder, async () => await open(part, 'wx'))
  try {
    await pipeline([...sources, output.createWriteStream()] as unknown as [NodeJS.ReadableStream, NodeJS.WritableStream])
    // The bytes of the closed file, through a handle of its own (the page cache is the file's, not the handle's).
    const file = await open(part, 'r+')
    try {
      await flush(async () => await file.datasync())
    } finally {
      await file.close()
    }
    // Asked last, just before the bytes take the key: a PUT that outlived its upload's pending state keeps nothing.
    if (stillWanted !== undefined && !await stillWanted()) throw new NotWantedError('the upload no longer takes bytes')
  } catch (err) {
    await rm(part, { force: true })
    throw err
  }
  await rename(part, target)
  await flush(async () => await syncFolder(folder))
}

/** What link() answers on a file system without hard links (or across two): the copy is streamed instead. */
const NO_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'EXDEV', 'EMLINK', 'ENOSYS'])

/**
 * Gives `source`'s file a second name, `target`, durably (the folder flushed after): false where the file system
 * cannot. A missing source rejects (ENOENT), as reading it would; so does a target that exists.
 */
async function linkDurably (flush: Flush, source: string, target: string): Promise<boolean> {
  const folder = dirname(target)
  try {
    await inFolder(folder, async () => {
      try {
        await link(source, target)
      } catch (err) {
        // A missing source is ENOENT too, and stays missing: stat rejects it here instead of retrying.
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') await stat(source)
        throw err
      }
    })
  } catch (err) {
    if (NO_LINKS.has((err as NodeJS.ErrnoException).code ?? '')) return false
    throw err
  }
  await flush(async () => await syncFolder(folder))
  return true
}

/** Flushes a folder's entries (a file renamed or linked into it) to the disk. */
async function syncFolder (folder: string): Promise<void> {
  const dir = await open(folder, 'r')
  try {
    await dir.sync()
  } finally {
    await dir.close()
  }
}

/**
 * Creates an entry in `folder` with `make`, the folder made first. remove() takes an upload's folder with its
 * last file, so the folder may go before the entry is created in it: it is made again then (ENOENT; three tries).
 */
async function inFolder<T> (folder: string, make: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    await mkdir(folder, { recursive: true })
    try {
      return await make()
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT' || attempt === 3) throw err
    }
  }
}

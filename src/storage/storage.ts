// Where uploaded files live. One interface, two drivers: local (files under
// DATA_DIR/uploads, served and received by the app itself, see
// routes/storage.ts) and s3 (any S3-compatible store; clients send and fetch
// the bytes directly with presigned URLs, the app never carries them).
import type { Readable } from 'node:stream'

export interface UploadTarget {
  /** Absolute (s3) or relative to the API origin (local). */
  url: string
  method: 'PUT'
  /** Headers the client must send with the bytes. */
  headers: Record<string, string>
}

export interface DownloadOptions {
  expiresInSeconds: number
  contentType: string
  filename: string
  /** inline for media shown in place; attachment for everything else (never rendered from our origin). */
  disposition: 'inline' | 'attachment'
}

export interface Storage {
  readonly driver: 'local' | 's3'
  /** Where the client sends the bytes of `key`: at most `size` of them, before `expiresInSeconds`. */
  uploadTarget (key: string, opts: { contentType: string, size: number, expiresInSeconds: number }): Promise<UploadTarget>
  /** A URL that serves `key` until it expires. */
  downloadUrl (key: string, opts: DownloadOptions): Promise<string>
  /** Size of a stored object, or null when there is none. */
  size (key: string): Promise<number | null>
  /** The first `bytes` bytes (fewer for a shorter object). */
  head (key: string, bytes: number): Promise<Buffer>
  /** The whole object as a stream. */
  read (key: string): Promise<Readable>
  write (key: string, body: Buffer, contentType: string): Promise<void>
  /** Copies an object to another key (whole, or not at all). */
  copy (from: string, to: string, contentType: string): Promise<void>
  /** Deletes these objects; missing ones are no error. */
  remove (keys: string[]): Promise<void>
  close (): Promise<void>
}

/**
 * Keys of an upload's files. The client sends the bytes to `incoming`, the only
 * key an upload URL is ever issued for; completing checks them there and copies
 * what it accepted to a key of its own (`original` with a random suffix, made
 * once per completion), so nothing sent later (a URL used again, a PUT still
 * in flight) can replace what was checked and posted.
 */
export const storageKeys = (uploadId: string) => ({
  incoming: `uploads/${uploadId}/incoming`,
  original: (version: string) => `uploads/${uploadId}/original-${version}`,
  thumbnail: (version: string) => `uploads/${uploadId}/thumbnail-${version}`
})

// The s3 driver: any S3-compatible store through the AWS SDK. Clients PUT and
// GET the bytes with presigned URLs; the app only reads an object's head (type
// sniffing) and images (thumbnails) and writes thumbnails.
import { CopyObjectCommand, DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3'
import { getSignedUrl } from '@aws-sdk/s3-request-presigner'
import type { Readable } from 'node:stream'
import type { Storage } from './storage.js'

export interface S3Options {
  bucket: string
  region: string
  endpoint?: string | undefined
  forcePathStyle: boolean
  credentials?: { accessKeyId: string, secretAccessKey: string } | undefined
}

const missing = (err: unknown) => err instanceof S3ServiceException && (err.$metadata.httpStatusCode === 404 || err.name === 'NotFound' || err.name === 'NoSuchKey')

/** Types served as they are though not media: browsers show them as text or hand them to a viewer, never run them as a page. */
const PASSIVE = new Set(['text/plain', 'application/pdf', 'application/zip', 'application/octet-stream'])

/**
 * What a presigned GET makes the store send. S3 lets a URL override only
 * Content-Type, Content-Disposition, Cache-Control (and Content-Language,
 * Content-Encoding, Expires): no X-Content-Type-Options, no CSP sandbox, as
 * the local driver sends. So the type and the disposition must be safe by
 * themselves: inline only for media a browser shows as such (raster images,
 * video, audio; never SVG, HTML or XML, which run script); any other file is
 * an attachment, and goes as application/octet-stream unless its type is one
 * no browser renders as a page (a text/html upload would otherwise be a page
 * of the bucket's origin to a browser that ignored the attachment).
 */
export function servedAs (contentType: string, disposition: 'inline' | 'attachment'): { contentType: string, disposition: 'inline' | 'attachment' } {
  const type = (contentType.split(';')[0] ?? '').trim().toLowerCase()
  const media = /^(image\/(jpeg|png|gif|webp|avif)|(video|audio)\/[a-z0-9][a-z0-9.+-]*)$/.test(type) && !/xml|html|script/.test(type)
  return {
    contentType: media || PASSIVE.has(type) ? contentType : 'application/octet-stream',
    disposition: media && disposition === 'inline' ? 'inline' : 'attachment'
  }
}

/** RFC 6266 filename parameters: an ASCII fallback and the UTF-8 name. */
export function contentDisposition (disposition: 'inline' | 'attachment', filename: string): string {
  const ascii = filename.replace(/[^\x20-\x7e]|["\\]/g, '_')
  return `${disposition}; filename="${ascii}"; filename*=UTF-8''${encodeURIComponent(filename)}`
}

export function createS3Storage (opts: S3Options): Storage {
  const client = new S3Client({
    region: opts.region,
    forcePathStyle: opts.forcePathStyle,
    // Checksums only where the API requires them: a presigned PUT must not
    // demand a checksum header that browsers and other clients do not send.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    ...(opts.endpoint === undefined ? {} : { endpoint: opts.endpoint }),
    ...(opts.credentials === undefined ? {} : { credentials: opts.credentials })
  })
  const Bucket = opts.bucket

  return {
    driver: 's3',

    async uploadTarget (key, { contentType, size, expiresInSeconds }) {
      const url = await getSignedUrl(client, new PutObjectCommand({ Bucket, Key: key, ContentType: contentType, ContentLength: size }), {
        expiresIn: expiresInSeconds,
        // Signed as headers: the client must send exactly this Content-Type, and exactly the declared
        // number of bytes (every HTTP client sends Content-Length itself; browsers do not let a page set it).
        signableHeaders: new Set(['content-type', 'content-length'])
      })
      return { url, method: 'PUT', headers: { 'content-type': contentType } }
    },

    async downloadUrl (key, { expiresInSeconds, contentType, filename, disposition }) {
      const served = servedAs(contentType, disposition)
      return getSignedUrl(client, new GetObjectCommand({
        Bucket,
        Key: key,
        ResponseContentType: served.contentType,
        ResponseContentDisposition: contentDisposition(served.disposition, filename),
        // The bytes of a key never change (each completion writes keys of its own): kept until the URL expires.
        ResponseCacheControl: `private, max-age=${expiresInSeconds}, immutable`
      }), { expiresIn: expiresInSeconds })
    },

    async size (key) {
      try {
        const head = await client.send(new HeadObjectCommand({ Bucket, Key: key }))
        return head.ContentLength ?? 0
      } catch (err) {
        if (missing(err)) return null
        throw err
      }
    },

    async head (key, bytes) {
      try {
        const object = await client.send(new GetObjectCommand({ Bucket, Key: key, Range: `bytes=0-${bytes - 1}` }))
        return Buffer.from(await object.Body!.transformToByteArray())
      } catch (err) {
        // An empty object has no range to serve.
        if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 416) return Buffer.alloc(0)
        throw err
      }
    },

    async read (key) {
      const object = await client.send(new GetObjectCommand({ Bucket, Key: key }))
      return object.Body as Readable
    },

    // What the app writes is stored as an attachment: a GET without the overrides of a presigned URL (a bucket or
    // CDN made public by mistake) downloads it instead of showing it. S3 keeps no X-Content-Type-Options per object
    // (only Content-Type, Content-Disposition, Cache-Control, Content-Encoding, Content-Language, Expires and x-amz-meta-*).
    async write (key, body, contentType) {
      await client.send(new PutObjectCommand({ Bucket, Key: key, Body: body, ContentType: contentType, ContentDisposition: 'attachment' }))
    },

    async copy (from, to, contentType) {
      await client.send(new CopyObjectCommand({
        Bucket, Key: to, CopySource: `${Bucket}/${from}`, ContentType: contentType, ContentDisposition: 'attachment', MetadataDirective: 'REPLACE'
      }))
    },

    async remove (keys) {
      await Promise.all(keys.map((Key) => client.send(new DeleteObjectCommand({ Bucket, Key }))))
    },

    async close () {
      client.destroy()
    }
  }
}

// The local driver's bytes (STORAGE_DRIVER=local): uploads are streamed to
// disk as they arrive (never held whole in memory) and downloads served with
// range and conditional requests (ETag, Last-Modified, 304), both at
// /v1/storage?token=<signed token>, as a presigned S3 URL would be: no
// Authorization header, the token is the grant.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import send, { type SendResult } from '@fastify/send'
import { stat } from 'node:fs/promises'
import type { IncomingMessage } from 'node:http'
import type { FastifyReply } from 'fastify'
import { Type } from 'typebox'
import { AppError, notFound } from '../domain/errors.js'
import { contentDisposition } from '../storage/s3.js'
import { createSigner } from '../storage/signed-token.js'
import { NotWantedError, TooLargeError, type LocalStorage } from '../storage/local.js'
import { errorResponses } from '../schemas/common.js'
import { StorageQuery } from '../schemas/uploads.js'

const expired = () => new AppError(403, 'FORBIDDEN', 'The URL is invalid or has expired; ask for a new one')

const routes: FastifyPluginAsyncTypebox<{ storage: LocalStorage, secret: string }> = async (app, opts) => {
  const { storage } = opts
  const signer = createSigner(opts.secret)
  const tags = ['attachments']

  // The body stays a stream: the handler pipes it to disk.
  app.removeAllContentTypeParsers()
  app.addContentTypeParser('*', (_request, _payload, done) => { done(null) })

  app.put('/storage', {
    schema: {
      security: [],
      tags,
      operationId: 'putStorageObject',
      summary: 'Local driver: the uploadUrl of POST /v1/uploads (send the bytes as the body)',
      description: 'More bytes than declared: 413 FILE_TOO_LARGE; fewer: 400 SIZE_MISMATCH; either way nothing is kept. An invalid or expired token: 403.',
      querystring: StorageQuery,
      response: { 204: Type.Null(), ...errorResponses(400, 403, 404, 413) }
    }
  }, async (request, reply) => {
    const grant = signer.verify(request.query.token, 'PUT')
    if (grant === null) throw expired()
    const upload = await app.uploads.pendingForWrite(grant.k)
    if (upload === null) throw notFound('Upload')
    let received: number
    try {
      received = await storage.receive(grant.k, request.raw, grant.s ?? upload.size,
        async () => (await app.uploads.pendingForWrite(grant.k)) !== null)
    } catch (err) {
      if (err instanceof NotWantedError) throw notFound('Upload')
      if (err instanceof TooLargeError) {
        // The rest of the body is not read: close the connection after answering.
        reply.header('connection', 'close')
        throw new AppError(413, 'FILE_TOO_LARGE', `The upload declared ${upload.size} bytes; more were sent`)
      }
      throw err
    }
    if (received !== upload.size) {
      await storage.remove([grant.k])
      throw new AppError(400, 'SIZE_MISMATCH', `Declared ${upload.size} bytes, received ${received}`)
    }
    return reply.code(204).send(null)
  })

  app.get('/storage', {
    schema: {
      security: [],
      tags,
      operationId: 'getStorageObject',
      summary: 'Local driver: a signed download URL (supports Range and conditional requests)',
      description: 'ETag and Last-Modified; If-None-Match / If-Modified-Since: 304; If-Range that does not hold: the whole file (200). ' +
        'An invalid or expired token: 403.',
      querystring: StorageQuery,
      response: {
        200: { description: 'The file', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        206: { description: 'The requested range', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        304: { description: 'Not modified: the copy the client holds (If-None-Match, If-Modified-Since) is current' },
        ...errorResponses(400, 403, 404, 412, 416)
      }
    }
  }, async (request, typedReply) => {
    // The reply carries a stream and statuses the body schemas do not describe.
    const reply = typedReply as unknown as FastifyReply
    const grant = signer.verify(request.query.token, 'GET')
    if (grant === null) throw expired()
    const result = await serve(request.raw, storage, grant.k)
    if (result.type !== 'file') {
      result.stream.resume()
      if (result.statusCode === 404 || result.type === 'directory') throw notFound('File')
      if (result.statusCode === 412) throw new AppError(412, 'PRECONDITION_FAILED', 'If-Match or If-Unmodified-Since does not hold for this file')
      // An empty body, not null: Fastify's HEAD route resumes the payload it is given.
      if (result.statusCode === 416) return reply.code(416).headers(result.headers).send('')
      throw (result.metadata as { error?: Error }).error ?? new Error('could not serve the file')
    }
    reply
      .code(result.statusCode)
      .headers(result.headers)
      // Never rendered as a page of our origin, whatever the file holds.
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; sandbox")
      // The bytes of a key never change (each completion writes keys of its own), so the URL's answer holds until
      // it expires: a client keeps it that long without asking again; a 304 carries the same (RFC 9110 15.4.5).
      .header('cache-control', `private, max-age=${Math.max(0, grant.e - Math.floor(Date.now() / 1000))}, immutable`)
    if (result.statusCode === 304) {
      result.stream.resume()
      // No payload at all: an empty string would get Fastify's text/plain Content-Type.
      return reply.send()
    }
    return reply
      .header('content-type', grant.t ?? 'application/octet-stream')
      .header('content-disposition', contentDisposition(grant.d ?? 'attachment', grant.n ?? 'file'))
      .send(result.stream)
  })
}

/**
 * A stored file through @fastify/send: ranges, ETag, Last-Modified and the
 * conditional requests. send takes a URL path, which it decodes: the key goes
 * as one, under `root` (a folder path, taken as it is), so that a DATA_DIR
 * with `%`, `#`, `?` or spaces serves its files.
 *
 * Where send departs from RFC 9110, send sees the request adjusted:
 * - it answers 200 to If-None-Match / If-Modified-Since whenever the request
 *   says `Cache-Control: no-cache`, which fetch() adds to every request that
 *   sets a conditional header itself (Fetch standard, HTTP-network-or-cache
 *   fetch): a client revalidating the copy it keeps never got its 304. That
 *   directive asks caches to validate with the origin (RFC 9111 5.2.1.4),
 *   which is what evaluating the condition here does, so send does not see it;
 * - its If-Range lets an entity tag equal to ours hold, but ours is weak (size
 *   and mtime) and a weak tag never holds there (a strong comparison), and any
 *   date not before Last-Modified, where only Last-Modified itself does
 *   (13.1.5): when it does not hold, send does not see the Range, and the
 *   whole file is answered (200).
 */
async function serve (raw: IncomingMessage, storage: LocalStorage, key: string): Promise<SendResult> {
  const path = storage.path(key) // refuses a key outside the root
  const urlPath = key.split('/').map(encodeURIComponent).join('/')
  const options = { root: storage.root, index: false as const, acceptRanges: true, etag: true, lastModified: true, cacheControl: false, contentType: false, dotfiles: 'allow' as const }
  const { 'cache-control': _cacheControl, pragma: _pragma, ...headers } = raw.headers
  const ifRange = raw.headers['if-range']
  if (headers.range !== undefined && typeof ifRange === 'string') {
    // send's Last-Modified is the file's mtime as an HTTP date.
    const modified = await stat(path).then((s) => s.mtime.toUTCString(), () => null)
    if (ifRange.includes('"') || modified === null || Date.parse(ifRange) !== Date.parse(modified)) delete headers.range
  }
  // send reads nothing of the request but its method and headers.
  return send({ method: raw.method, headers } as unknown as IncomingMessage, urlPath, options)
}

export default routes

// The local driver's bytes (STORAGE_DRIVER=local): uploads are streamed to
// disk as they arrive (never held whole in memory) and downloads served with
// range requests, both at /v1/storage?token=<signed token>, as a presigned
// S3 URL would be: no Authorization header, the token is the grant.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import send from '@fastify/send'
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
      summary: 'Local driver: a signed download URL (supports Range requests)',
      description: 'An invalid or expired token: 403.',
      querystring: StorageQuery,
      response: {
        200: { description: 'The file', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        206: { description: 'The requested range', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        ...errorResponses(400, 403, 404, 416)
      }
    }
  }, async (request, typedReply) => {
    // The reply carries a stream and statuses the body schemas do not describe.
    const reply = typedReply as unknown as FastifyReply
    const grant = signer.verify(request.query.token, 'GET')
    if (grant === null) throw expired()
    const result = await send(request.raw, storage.path(grant.k), { acceptRanges: true, etag: true, lastModified: true, cacheControl: false, contentType: false, dotfiles: 'allow' })
    if (result.type !== 'file') {
      if (result.statusCode === 404 || result.type === 'directory') throw notFound('File')
      if (result.statusCode === 416) {
        result.stream.resume()
        // An empty body, not null: Fastify's HEAD route resumes the payload it is given.
        return reply.code(416).headers(result.headers).send('')
      }
      throw (result.metadata as { error?: Error }).error ?? new Error('could not serve the file')
    }
    return reply
      .code(result.statusCode)
      .headers(result.headers)
      .header('content-type', grant.t ?? 'application/octet-stream')
      .header('content-disposition', contentDisposition(grant.d ?? 'attachment', grant.n ?? 'file'))
      // Never rendered as a page of our origin, whatever the file holds.
      .header('x-content-type-options', 'nosniff')
      .header('content-security-policy', "default-src 'none'; sandbox")
      .header('cache-control', 'private, max-age=60')
      .send(result.stream)
  })
}

export default routes

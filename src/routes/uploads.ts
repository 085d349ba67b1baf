// Uploads, attachment downloads and pictures (README "Attachments").
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyRequest } from 'fastify'
import { Type } from 'typebox'
import { errorResponses, IdParams } from '../schemas/common.js'
import { AttachmentUrls, CreatedUpload, CreateUploadBody, Upload, VariantParams } from '../schemas/uploads.js'
import { writeBudget } from './budgets.js'

const routes: FastifyPluginAsyncTypebox = async (app) => {
  const { uploads } = app
  const security = [{ bearer: [] }]
  const tags = ['attachments']
  const uploadRef = { $ref: 'Upload' } as unknown as typeof Upload
  const redirect = {
    200: Type.Object({ url: Type.String(), expiresAt: Type.String({ format: 'date-time' }) }, { description: 'With ?redirect=false: the signed URL as JSON' }),
    302: Type.Null({ description: 'Location: a short-lived signed URL of the file' })
  }
  const RedirectQuery = Type.Boolean({ default: true, description: 'false: answer the signed URL as JSON (200) instead of redirecting to it' })
  const expiresAt = () => new Date(Date.now() + app.config.downloadUrlTtlSeconds * 1000).toISOString()

  app.post('/uploads', {
    onRequest: app.authenticate,
    // Per user, counted after authentication.
    config: {
      rateLimit: {
        max: app.config.uploadRateLimitPerMinute,
        timeWindow: 60_000,
        hook: 'preHandler',
        keyGenerator: (request: FastifyRequest) => request.auth.userId
      }
    },
    schema: {
      security,
      tags,
      operationId: 'createUpload',
      summary: 'Start an upload: answers where to PUT the bytes (a presigned URL for s3, an app URL for local)',
      description: 'Limits (README "Attachments"): a type outside UPLOAD_ALLOWED_TYPES: 415 UNSUPPORTED_MEDIA_TYPE; a size above the limit ' +
        'of its kind (UPLOAD_MAX_*_BYTES): 413 FILE_TOO_LARGE; past the per-user storage quota (UPLOAD_QUOTA_BYTES): 413 QUOTA_EXCEEDED; ' +
        'more than UPLOAD_RATE_LIMIT_PER_MINUTE uploads a minute: 429 RATE_LIMITED. A conversationId the caller is not a member of: 404. ' +
        'The upload is usable once completed (POST /v1/uploads/{id}/complete); one never attached is deleted after UPLOAD_UNATTACHED_TTL_SECONDS.',
      body: CreateUploadBody,
      response: { 201: CreatedUpload, ...errorResponses(400, 401, 404, 413, 415, 429) }
    }
  }, async (request, reply) => reply.code(201).send(await uploads.create(request.auth.userId, request.body)))

  app.post('/uploads/:id/complete', {
    onRequest: app.authenticate,
    config: writeBudget(app),
    schema: {
      security,
      tags,
      operationId: 'completeUpload',
      summary: 'Finish an upload once its bytes are sent: checks the size, reads the real type from the bytes, makes thumbnails',
      description: 'Nothing uploaded yet: 409 UPLOAD_INCOMPLETE (send the bytes, then complete again). Any other refusal removes the upload and its ' +
        'bytes: a size other than declared: 400 SIZE_MISMATCH; bytes that are not of the declared type (a .png that is text) or of a type not ' +
        'accepted: 415 UNSUPPORTED_MEDIA_TYPE; a real kind whose limit the size passes: 413 FILE_TOO_LARGE; an image of more than 100 million ' +
        'pixels (an animation: all its frames), an animation of more than IMAGE_MAX_FRAMES frames, or an image not processed within ' +
        'IMAGE_TIMEOUT_SECONDS: 400 IMAGE_TOO_COMPLEX. Images get width, height, a thumbnail and a placeholder, and lose their metadata ' +
        '(EXIF, GPS, XMP, IPTC): re-encoded, one can grow, and `size` is then what is stored, which counts against the quota; past the ' +
        'image limit or the quota it is refused (413 FILE_TOO_LARGE, 413 QUOTA_EXCEEDED). Completing again answers the same upload.',
      params: IdParams,
      response: { 200: uploadRef, ...errorResponses(400, 401, 404, 409, 413, 415, 429) }
    }
  }, async (request) => uploads.complete(request.auth.userId, request.params.id))

  app.get('/attachments/:id', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'getAttachmentUrls',
      summary: 'Short-lived signed URLs of an attachment (DOWNLOAD_URL_TTL_SECONDS), for members who can see its message',
      description: 'The same window as history: a current member who joined before the message. Anyone else (a removed member too): 404. ' +
        'A URL already handed out keeps working until it expires.',
      params: IdParams,
      response: { 200: AttachmentUrls, ...errorResponses(400, 401, 404) }
    }
  }, async (request) => uploads.attachmentUrls(request.auth.userId, request.params.id))

  app.get('/attachments/:id/:variant', {
    onRequest: app.authenticate,
    schema: {
      security,
      tags,
      operationId: 'openAttachment',
      summary: 'The url and thumbnailUrl of an Attachment: 302 to a short-lived signed URL of the bytes (content) or the thumbnail',
      description: 'As GET /v1/attachments/{id}: only for members who can see the message, else 404; an attachment without a thumbnail: 404.',
      params: VariantParams,
      querystring: Type.Object({ redirect: Type.Optional(RedirectQuery) }),
      response: { ...redirect, ...errorResponses(400, 401, 404) }
    }
  }, async (request, reply) => {
    const url = await uploads.attachmentUrl(request.auth.userId, request.params.id, request.params.variant)
    return request.query.redirect === false ? reply.send({ url, expiresAt: expiresAt() }) : reply.redirect(url, 302)
  })

  app.get('/media/:id', {
    schema: {
      security: [],
      tags,
      operationId: 'openPicture',
      summary: 'An avatar or group picture (avatarUrl, pictureUrl): 302 to a short-lived signed URL; no token needed',
      description: 'Only uploads in use as an avatar or a group picture; anything else: 404. ?variant=thumbnail: the thumbnail.',
      params: IdParams,
      querystring: Type.Object({
        variant: Type.Optional(Type.Union([Type.Literal('content'), Type.Literal('thumbnail')], { default: 'content' })),
        redirect: Type.Optional(RedirectQuery)
      }),
      response: { ...redirect, ...errorResponses(400, 404) }
    }
  }, async (request, reply) => {
    const url = await uploads.mediaUrlFor(request.params.id, request.query.variant ?? 'content')
    return request.query.redirect === false ? reply.send({ url, expiresAt: expiresAt() }) : reply.redirect(url, 302)
  })
}

export default routes

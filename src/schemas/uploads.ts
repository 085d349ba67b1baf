// Uploads (README "Attachments"): starting one, completing it, and the signed
// URLs of attachments.
import { Type } from 'typebox'
import { Timestamp, Uuid } from './common.js'

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(schema: T) => Type.Union([schema, Type.Null()])

export const CreateUploadBody = Type.Object({
  conversationId: Type.Optional(Nullable({ ...Uuid, description: 'The conversation the file will be posted in (the caller must be a member); null or absent for an avatar or group picture' })),
  filename: Type.String({ minLength: 1, maxLength: 255, pattern: '^[^\\u0000-\\u001f\\u007f/\\\\]+$', description: 'Shown to recipients and used for downloads; no slashes or control characters' }),
  contentType: Type.String({ minLength: 3, maxLength: 127, pattern: '^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]*$', description: 'Declared media type; the bytes decide in the end (POST /v1/uploads/{id}/complete)' }),
  size: Type.Integer({ minimum: 1, maximum: 2147483647, description: 'Exact size in bytes' })
}, { additionalProperties: false })

export const Upload = Type.Object({
  id: Uuid,
  state: Type.Union([Type.Literal('pending'), Type.Literal('ready'), Type.Literal('attached'), Type.Literal('avatar'), Type.Literal('picture')]),
  conversationId: Nullable(Uuid),
  kind: Type.Union([Type.Literal('image'), Type.Literal('video'), Type.Literal('audio'), Type.Literal('file')]),
  contentType: Type.String(),
  size: Type.Integer(),
  filename: Type.String(),
  width: Nullable(Type.Integer()),
  height: Nullable(Type.Integer()),
  placeholder: Nullable(Type.String()),
  createdAt: Timestamp
}, { $id: 'Upload', description: 'An upload: pending until completed, then ready to post (or to become an avatar or group picture)' })

export const CreatedUpload = Type.Object({
  upload: Type.Ref('Upload'),
  uploadUrl: Type.String({ description: 'Send the bytes here (absolute for the s3 driver, relative to the API origin for local), no Authorization header' }),
  method: Type.Literal('PUT'),
  headers: Type.Record(Type.String(), Type.String(), { description: 'Headers to send with the bytes (Content-Type)' }),
  expiresAt: Timestamp
})

export const AttachmentUrls = Type.Object({
  url: Type.String({ description: 'Short-lived signed URL of the bytes (absolute for s3, relative to the API origin for local)' }),
  thumbnailUrl: Nullable(Type.String({ description: 'Short-lived signed URL of the thumbnail (images)' })),
  expiresAt: Timestamp
})

export const StorageQuery = Type.Object({ token: Type.String({ minLength: 10, maxLength: 4096, description: 'The signed token of the URL' }) })
export const VariantParams = Type.Object({ id: Uuid, variant: Type.Union([Type.Literal('content'), Type.Literal('thumbnail')]) })

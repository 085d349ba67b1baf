// Schemas shared by routes, OpenAPI, tests and the client SDK.
import { Type, type Static } from 'typebox'

export const Uuid = Type.String({ format: 'uuid', description: 'Opaque id (UUIDv7)' })
export const Timestamp = Type.String({ format: 'date-time', description: 'ISO 8601, UTC' })

export const ErrorBody = Type.Object({
  statusCode: Type.Integer(),
  error: Type.String(),
  code: Type.String({ description: 'Stable machine-readable error code' }),
  message: Type.String()
}, { $id: 'ErrorBody', description: 'Every error response has this body' })
export type ErrorBody = Static<typeof ErrorBody>

export const errorResponses = (...statuses: number[]) =>
  Object.fromEntries(statuses.map((s) => [s, Type.Ref('ErrorBody')]))

export const IdParams = Type.Object({ id: Uuid })
export type IdParams = Static<typeof IdParams>

export const PageLimit = Type.Integer({ minimum: 1, maximum: 100, default: 50, description: 'Page size, 1-100' })

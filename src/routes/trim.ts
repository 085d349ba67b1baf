// API.md counts lengths (message body, title, display name) after trimming,
// so these fields are trimmed before the schema checks them: surrounding
// whitespace neither counts against a limit nor is stored. The request body
// limit still caps the raw size.
import type { FastifyRequest } from 'fastify'

/** A preValidation hook that trims the named top-level string fields of the body. */
export function trimFields (...fields: string[]) {
  return async function trim (request: FastifyRequest): Promise<void> {
    const payload = request.body as Record<string, unknown> | null
    if (typeof payload !== 'object' || payload === null) return
    for (const field of fields) {
      const value = payload[field]
      if (typeof value === 'string') payload[field] = value.trim()
    }
  }
}

import { uuidv7 } from 'uuidv7'

/** Time-ordered ids (UUIDv7): index-friendly and sortable by creation. */
export const newId = (): string => uuidv7()

// The one spelling of an id: lower-case hex, 8-4-4-4-12, as PostgreSQL writes
// a uuid back. PostgreSQL also reads braces, upper case and other hyphen
// placements (and refuses ajv-formats' `urn:uuid:`), but an id compared as a
// string (sessions, memberships, direct-conversation keys) must have one form.
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/
export const isUuid = (value: string) => UUID.test(value)

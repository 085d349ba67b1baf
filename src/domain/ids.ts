import { uuidv7 } from 'uuidv7'

/** Time-ordered ids (UUIDv7): index-friendly and sortable by creation. */
export const newId = (): string => uuidv7()

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
export const isUuid = (value: string) => UUID.test(value)

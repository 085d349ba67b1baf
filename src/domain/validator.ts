// The one JSON Schema validator set-up, for REST requests (plugins/app/
// validation.ts) and WebSocket frames (realtime/protocol.ts): the same schemas
// are checked by the same rules wherever a client's input arrives.
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { isUuid } from './ids.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/** Query strings and path params arrive as text and are coerced ('array'); JSON input is not (false). */
export function createValidator (coerceTypes: false | 'array'): Ajv {
  const ajv = new Ajv({ removeAdditional: true, useDefaults: true, coerceTypes, allErrors: false, strict: false })
  addFormats(ajv)
  // ajv-formats' uuid also takes `urn:uuid:...` (PostgreSQL refuses it) and
  // upper case: every id schema gets the one canonical spelling instead.
  ajv.addFormat('uuid', isUuid)
  return ajv
}

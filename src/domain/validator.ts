// The one JSON Schema validator set-up, for REST requests (plugins/app/
// validation.ts) and WebSocket frames (realtime/protocol.ts): the same schemas
// are checked by the same rules wherever a client's input arrives.
import { Ajv, type SchemaValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { isUuid } from './ids.js'
import { passwordLength } from './passwords.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

/** Query strings and path params arrive as text and are coerced ('array'); JSON input is not (false). */
export function createValidator (coerceTypes: false | 'array'): Ajv {
  const ajv = new Ajv({ removeAdditional: true, useDefaults: true, coerceTypes, allErrors: false, strict: false })
  addFormats(ajv)
  // ajv-formats' uuid also takes `urn:uuid:...` (PostgreSQL refuses it) and
  // upper case: every id schema gets the one canonical spelling instead.
  ajv.addFormat('uuid', isUuid)
  ajv.addKeyword({ keyword: 'x-nfkc-length', type: 'string', schemaType: 'object', errors: true, validate: nfkcLength })
  return ajv
}

/**
 * `x-nfkc-length: { minLength, maxLength }`: a password's bounds, counted as
 * it is hashed and compared, in Unicode NFKC (domain/passwords.ts), so the
 * same password typed composed or decomposed has one length. Its errors read
 * as those of minLength and maxLength.
 */
const nfkcLength: SchemaValidateFunction = (bounds: { minLength: number, maxLength: number }, data: string) => {
  const length = passwordLength(data)
  const [keyword, limit, message] = length < bounds.minLength
    ? ['minLength', bounds.minLength, `must NOT have fewer than ${bounds.minLength} characters`]
    : length > bounds.maxLength
      ? ['maxLength', bounds.maxLength, `must NOT have more than ${bounds.maxLength} characters`]
      : [undefined, 0, '']
  if (keyword === undefined) return true
  nfkcLength.errors = [{ keyword, params: { limit }, message }]
  return false
}

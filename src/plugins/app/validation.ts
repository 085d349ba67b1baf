// Two validators: query strings and path params arrive as text, so they are
// coerced to the schema's types; JSON bodies are not (a number is not a
// username). Unknown body properties are dropped, defaults filled in.
// PostgreSQL text cannot hold U+0000, so no string anywhere in a request may
// carry it: refused like any invalid field, before it reaches a query (where
// it would fail the statement, and with it every post of a group commit).
import fp from 'fastify-plugin'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import { badRequest } from '../../domain/errors.js'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

function build (coerceTypes: false | 'array') {
  const ajv = new Ajv({ removeAdditional: true, useDefaults: true, coerceTypes, allErrors: false, strict: false })
  addFormats(ajv)
  return ajv
}

export default fp(async (app) => {
  const strict = build(false)
  const coercing = build('array')
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema))
  app.addHook('preValidation', async (request) => {
    const at = nulAt(request.params, 'params') ?? nulAt(request.query, 'querystring') ?? nulAt(request.body, 'body')
    if (at !== undefined) throw badRequest(`${at} must not contain the character U+0000`)
  })
}, { name: 'validation' })

/** Where (`body/title`, `querystring/query`) a string holding U+0000 is, if any (iterative: any depth of nesting). */
function nulAt (value: unknown, path: string): string | undefined {
  const stack: Array<[unknown, string]> = [[value, path]]
  while (stack.length > 0) {
    const [v, at] = stack.pop()!
    if (typeof v === 'string') {
      if (v.includes('\0')) return at
    } else if (typeof v === 'object' && v !== null) {
      for (const [key, inner] of Object.entries(v)) {
        if (key.includes('\0')) return at
        stack.push([inner, `${at}/${key}`])
      }
    }
  }
  return undefined
}

// Two validators: query strings and path params arrive as text, so they are
// coerced to the schema's types; JSON bodies are not (a number is not a
// username). Unknown body properties are dropped, defaults filled in.
import fp from 'fastify-plugin'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'

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
}, { name: 'validation' })

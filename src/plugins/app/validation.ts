// Two validators: query strings and path params arrive as text, so they are
// coerced to the schema's types; JSON bodies are not (a number is not a
// username). Unknown body properties are dropped, defaults filled in.
// Strings PostgreSQL cannot store (U+0000, lone surrogates) are refused
// anywhere in a request, like any invalid field, before they reach a query
// (where they would fail the statement, or turn into another string).
import fp from 'fastify-plugin'
import { badRequest } from '../../domain/errors.js'
import { invalidText } from '../../domain/text.js'
import { createValidator } from '../../domain/validator.js'

export default fp(async (app) => {
  const strict = createValidator(false)
  const coercing = createValidator('array')
  app.setValidatorCompiler(({ schema, httpPart }) =>
    (httpPart === 'body' ? strict : coercing).compile(schema))
  app.addHook('preValidation', async (request) => {
    const problem = invalidText(request.params, 'params') ?? invalidText(request.query, 'querystring') ?? invalidText(request.body, 'body')
    if (problem !== undefined) throw badRequest(problem)
  })
}, { name: 'validation' })

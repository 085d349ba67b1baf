// The web chat page at / (static files via @fastify/static). It is built into
// dist/public by `npm run build` (src/web bundled with the client SDK, plus
// src/public); this file sits as deep under src/ as its build under dist/, so
// the same relative path finds it from source and from the build.
import fp from 'fastify-plugin'
import fastifyStatic from '@fastify/static'
import { existsSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { sendError } from '../../routes/error-reply.js'

export const WEB_ROOT = fileURLToPath(new URL('../../../dist/public/', import.meta.url))

export default fp(async (app) => {
  if (!existsSync(`${WEB_ROOT}index.html`)) {
    app.log.warn({ root: WEB_ROOT }, 'web page not built (npm run build); / answers 503')
    app.get('/', { schema: { hide: true } }, async (_request, reply) =>
      sendError(reply, 503, 'UNAVAILABLE', 'The web page is not built; run `npm run build`'))
    return
  }
  // Only the files present at start are routes; anything else stays a 404 NOT_FOUND.
  await app.register(fastifyStatic, { root: WEB_ROOT, prefix: '/', wildcard: false, index: 'index.html', maxAge: 60_000 })
}, { name: 'web', dependencies: ['config'] })

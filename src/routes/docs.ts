// The client contract (src/docs/API.md) at /docs/contract, and the WebSocket
// protocol as AsyncAPI, next to the OpenAPI document (/docs/json).
import type { FastifyInstance } from 'fastify'
import { readFile } from 'node:fs/promises'
import { asyncApiDocument } from '../docs/asyncapi.js'

// This file sits as deep under src/ as its build under dist/, so the same
// relative path finds the page from source and from the build.
const CONTRACT = new URL('../../src/docs/API.md', import.meta.url)

export default async function docsRoutes (app: FastifyInstance) {
  const contract = await readFile(CONTRACT, 'utf8')
  app.get('/docs/contract', { schema: { hide: true } }, async (_request, reply) =>
    reply.type('text/markdown; charset=utf-8').send(contract))
  app.get('/docs/asyncapi.json', { schema: { hide: true } }, async (request) =>
    asyncApiDocument(request.host, request.protocol === 'https'))
}

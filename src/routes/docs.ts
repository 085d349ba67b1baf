// The WebSocket protocol as AsyncAPI, next to the OpenAPI document (/docs/json).
import type { FastifyInstance } from 'fastify'
import { asyncApiDocument } from '../docs/asyncapi.js'

export default async function docsRoutes (app: FastifyInstance) {
  app.get('/docs/asyncapi.json', { schema: { hide: true } }, async (request) =>
    asyncApiDocument(request.host, request.protocol === 'https'))
}

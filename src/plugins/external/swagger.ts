// OpenAPI from the route schemas: JSON at /docs/json, interactive UI at /docs.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import { ErrorBody } from '../../schemas/common.js'
import { PublicUser, User } from '../../schemas/users.js'
import { AuthResult } from '../../schemas/auth.js'
import { SessionInfo } from '../../schemas/me.js'
import { Delivery, Device } from '../../schemas/devices.js'
import { Conversation, Member } from '../../schemas/conversations.js'
import { Attachment, Event, Message, Pin, Reaction, ThreadSummary } from '../../schemas/messages.js'
import { Upload } from '../../schemas/uploads.js'
import { Report } from '../../schemas/safety.js'
import { SearchHit, Snippet } from '../../schemas/search.js'
import { Channel } from '../../schemas/channels.js'
import { Invitation, Invite } from '../../schemas/invites.js'

export default fp(async (app) => {
  for (const schema of [ErrorBody, User, PublicUser, AuthResult, Attachment, ThreadSummary, Reaction, Message, Pin, Event, Member, Conversation, SessionInfo, Report, Device, Delivery, Upload, Snippet, SearchHit, Channel, Invite, Invitation]) app.addSchema(schema)
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Switchboard chat API',
        version: '1.0.0',
        description: 'REST half of the Switchboard client contract (the whole contract, with the event stream, is at /docs/contract). The WebSocket channel (GET /v1/ws) is described by the AsyncAPI document at /docs/asyncapi.json and in the README. Any route may answer 503 UNAVAILABLE with a Retry-After header when the database is unreachable or a statement ran past the statement timeout; nothing was written, and a post retried with its clientMessageId is stored once.',
        license: { name: 'MIT', identifier: 'MIT' }
      },
      // Relative: the paths are served by whichever host served this document.
      servers: [{ url: '/', description: 'this server' }],
      components: {
        securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } }
      }
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) }
  })
  await app.register(swaggerUi, { routePrefix: '/docs' })
}, { name: 'swagger' })

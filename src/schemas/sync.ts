// GET /v1/sync (src/domain/sync.ts).
import { Type } from 'typebox'
import { Uuid } from './common.js'
import { UnreadTotals } from './conversations.js'

const UuidList = (max: number) => `^[0-9a-fA-F-]{36}(,[0-9a-fA-F-]{36}){0,${max - 1}}$`

export const SyncQuery = Type.Object({
  since: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 4_096,
    description: 'The cursor of the last sync (or of the ready frame). Without it, the answer is only a cursor that starts now.'
  })),
  until: Type.Optional(Type.String({
    minLength: 1,
    maxLength: 4_096,
    description: 'The cursor of the ready frame of the socket the client is on: the sync ends there instead of now, and what changed ' +
      'after it comes on that socket (a catch-up after a reconnect then brings what happened while away, not what is pushed meanwhile). ' +
      'Read on a sync\'s first page; later pages carry it in their cursor.'
  })),
  limit: Type.Integer({ minimum: 1, maximum: 500, default: 200, description: 'Most events (and most conversations) on a page, 1-500' }),
  mode: Type.Union([Type.Literal('events'), Type.Literal('summary')], {
    default: 'events',
    description: 'events: every changed conversation with its new events. summary: each changed conversation\'s state (lastSeq, counts, ' +
      'last message) and events only for the conversations in eventsFor'
  }),
  eventsFor: Type.Optional(Type.String({ pattern: UuidList(100), description: 'Summary mode: up to 100 comma-separated conversation ids whose events to include' })),
  known: Type.Optional(Type.String({
    pattern: '^[0-9a-fA-F-]{36}:[0-9]{1,10}(,[0-9a-fA-F-]{36}:[0-9]{1,10}){0,149}$',
    description: 'Up to 150 comma-separated conversationId:seq pairs: the client already has these conversations\' events up to seq (it got them ' +
      'pushed after its cursor), so they are not sent again'
  }))
}, { additionalProperties: false })

export const SyncChange = Type.Object({
  conversationId: Uuid,
  membership: Type.Union([Type.Literal('member'), Type.Literal('left')], {
    description: 'member: the caller is a member; left: the caller left or was removed (the events end with that member.removed)'
  }),
  conversation: Type.Union([Type.Ref('Conversation'), Type.Null()], { description: 'The conversation as it is now; null once left' }),
  lastReadSeq: Type.Integer({ description: 'The caller\'s read position here, as any of their devices moved it' }),
  events: Type.Optional(Type.Array(Type.Ref('Event'), {
    description: 'The new events in seq order, within the caller\'s membership window (absent in summary mode for conversations not in eventsFor)'
  })),
  eventsContinue: Type.Optional(Type.Boolean({ description: 'true: more events of this conversation follow on the next page' }))
})

export const SyncPage = Type.Object({
  changes: Type.Array(SyncChange, { description: 'In conversation id order. A conversation appears once per sync, or on each page its events span' }),
  unread: Type.Union([UnreadTotals, Type.Null()], { description: 'The badge counts (as GET /v1/me/unread), on the last page of a sync that had changes; null otherwise' }),
  cursor: Type.String({ description: 'hasMore: pass it as since for the next page. Else: the cursor to keep for the next sync' }),
  hasMore: Type.Boolean()
})

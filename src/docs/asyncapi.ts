// The WebSocket protocol as an AsyncAPI 3.0 document, built from the same
// TypeBox schemas as the server and the client SDK, so it cannot drift from
// them. Served at /docs/asyncapi.json, next to the OpenAPI one (/docs/json).
import { Type, type TSchema } from 'typebox'
import { Timestamp, Uuid } from '../schemas/common.js'
import { Member, Conversation } from '../schemas/conversations.js'
import { Attachment, Message, Reaction, ThreadSummary } from '../schemas/messages.js'
import {
  CLOSE_CODES, ConversationInfo, DeliveredClientFrame, DeliveredFrame, ErrorFrame, InvitationFrame, InvitationWithdrawnFrame, MemberEventData, MembersAddedData, MemberUpdatedData, ModerationData, PingClientFrame, PinEventData, ReactionEventData, SlowModeData, PongFrame, PresenceFrame, ReadFrame,
  ReadyFrame, ThreadReadFrame, TypingClientFrame, TypingServerFrame, UserUpdatedFrame
} from '../schemas/realtime.js'
import { PublicUser, User } from '../schemas/users.js'

const EVENT_DATA = {
  'message.created': ['Message', 'A new message; a thread reply carries threadRootId (README "Threads and custom message data")'],
  'message.updated': ['Message', 'A message was edited (editedAt set): its body, type or metadata'],
  'message.deleted': ['Message', 'A message was deleted: the tombstone (body empty, deletedAt set)'],
  'member.added': ['MemberEventData', 'A member joined; the added user receives the conversation from this event on'],
  'members.added': ['MembersAddedData', 'Several users joined at once (a group created with members, or several added by one request); each receives the conversation from this event on'],
  'member.removed': ['MemberEventData', 'A member left or was removed; for the removed user this is the last event'],
  'member.updated': ['MemberUpdatedData', 'A member\'s role changed'],
  'conversation.updated': ['ConversationInfo', 'The group was renamed, its picture changed, or it was made public or private'],
  'member.banned': ['MemberEventData', 'A user was banned (a member.removed follows when they were a member); they cannot be added again until unbanned'],
  'member.unbanned': ['MemberEventData', 'A ban was lifted (the user is not added back)'],
  'member.muted': ['MemberEventData', 'A member was muted: their posts answer 403 MUTED'],
  'member.unmuted': ['MemberEventData', 'A member was unmuted'],
  'conversation.frozen': ['ModerationData', 'The group is read-only for everyone but the owner and admins'],
  'conversation.unfrozen': ['ModerationData', 'The group is no longer frozen'],
  'conversation.slow_mode': ['SlowModeData', 'Slow mode changed: one post per seconds per plain member (0: off)'],
  'reaction.added': ['ReactionEventData', 'A member reacted to a message (sent to the members whose window holds the message)'],
  'reaction.removed': ['ReactionEventData', 'A member took a reaction back'],
  'message.pinned': ['PinEventData', 'A message was pinned (sent to the members whose window holds the message)'],
  'message.unpinned': ['PinEventData', 'A message was unpinned, or deleted while pinned (by: who deleted it)']
} as const

/** TypeBox JSON Schema -> AsyncAPI components: `$ref: 'X'` becomes `#/components/schemas/X`, `$id` goes. */
function plain (schema: TSchema): unknown {
  return JSON.parse(JSON.stringify(schema), (key, value: unknown) => {
    if (key === '$ref' && typeof value === 'string' && !value.startsWith('#')) return `#/components/schemas/${value}`
    return value
  }) as unknown
}

function stripIds (value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripIds)
  if (value === null || typeof value !== 'object') return value
  return Object.fromEntries(Object.entries(value).filter(([k]) => k !== '$id').map(([k, v]) => [k, stripIds(v)]))
}

const schema = (s: TSchema) => stripIds(plain(s))

export function asyncApiDocument (host: string, secure: boolean) {
  const schemas: Record<string, unknown> = {}
  for (const s of [User, PublicUser, Attachment, ThreadSummary, Reaction, Message, Member, Conversation, MemberEventData, MembersAddedData, MemberUpdatedData, ConversationInfo, ModerationData, SlowModeData, ReactionEventData, PinEventData,
    ReadyFrame, PresenceFrame, TypingServerFrame, ReadFrame, ThreadReadFrame, DeliveredFrame, UserUpdatedFrame, InvitationFrame, InvitationWithdrawnFrame, PongFrame, ErrorFrame, TypingClientFrame, PingClientFrame, DeliveredClientFrame]) {
    schemas[String((s as { $id?: string }).$id)] = schema(s)
  }
  const messages: Record<string, unknown> = {}
  const server: string[] = []
  const client: string[] = []
  const frame = (name: string, payload: string, summary: string, list: string[]) => {
    messages[name] = { name, title: name, summary, payload: { $ref: `#/components/schemas/${payload}` } }
    list.push(name)
  }
  frame('ready', 'ReadyFrame', 'The first frame on every connection', server)
  for (const [type, [data, summary]] of Object.entries(EVENT_DATA)) {
    const name = `${type}Frame`
    schemas[name] = schema(Type.Object({
      type: Type.Literal(type),
      conversationId: Uuid,
      seq: Type.Integer({ description: 'Per-conversation sequence number: 1, 2, 3, ... without gaps; the same as in the REST event log' }),
      createdAt: Timestamp,
      data: Type.Ref(data)
    }))
    frame(type, name, `${summary}. Sent to every connection of every member, in seq order per conversation.`, server)
  }
  frame('presence', 'PresenceFrame', 'A user who shares a conversation went online or offline', server)
  frame('typing', 'TypingServerFrame', 'Another member is typing', server)
  frame('read', 'ReadFrame', 'A member\'s read position moved (also to the reader\'s other devices)', server)
  frame('thread.read', 'ThreadReadFrame', 'You read a thread on one of your devices: your read position there and your counts, to all your connections', server)
  frame('delivered', 'DeliveredFrame', 'Another member\'s devices received the conversation up to seq (not to users that member blocked; coalesced per DELIVERY_COALESCE_MS)', server)
  frame('user.updated', 'UserUpdatedFrame', 'A user who shares a conversation changed their profile (PATCH /v1/me)', server)
  frame('invitation', 'InvitationFrame', 'The receiver was invited to a group (GROUP_ADDS=invite); accept or decline at /v1/me/invitations before expiresAt', server)
  frame('invitation.withdrawn', 'InvitationWithdrawnFrame', 'The receiver\'s pending invitation was withdrawn: by the group\'s owner or an admin (DELETE /v1/conversations/:id/invitations/:userId), or as its inviter left, was removed, banned, made a plain member or deleted their account: drop it from the list; accepting it answers 404. Sent once, after the commit, to every socket of the invitee', server)
  frame('pong', 'PongFrame', 'Answer to ping', server)
  frame('error', 'ErrorFrame', 'A client frame was refused (invalid, or past WS_FRAMES_PER_SECOND: RATE_LIMITED); the connection stays usable, but more than 20 refused frames in a minute close it with 1008', server)
  frame('clientTyping', 'TypingClientFrame', 'Tell the other members you are typing (at most TYPING_PER_SECOND per second)', client)
  frame('ping', 'PingClientFrame', 'Application-level keep-alive; answered with pong', client)
  frame('clientDelivered', 'DeliveredClientFrame', 'Acknowledge receipt up to seq (as POST /v1/conversations/:id/delivered); a conversation the user is not in gets an error frame NOT_FOUND', client)

  const refs = (names: string[]) => names.map((n) => ({ $ref: `#/channels/push/messages/${n}` }))
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'Switchboard push channel',
      version: '1.0.0',
      description: 'The WebSocket half of the Switchboard client contract (the REST half is the OpenAPI document at /docs/json). ' +
        'Every conversation event carries a per-conversation seq; a client keeps the last seq it applied per conversation, ignores ' +
        'duplicates, replays a gap from GET /v1/conversations/:id/events?after=<seq>, and after a reconnect compares lastSeq from ' +
        'GET /v1/conversations to replay what it missed: each event exactly once, in order (README "Reconnect and replay").'
    },
    defaultContentType: 'application/json',
    servers: {
      service: { host, protocol: secure ? 'wss' : 'ws', description: 'This service' }
    },
    channels: {
      push: {
        address: '/v1/ws',
        title: 'Push channel',
        description: 'Authenticate at the upgrade with `Authorization: Bearer <accessToken>` or `?access_token=` (browsers). ' +
          'A bad token is refused with HTTP 401 before any socket opens; a plain GET (no upgrade) answers HTTP 426 UPGRADE_REQUIRED. ' +
          'One JSON object per text frame. A client sends at most WS_FRAMES_PER_SECOND frames of any type per second per socket (default 50, twice that as a burst); more get error RATE_LIMITED.',
        messages,
        bindings: {
          ws: {
            method: 'GET',
            query: { type: 'object', properties: { access_token: { type: 'string', description: 'Access token, where headers cannot be set' } } },
            headers: { type: 'object', properties: { Authorization: { type: 'string', description: 'Bearer <accessToken>' } } }
          }
        },
        'x-close-codes': CLOSE_CODES
      }
    },
    operations: {
      pushToClient: {
        action: 'send',
        channel: { $ref: '#/channels/push' },
        summary: 'Frames the server sends: events, presence, typing, read receipts, pong, errors',
        messages: refs(server)
      },
      receiveFromClient: {
        action: 'receive',
        channel: { $ref: '#/channels/push' },
        summary: 'Frames a client may send; anything else gets an error frame, more than 16 KiB closes with 1009',
        messages: refs(client)
      }
    },
    components: { schemas }
  }
}

// The AsyncAPI document of the WebSocket protocol: served next to OpenAPI,
// complete (every frame type and close code), and its refs resolve.
import { describe, expect, it } from 'vitest'
import { CloseCode } from '../src/realtime/protocol.js'
import type { ServerFrame } from '../src/realtime/protocol.js'
import type { ChatEvent, DeliveredFrame, ErrorFrame, InvitationFrame, InvitationWithdrawnFrame, PresenceFrame, ReadFrame, ReadyFrame, ThreadReadFrame, TypingFrame, UserUpdatedFrame } from '../src/client/index.js'
import { client, type Client } from './helpers/http.js'
import { test, type TestServer } from './helpers/server.js'

// The protocol's ServerFrame (derived in realtime/protocol.ts) and the SDK's types must agree.
type SdkFrame = ReadyFrame | ChatEvent | { type: 'presence', data: PresenceFrame['data'] } | TypingFrame | ReadFrame | ThreadReadFrame | DeliveredFrame | UserUpdatedFrame | InvitationFrame | InvitationWithdrawnFrame | { type: 'pong' } | ErrorFrame
type Same<A, B> = [A] extends [B] ? true : false
const serverFramesFitSdk: Same<Exclude<ServerFrame, { type: ChatEvent['type'] }>, SdkFrame> = true

let server: TestServer
let api: Client
test.beforeAll(({ server: started }) => {
  server = started
  api = client(server.url)
})

function resolve (doc: any, ref: string): unknown {
  expect(ref.startsWith('#/')).toBe(true)
  return ref.slice(2).split('/').reduce((node, key) => node?.[key], doc)
}

function refs (node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => refs(n, out))
  else if (node !== null && typeof node === 'object') {
    for (const [k, v] of Object.entries(node)) {
      if (k === '$ref' && typeof v === 'string') out.push(v)
      else refs(v, out)
    }
  }
  return out
}

describe('AsyncAPI document', () => {
  it('is served at /docs/asyncapi.json and describes every frame and close code', async () => {
    expect(serverFramesFitSdk).toBe(true)
    const res = await api.get('/docs/asyncapi.json')
    expect(res.status).toBe(200)
    const doc = res.body
    expect(doc.asyncapi).toBe('3.0.0')
    expect(doc.servers.service).toMatchObject({ protocol: 'ws', host: new URL(server.url).host })
    expect(doc.channels.push.address).toBe('/v1/ws')
    const sent = doc.operations.pushToClient.messages.map((m: any) => (resolve(doc, m.$ref) as any).name)
    expect(sent.sort()).toEqual(['conversation.frozen', 'conversation.slow_mode', 'conversation.unfrozen', 'conversation.updated', 'delivered', 'error', 'invitation', 'invitation.withdrawn',
      'member.added', 'member.banned', 'member.muted', 'member.removed', 'member.unbanned', 'member.unmuted', 'member.updated', 'members.added',
      'message.created', 'message.deleted', 'message.pinned', 'message.unpinned', 'message.updated', 'pong', 'presence', 'reaction.added', 'reaction.removed', 'read', 'ready', 'thread.read', 'typing', 'user.updated'])
    const received = doc.operations.receiveFromClient.messages.map((m: any) => (resolve(doc, m.$ref) as any).payload.$ref)
    expect(received).toEqual(['#/components/schemas/TypingClientFrame', '#/components/schemas/PingClientFrame', '#/components/schemas/DeliveredClientFrame'])
    const codes = doc.channels.push['x-close-codes'].map((c: any) => c.code)
    for (const code of Object.values(CloseCode)) expect(codes).toContain(code)
    for (const ref of refs(doc)) expect(resolve(doc, ref), ref).toBeDefined()
    expect(JSON.stringify(doc)).not.toContain('"$id"')
    // The message.created frame carries a Message.
    expect(doc.components.schemas['message.createdFrame'].properties.data).toEqual({ $ref: '#/components/schemas/Message' })
  })

  it('is linked from the OpenAPI document', async () => {
    const res = await api.get('/docs/json')
    expect(res.body.info.description).toContain('/docs/asyncapi.json')
  })
})

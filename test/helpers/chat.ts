// REST shortcuts for realtime tests, written from API.md only.
import type { Account, Client } from './http.js'

export async function createGroup (api: Client, owner: Account, members: Account[], title = 'group'): Promise<any> {
  const res = await api.post('/v1/conversations', { type: 'group', title, memberIds: members.map((m) => m.user.id) }, { token: owner.accessToken })
  if (res.status !== 201) throw new Error(`create group: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

export async function createDirect (api: Client, a: Account, b: Account): Promise<any> {
  const res = await api.post('/v1/conversations', { type: 'direct', userId: b.user.id }, { token: a.accessToken })
  if (res.status !== 201 && res.status !== 200) throw new Error(`create direct: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

export async function post (api: Client, who: Account, conversationId: string, body: string, extra: Record<string, unknown> = {}): Promise<any> {
  const res = await api.post(`/v1/conversations/${conversationId}/messages`, { body, ...extra }, { token: who.accessToken })
  if (res.status !== 201 && res.status !== 200) throw new Error(`post: ${res.status} ${JSON.stringify(res.body)}`)
  return res.body
}

/** Every event after `after`, following hasMore. */
export async function replay (api: Client, who: Account, conversationId: string, after = 0): Promise<any[]> {
  const events: any[] = []
  let cursor = after
  for (;;) {
    const res = await api.get(`/v1/conversations/${conversationId}/events?after=${cursor}&limit=100`, { token: who.accessToken })
    if (res.status !== 200) throw new Error(`replay: ${res.status} ${JSON.stringify(res.body)}`)
    events.push(...res.body.events)
    if (!res.body.hasMore || res.body.events.length === 0) return events
    cursor = res.body.events[res.body.events.length - 1].seq
  }
}

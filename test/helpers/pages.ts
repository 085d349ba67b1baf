// Following a keyset-paged list over HTTP (`limit`, `cursor` → `nextCursor`).
import { expect } from 'vitest'
import type { Account, Client } from './http.js'

/** Every page of `path` as `who` sees it, `limit` at a time; `key` names the page's array. */
export async function allPages<K extends string> (api: Client, who: Account, path: string, key: K, limit: number) {
  const pages: Array<Record<K, any[]> & { nextCursor: string | null }> = []
  let cursor: string | null = null
  do {
    const res: any = await api.get(`${path}?limit=${limit}${cursor === null ? '' : `&cursor=${cursor}`}`, { token: who.accessToken })
    expect(res.status).toBe(200)
    pages.push(res.body)
    cursor = res.body.nextCursor
  } while (cursor !== null && pages.length < 1000)
  return { pages, ids: pages.flatMap((p) => p[key].map((row: { userId: string }) => row.userId)) }
}

/** Newest first, then the id descending (PostgreSQL orders uuids as their lower-case text). */
export const newestFirst = (rows: Array<{ id: string, at: string }>) =>
  [...rows].sort((x, y) => x.at === y.at ? (x.id < y.id ? 1 : -1) : (x.at < y.at ? 1 : -1)).map((r) => r.id)

/** Query strings a keyset-paged list refuses with 400 VALIDATION_FAILED (`uuid`: any well-formed id). */
export function badPageQueries (uuid: string): string[] {
  const b64 = (text: string) => Buffer.from(text).toString('base64url')
  return [
    'limit=0', 'limit=101', 'limit=x', 'cursor=', 'cursor=garbage',
    `cursor=${b64('2026-01-01T00:00:00.000Z|not-a-uuid')}`,
    `cursor=${b64(`2026-13-01T00:00:00.000Z|${uuid}`)}`,
    `cursor=${b64(`2026-01-01T00:00:00Z|${uuid}`)}`,
    `cursor=${'A'.repeat(201)}`
  ]
}

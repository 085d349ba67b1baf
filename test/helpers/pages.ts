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

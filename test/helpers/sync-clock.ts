// The sync clock in tests: the cursor the server hands to new sockets is taken once a second.
import type { Account, Client } from './http.js'
import type { TestServer } from './server.js'

/** Waits until that cursor is past everything done so far for `who`: a sync from it finds nothing. */
export async function clockPast (server: TestServer, api: Client, who: Account): Promise<void> {
  const end = Date.now() + 30_000
  for (;;) {
    const cursor = server.app.syncClock.current()
    if (cursor !== undefined) {
      const res = await api.get(`/v1/sync?since=${cursor}`, { token: who.accessToken })
      if (res.status !== 200) throw new Error(`sync: ${res.status}`)
      if (res.body.changes.length === 0) return
    }
    if (Date.now() > end) throw new Error('the sync clock did not pass the set-up')
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

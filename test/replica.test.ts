// DATABASE_REPLICA_URL: history pages and event replays read from a real
// streaming replica (a second embedded PostgreSQL started from a copy of the
// primary's data folder, with standby.signal and primary_conninfo), and never
// answer less than the reader knows: a replica that has not replayed a seq
// the reader knows of (a replay's `after`, or `minSeq`), a join, or that
// cannot be reached, leaves the page to the primary.
import { execFileSync } from 'node:child_process'
import { appendFile, chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir, userInfo } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../src/db/embedded.js'
import { applyMigrations } from '../src/db/migrator.js'
import { createDirect, post } from './helpers/chat.js'
import { client, register, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'

const DATABASE = 'switchboard'
let dir: string
let primary: EmbeddedPostgres
let replica: EmbeddedPostgres | undefined
let server: TestServer
let api: Client
let admin: pg.Client

/** Runs `sql` on the replica. */
async function onReplica<T extends pg.QueryResultRow> (sql: string, params: unknown[] = []): Promise<T[]> {
  const c = new pg.Client(replica!.urlFor(DATABASE))
  await c.connect()
  try {
    return (await c.query<T>(sql, params)).rows
  } finally {
    await c.end()
  }
}

/** Pauses or resumes the replica's replay of the WAL it receives (it stays connected and readable). */
const replay = async (on: boolean) => { await onReplica(on ? 'SELECT pg_wal_replay_resume()' : 'SELECT pg_wal_replay_pause()') }

/** Waits until the replica has replayed everything the primary has written so far. */
async function caughtUp (): Promise<void> {
  const { rows } = await admin.query<{ lsn: string }>('SELECT pg_current_wal_insert_lsn()::text AS lsn')
  const target = rows[0]!.lsn
  const deadline = Date.now() + 30_000
  for (;;) {
    const [r] = await onReplica<{ done: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS done', [target])
    if (r?.done === true) return
    if (Date.now() > deadline) throw new Error('the replica did not catch up within 30 s')
    await new Promise((resolve) => setTimeout(resolve, 50))
  }
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'switchboard-replica-'))
  await chmod(dir, 0o755) // the database runs as the `postgres` user when tests run as root
  primary = await startEmbeddedPostgres({ dataDir: join(dir, 'primary'), fast: true, ownProcessGroup: true })
  admin = new pg.Client(primary.adminUrl)
  await admin.connect()
  await admin.query(`CREATE DATABASE ${DATABASE}`)
  await applyMigrations(primary.urlFor(DATABASE))

  // A base backup by the low-level API: a copy of the data folder between pg_backup_start and pg_backup_stop,
  // with the label it returns; a replication slot keeps the WAL the standby needs from then on.
  await admin.query("SELECT pg_create_physical_replication_slot('replica')")
  await admin.query("SELECT pg_backup_start('replica', true)")
  const [primaryDir, replicaDir] = [join(dir, 'primary'), join(dir, 'replica')]
  execFileSync('cp', ['-a', primaryDir, replicaDir])
  const { rows } = await admin.query<{ labelfile: string }>('SELECT labelfile FROM pg_backup_stop(true)')
  await rm(join(replicaDir, 'postmaster.pid'), { force: true })
  const url = new URL(primary.adminUrl)
  await writeFile(join(replicaDir, 'backup_label'), rows[0]!.labelfile)
  await writeFile(join(replicaDir, 'standby.signal'), '')
  await appendFile(join(replicaDir, 'postgresql.auto.conf'),
    `primary_conninfo = 'host=127.0.0.1 port=${url.port} user=${decodeURIComponent(url.username)} password=${decodeURIComponent(url.password)}'\nprimary_slot_name = 'replica'\n`)
  if (userInfo().uid === 0) execFileSync('chown', ['-R', '--reference', join(primaryDir, 'PG_VERSION'), replicaDir])
  await writeFile(`${replicaDir}.credentials.json`, await readFile(`${primaryDir}.credentials.json`))
  replica = await startEmbeddedPostgres({ dataDir: replicaDir, fast: true, ownProcessGroup: true })
  expect(await onReplica('SELECT pg_is_in_recovery() AS standby')).toEqual([{ standby: true }])

  server = await startServer({ databaseUrl: primary.urlFor(DATABASE), config: { databaseReplicaUrl: replica.urlFor(DATABASE), databaseConnectTimeoutMs: 2_000 } })
  api = client(server.url)
}, 180_000)

afterAll(async () => {
  await server?.close()
  await admin?.end()
  await replica?.stop()
  await primary?.stop()
  await rm(dir, { recursive: true, force: true })
}, 120_000)

describe('reads from a streaming replica', () => {
  it('serves history and replays from the replica once it has replayed what the reader knows, and from the primary before', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const direct = await createDirect(api, a, b)
    const first = await post(api, a, direct.id, 'replicated')
    await caughtUp()
    const history = async (query = '') => (await api.get(`/v1/conversations/${direct.id}/messages${query}`, { token: b.accessToken })).body.messages.map((m: { body: string }) => m.body)
    const replayed = async (query: string) => (await api.get(`/v1/conversations/${direct.id}/events${query}`, { token: b.accessToken })).body.events.map((e: { seq: number }) => e.seq)
    expect(await history()).toEqual(['replicated'])

    // The replica stops replaying: what is posted now exists only on the primary.
    const searched = async (q: string) => (await api.get(`/v1/search/messages?q=${q}`, { token: b.accessToken })).body.hits.map((h: { message: { body: string } }) => h.message.body)
    expect(await searched('replicated')).toEqual(['replicated'])
    await replay(false)
    try {
      const second = await post(api, a, direct.id, 'not on the replica yet')
      // Searches read the replica too: the new message is not found there yet.
      expect(await searched('yet')).toEqual([])
      // Reads served by the replica show its (older) state: proof of where they were read.
      expect(await history()).toEqual(['replicated'])
      // A reader that knows the new seq gets it, from the primary: a replay after the first message, or minSeq.
      expect(await replayed(`?after=${first.seq}`)).toEqual([])
      expect(await replayed(`?after=${first.seq}&minSeq=${second.seq}`)).toEqual([second.seq])
      expect(await history(`?minSeq=${second.seq}`)).toEqual(['not on the replica yet', 'replicated'])
      expect(await replayed(`?after=${second.seq}`)).toEqual([])
      // A member the replica does not know yet (joined after it paused) is answered by the primary, not 404.
      const c = await register(api)
      const group = (await api.post('/v1/conversations', { type: 'group', title: 'late', memberIds: [c.user.id] }, { token: a.accessToken })).body
      const page = await api.get(`/v1/conversations/${group.id}/messages`, { token: c.accessToken })
      expect(page.status).toBe(200)
    } finally {
      await replay(true)
    }
    await caughtUp()
    expect(await history()).toEqual(['not on the replica yet', 'replicated'])
    expect(await searched('yet')).toEqual(['not on the replica yet'])
  })

  it('leaves reads to the primary while the replica is down', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const direct = await createDirect(api, a, b)
    await post(api, a, direct.id, 'while the replica is down')
    await replica!.stop()
    const res = await api.get(`/v1/conversations/${direct.id}/messages`, { token: b.accessToken })
    expect(res.status).toBe(200)
    expect(res.body.messages.map((m: { body: string }) => m.body)).toEqual(['while the replica is down'])
    expect((await api.get(`/v1/conversations/${direct.id}/events?after=0`, { token: b.accessToken })).status).toBe(200)
    const found = await api.get('/v1/search/messages?q=down', { token: b.accessToken })
    expect(found.status).toBe(200)
    expect(found.body.hits.map((h: { message: { body: string } }) => h.message.body)).toEqual(['while the replica is down'])
  })
})

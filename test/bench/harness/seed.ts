// Fixtures written straight to the database with multi-row statements:
// thousands of registrations over HTTP would measure argon2 (deliberately
// slow), not the service. Users get one precomputed password hash, a session
// each, and an access token signed with the run's JWT secret in the claim
// shape the server issues ({ sub, sid }, HS256).
import { createHmac } from 'node:crypto'
import pg from 'pg'
import { newId } from '../../../src/domain/ids.js'
import { hashPassword } from '../../../src/domain/passwords.js'

export interface BenchUser { id: string, username: string, sessionId: string, token: string }
export interface Conversation { id: string, memberIndexes: number[] }

const CHUNK = 5_000
const TOKEN_TTL_SECONDS = 4 * 3600

const b64url = (value: string | Buffer) => Buffer.from(value).toString('base64url')

/** An HS256 JWT as @fastify/jwt signs it. */
export function signAccessToken (secret: string, claims: { sub: string, sid: string }, ttlSeconds = TOKEN_TTL_SECONDS): string {
  const iat = Math.floor(Date.now() / 1000)
  const head = `${b64url(JSON.stringify({ alg: 'HS256', typ: 'JWT' }))}.${b64url(JSON.stringify({ ...claims, iat, exp: iat + ttlSeconds }))}`
  return `${head}.${createHmac('sha256', secret).update(head).digest('base64url')}`
}

export class Seeder {
  readonly pool: pg.Pool
  private hash: Promise<string> | undefined

  constructor (readonly databaseUrl: string, private readonly jwtSecret: string) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 4 })
  }

  async close (): Promise<void> {
    await this.pool.end()
  }

  /** `count` users named `<prefix><i>`, each with a session and an access token. */
  async users (count: number, prefix = 'u'): Promise<BenchUser[]> {
    this.hash ??= hashPassword('bench-password-not-secret')
    const passwordHash = await this.hash
    const users: BenchUser[] = Array.from({ length: count }, (_, i) => {
      const id = newId()
      const sessionId = newId()
      return { id, username: `${prefix}${i}`, sessionId, token: signAccessToken(this.jwtSecret, { sub: id, sid: sessionId }) }
    })
    for (let i = 0; i < count; i += CHUNK) {
      const chunk = users.slice(i, i + CHUNK)
      await this.pool.query(
        `INSERT INTO users (id, username, display_name, password_hash)
         SELECT id, name, name, $3 FROM unnest($1::uuid[], $2::text[]) AS u(id, name)`,
        [chunk.map((u) => u.id), chunk.map((u) => u.username), passwordHash])
      await this.pool.query(
        'INSERT INTO sessions (id, user_id) SELECT * FROM unnest($1::uuid[], $2::uuid[])',
        [chunk.map((u) => u.sessionId), chunk.map((u) => u.id)])
    }
    return users
  }

  /** A group of these users (the first is its owner), starting at seq 0. */
  async group (users: BenchUser[], memberIndexes: number[], title = 'bench group'): Promise<Conversation> {
    const id = newId()
    await this.pool.query("INSERT INTO conversations (id, type, title) VALUES ($1, 'group', $2)", [id, title])
    await this.pool.query(
      `INSERT INTO memberships (conversation_id, user_id, role, joined_seq)
       SELECT $1, u, CASE WHEN o = 1 THEN 'owner'::member_role ELSE 'member'::member_role END, 1
         FROM unnest($2::uuid[]) WITH ORDINALITY AS m(u, o)`,
      [id, memberIndexes.map((i) => users[i]!.id)])
    return { id, memberIndexes }
  }

  /**
   * Many groups at once (each list of user indexes is one group, its first
   * member the owner), starting at seq 0: multi-row statements of at most
   * CHUNK groups and 50,000 memberships each.
   */
  async groups (users: BenchUser[], memberLists: number[][], title = (i: number) => `bench group ${i}`): Promise<Conversation[]> {
    const convs = memberLists.map((memberIndexes) => ({ id: newId(), memberIndexes }))
    for (let i = 0; i < convs.length;) {
      let rows = 0
      let end = i
      while (end < convs.length && end - i < CHUNK && (rows === 0 || rows + convs[end]!.memberIndexes.length <= 50_000)) rows += convs[end++]!.memberIndexes.length
      const chunk = convs.slice(i, end)
      await this.pool.query(
        "INSERT INTO conversations (id, type, title) SELECT id, 'group', t FROM unnest($1::uuid[], $2::text[]) AS c(id, t)",
        [chunk.map((c) => c.id), chunk.map((_, k) => title(i + k))])
      await this.pool.query(
        `INSERT INTO memberships (conversation_id, user_id, role, joined_seq)
         SELECT c, u, CASE WHEN o THEN 'owner'::member_role ELSE 'member'::member_role END, 1
           FROM unnest($1::uuid[], $2::uuid[], $3::boolean[]) AS m(c, u, o)`,
        [chunk.flatMap((c) => c.memberIndexes.map(() => c.id)), chunk.flatMap((c) => c.memberIndexes.map((m) => users[m]!.id)),
          chunk.flatMap((c) => c.memberIndexes.map((_, k) => k === 0))])
      i = end
    }
    return convs
  }

  /** One direct conversation per pair of user indexes. */
  async directs (users: BenchUser[], pairs: Array<[number, number]>): Promise<Conversation[]> {
    const convs = pairs.map(([a, b]) => ({ id: newId(), memberIndexes: [a, b] }))
    for (let i = 0; i < convs.length; i += CHUNK) {
      const chunk = convs.slice(i, i + CHUNK)
      const keys = chunk.map((c) => c.memberIndexes.map((m) => users[m]!.id).sort().join(':'))
      await this.pool.query(
        "INSERT INTO conversations (id, type, direct_key) SELECT id, 'direct', k FROM unnest($1::uuid[], $2::text[]) AS c(id, k)",
        [chunk.map((c) => c.id), keys])
      await this.pool.query(
        `INSERT INTO memberships (conversation_id, user_id, role, joined_seq)
         SELECT c, u, 'member', 1 FROM unnest($1::uuid[], $2::uuid[]) AS m(c, u)`,
        [chunk.flatMap((c) => [c.id, c.id]), chunk.flatMap((c) => c.memberIndexes.map((m) => users[m]!.id))])
    }
    return convs
  }

  /**
   * Appends `count` messages (bodies of about 60 characters) to a conversation
   * in one INSERT ... SELECT FROM generate_series, moves its last_seq, and
   * vacuums, as a long-lived table would be.
   */
  async history (conversationId: string, senderId: string, count: number): Promise<void> {
    await this.pool.query(`
      INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, timeline_ord)
      SELECT uuidv7(), $1, s, $2, 'history message ' || s || ' with a body of about sixty characters',
             now() - make_interval(secs => $3 - s), s
        FROM generate_series(1, $3::int) AS s`, [conversationId, senderId, count])
    await this.pool.query('UPDATE conversations SET last_seq = $2, timeline_count = $2 WHERE id = $1', [conversationId, count])
    await this.pool.query('VACUUM ANALYZE messages')
    // Writes the seeded pages back now rather than during the measurements.
    await this.pool.query('CHECKPOINT')
  }

  /** Current last_seq of each of these conversations. */
  async lastSeqs (ids: string[]): Promise<Record<string, number>> {
    const { rows } = await this.pool.query<{ id: string, last_seq: number }>('SELECT id, last_seq FROM conversations WHERE id = ANY($1::uuid[])', [ids])
    return Object.fromEntries(rows.map((r) => [r.id, r.last_seq]))
  }
}

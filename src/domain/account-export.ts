// GET /v1/me/export: everything stored about the caller, as one JSON document
// written piece by piece. Messages are read in keyset pages (sender, id) and
// written out page by page, so memory stays flat however many there are.
import type pg from 'pg'

const PAGE = 1000

const iso = (d: Date | null) => d?.toISOString() ?? null

export interface ExportDeps { pool: pg.Pool }

/** The caller's data as JSON text chunks: profile, sessions, memberships, then messages. */
export async function * exportAccount (deps: ExportDeps, userId: string): AsyncGenerator<string> {
  const { pool } = deps
  const user = (await pool.query<{ id: string, username: string, display_name: string, created_at: Date, last_seen_at: Date | null, email: string | null, email_verified_at: Date | null }>(
    'SELECT id, username, display_name, created_at, last_seen_at, email, email_verified_at FROM users WHERE id = $1', [userId])).rows[0]
  if (user === undefined) return
  const profile = {
    id: user.id, username: user.username, displayName: user.display_name, createdAt: iso(user.created_at),
    lastSeenAt: iso(user.last_seen_at), email: user.email, emailVerifiedAt: iso(user.email_verified_at)
  }
  yield `{"exportedAt":${JSON.stringify(new Date().toISOString())},"profile":${JSON.stringify(profile)},"sessions":`
  const sessions = await pool.query<{ id: string, user_agent: string | null, created_at: Date, revoked_at: Date | null }>(
    'SELECT id, user_agent, created_at, revoked_at FROM sessions WHERE user_id = $1 ORDER BY created_at', [userId])
  yield JSON.stringify(sessions.rows.map((s) => ({ id: s.id, userAgent: s.user_agent, createdAt: iso(s.created_at), revokedAt: iso(s.revoked_at) })))
  const memberships = await pool.query<{ conversation_id: string, type: string, title: string | null, role: string, joined_at: Date, left_at: Date | null, last_read_seq: number }>(
    `SELECT m.conversation_id, c.type::text AS type, c.title, m.role::text AS role, m.joined_at, m.left_at, m.last_read_seq
       FROM memberships m JOIN conversations c ON c.id = m.conversation_id WHERE m.user_id = $1 ORDER BY m.joined_at`, [userId])
  yield ',"memberships":' + JSON.stringify(memberships.rows.map((m) => ({
    conversationId: m.conversation_id, type: m.type, title: m.title, role: m.role, joinedAt: iso(m.joined_at), leftAt: iso(m.left_at), lastReadSeq: m.last_read_seq
  })))
  yield ',"messages":['
  let after = '00000000-0000-0000-0000-000000000000'
  let first = true
  for (;;) {
    const { rows } = await pool.query<{ id: string, conversation_id: string, seq: number, body: string, client_message_id: string | null, reply_to_id: string | null, created_at: Date, edited_at: Date | null, deleted_at: Date | null }>(
      `SELECT id, conversation_id, seq, body, client_message_id, reply_to_id, created_at, edited_at, deleted_at
         FROM messages WHERE sender_id = $1 AND id > $2 ORDER BY id LIMIT ${PAGE}`, [userId, after])
    if (rows.length === 0) break
    let chunk = ''
    for (const m of rows) {
      chunk += (first ? '' : ',') + JSON.stringify({
        id: m.id, conversationId: m.conversation_id, seq: m.seq, body: m.body, clientMessageId: m.client_message_id,
        replyToId: m.reply_to_id, createdAt: iso(m.created_at), editedAt: iso(m.edited_at), deletedAt: iso(m.deleted_at)
      })
      first = false
    }
    yield chunk
    after = rows[rows.length - 1]!.id
    if (rows.length < PAGE) break
  }
  yield ']}'
}

// One group commit of posts (see domain/post-batcher.ts): a single call of the
// post_messages function (prisma/migrations/*_post_messages_function), which
// locks, judges, numbers and stores the whole batch in one round trip and
// commits before it answers.
import type pg from 'pg'
import type { Queryable } from './db.js'
import { windowRecipients, type EventRow } from './events.js'
import type { AttachmentView, MessageRow } from './messages.js'
import type { Metadata } from './messages.js'

export interface BatchPost {
  id: string
  conversationId: string
  senderId: string
  body: string
  clientMessageId: string | null
  replyToId: string | null
  /** The @names of the body (domain/mentions.ts), resolved against the members in the function. */
  mentionNames: string[]
  /** Whether the body holds @all (it counts only from a group's owner or admins). */
  mentionAll: boolean
  /** Upload ids to attach (null: none). */
  attachments: string[] | null
  /** App-defined kind (null: text) and metadata, checked before (src/domain/custom-data.ts). */
  type: string | null
  metadata: Metadata | null
  /** The root of the thread it replies in (null: top level). */
  threadRootId: string | null
}

export type BatchOutcome =
  | { outcome: 'created' | 'existing', message: MessageRow }
  /** The same key earlier in the batch: the post at this index (0-based). */
  | { outcome: 'alias', first: number }
  | { outcome: 'not_found' | 'bad_reply' | 'bad_attachment' | 'no_thread' | 'bad_thread' | 'frozen' | 'muted' | 'blocked' }
  /** Slow mode: the sender may post again in this many seconds. */
  | { outcome: 'slow', retryAfter: number }

interface Row {
  kind: 'post' | 'members'
  idx: number | null
  outcome: string | null
  first_idx: number | null
  id: string | null
  conversation_id: string
  seq: number | null
  sender_id: string | null
  body: string | null
  client_message_id: string | null
  reply_to_id: string | null
  created_at: Date | null
  edited_at: Date | null
  deleted_at: Date | null
  members: string[] | null
  retry_after: number | null
  mentions: string[] | null
  mentions_all: boolean | null
  attachments: AttachmentView[] | null
  type: string | null
  metadata: Metadata | null
  thread_root_id: string | null
  thread_reply_count: number | null
  thread_last_reply_at: Date | null
  thread_participants: string[] | null
}

const toRow = (r: Row): MessageRow => ({
  id: r.id!,
  conversationId: r.conversation_id,
  seq: r.seq!,
  senderId: r.sender_id!,
  body: r.body!,
  clientMessageId: r.client_message_id,
  replyToId: r.reply_to_id,
  createdAt: r.created_at!,
  editedAt: r.edited_at,
  deletedAt: r.deleted_at,
  mentions: r.mentions ?? [],
  mentionsAll: r.mentions_all ?? false,
  attachments: r.attachments ?? [],
  type: r.type ?? 'text',
  metadata: r.metadata,
  threadRootId: r.thread_root_id,
  threadReplyCount: r.thread_reply_count ?? 0,
  threadLastReplyAt: r.thread_last_reply_at,
  threadParticipants: r.thread_participants ?? []
})

/** Stores a batch; answers each post's outcome (in input order) and the recipients of each conversation that got messages. */
export async function postBatch (db: Queryable, posts: BatchPost[]): Promise<{ outcomes: BatchOutcome[], recipients: Map<string, string[]> }> {
  // The names of all posts flattened, each with the 1-based index of its post.
  const mentionIdx: number[] = []
  const mentionNames: string[] = []
  posts.forEach((p, i) => {
    for (const name of p.mentionNames) {
      mentionIdx.push(i + 1)
      mentionNames.push(name)
    }
  })
  const { rows } = await db.query<Row>(
    'SELECT * FROM post_messages($1::uuid[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::uuid[], $7::int[], $8::text[], $9::boolean[], $10::jsonb[], $11::text[], $12::jsonb[], $13::uuid[])',
    [
      posts.map((p) => p.id), posts.map((p) => p.conversationId), posts.map((p) => p.senderId),
      posts.map((p) => p.body), posts.map((p) => p.clientMessageId), posts.map((p) => p.replyToId),
      mentionIdx, mentionNames, posts.map((p) => p.mentionAll),
      // null when no post of the batch attaches anything: the function skips that work.
      posts.some((p) => p.attachments !== null) ? posts.map((p) => p.attachments === null ? null : JSON.stringify(p.attachments)) : null,
      // As attachments: null when every post is plain text.
      posts.some((p) => p.type !== null) ? posts.map((p) => p.type) : null,
      posts.some((p) => p.metadata !== null) ? posts.map((p) => p.metadata === null ? null : JSON.stringify(p.metadata)) : null,
      posts.some((p) => p.threadRootId !== null) ? posts.map((p) => p.threadRootId) : null
    ])
  const outcomes: BatchOutcome[] = new Array<BatchOutcome>(posts.length)
  const recipients = new Map<string, string[]>()
  for (const r of rows) {
    if (r.kind === 'members') {
      recipients.set(r.conversation_id, r.members ?? [])
      continue
    }
    const i = r.idx! - 1
    switch (r.outcome) {
      case 'created':
      case 'existing':
        outcomes[i] = { outcome: r.outcome, message: toRow(r) }
        break
      case 'alias':
        outcomes[i] = { outcome: 'alias', first: r.first_idx! - 1 }
        break
      case 'not_found':
      case 'bad_reply':
      case 'bad_attachment':
      case 'no_thread':
      case 'bad_thread':
      case 'frozen':
      case 'muted':
      case 'blocked':
        outcomes[i] = { outcome: r.outcome }
        break
      case 'slow':
        outcomes[i] = { outcome: 'slow', retryAfter: r.retry_after ?? 1 }
        break
      default:
        throw new Error(`post_messages answered an unknown outcome: ${String(r.outcome)}`)
    }
  }
  return { outcomes, recipients }
}

/**
 * Has `db`'s session plan post_messages (a call with no posts, which stores
 * nothing): on a fresh connection its first call costs 15-25 ms of the
 * database's CPU, ten times a batch's.
 */
export async function preparePostBatch (db: pg.PoolClient): Promise<void> {
  await postBatch(db, [])
}

/**
 * The message.created events of those of these messages that are stored (a
 * batch whose answer was lost may have committed), each with its recipients
 * by membership window, as the gap fill reads them.
 */
export async function createdEvents (db: pg.Pool, messageIds: string[]): Promise<Array<{ event: EventRow, userIds: string[] }>> {
  const { rows } = await db.query<{ conversation_id: string, seq: number, type: string, data: unknown, created_at: Date, recipients: string[] }>(
    `SELECT e.conversation_id, e.seq, e.type, e.data, e.created_at, ${windowRecipients('e')} AS recipients
       FROM messages msg JOIN events e ON e.conversation_id = msg.conversation_id AND e.seq = msg.seq
      WHERE msg.id = ANY($1::uuid[])
      ORDER BY e.conversation_id, e.seq`, [messageIds])
  return rows.map((r) => ({
    event: { conversationId: r.conversation_id, seq: r.seq, type: r.type, createdAt: r.created_at, data: r.data },
    userIds: r.recipients
  }))
}

// GET /v1/me/export: everything stored about the caller, as one JSON document
// written piece by piece. Messages are read in keyset pages (sender, id) and
// written out page by page, so memory stays flat however many there are.
import { createAccountExportRepository } from '../repositories/account-export.js'
import { createAccountsRepository } from '../repositories/accounts.js'
import type { Database } from '../repositories/index.js'
import { createSafetyRepository } from '../repositories/safety.js'
import { createThreadsRepository } from '../repositories/threads.js'
import { mediaUrl } from './views.js'

const PAGE = 1000

const iso = (d: Date | null) => d?.toISOString() ?? null

/**
 * The caller's data as JSON text chunks: profile, sessions, memberships, blocks, reports made, reactions, push
 * devices, uploads, threads, invitations received and sent, invite links made, then messages.
 */
export async function * exportAccount (db: Database, userId: string): AsyncGenerator<string> {
  const accounts = createAccountsRepository(db)
  const safety = createSafetyRepository(db)
  const threads = createThreadsRepository(db)
  const user = await accounts.exportProfile(userId)
  if (user === undefined) return
  const profile = {
    id: user.id, username: user.username, displayName: user.displayName, createdAt: iso(user.createdAt), avatarUrl: mediaUrl(user.avatarUploadId),
    lastSeenAt: iso(user.lastSeenAt), email: user.email, emailVerifiedAt: iso(user.emailVerifiedAt),
    // An address given for a change and not confirmed yet is stored about the user too.
    pendingEmail: user.pendingEmail,
    appRoles: (await safety.appRoles(userId)) ?? [],
    notificationLevel: user.notificationLevel
  }
  yield `{"exportedAt":${JSON.stringify(new Date().toISOString())},"profile":${JSON.stringify(profile)},"sessions":`
  const sessions = await accounts.exportSessions(userId)
  yield JSON.stringify(sessions.map((s) => ({ id: s.id, userAgent: s.userAgent, createdAt: iso(s.createdAt), revokedAt: iso(s.revokedAt) })))
  const memberships = await accounts.exportMemberships(userId)
  yield ',"memberships":' + JSON.stringify(memberships.map((m) => ({
    conversationId: m.conversationId, type: m.type, title: m.title, role: m.role, joinedAt: iso(m.joinedAt), leftAt: iso(m.leftAt), lastReadSeq: m.lastReadSeq,
    notifications: { level: m.notificationLevel, muteUntil: iso(m.notificationsMutedUntil) }
  })))
  const blocks = await safety.exportBlocks(userId)
  yield ',"blocks":' + JSON.stringify(blocks.map((b) => ({ userId: b.blockedId, blockedAt: iso(b.createdAt) })))
  // The reports the caller made; the message body a report kept is another user's text, so it is left out.
  const reports = await safety.exportReports(userId)
  yield ',"reports":' + JSON.stringify(reports.map((r) => ({
    id: r.id, userId: r.targetUserId, messageId: r.messageId, conversationId: r.conversationId, reason: r.reason, note: r.note,
    status: r.status, createdAt: iso(r.createdAt)
  })))
  const more = createAccountExportRepository(db)
  const reactions = await more.reactions(userId)
  yield ',"reactions":' + JSON.stringify(reactions.map((r) => ({ ...r, createdAt: iso(r.createdAt) })))
  const devices = await more.devices(userId)
  yield ',"devices":' + JSON.stringify(devices.map((d) => ({ ...d, createdAt: iso(d.createdAt), updatedAt: iso(d.updatedAt) })))
  const uploads = await more.uploads(userId)
  yield ',"uploads":' + JSON.stringify(uploads.map((u) => ({ ...u, createdAt: iso(u.createdAt), completedAt: iso(u.completedAt) })))
  yield ',"threads":' + JSON.stringify(await more.threads(userId))
  const invitations = await more.invitations(userId)
  yield ',"invitations":' + JSON.stringify(invitations.map((i) => ({ ...i, createdAt: iso(i.createdAt) })))
  const links = await more.inviteLinks(userId)
  yield ',"inviteLinks":' + JSON.stringify(links.map((l) => ({ ...l, createdAt: iso(l.createdAt), expiresAt: iso(l.expiresAt), revokedAt: iso(l.revokedAt) })))
  yield ',"messages":['
  let after = '00000000-0000-0000-0000-000000000000'
  let first = true
  for (;;) {
    const rows = await accounts.exportMessages(userId, after, PAGE)
    if (rows.length === 0) break
    // A root's summary counts only the replies the caller could see: none from while they were out.
    const seen = await threads.authorSummaries(rows.filter((m) => m.threadReplyCount > 0).map((m) => m.id))
    let chunk = ''
    for (const stored of rows) {
      const m = { ...stored, ...seen.get(stored.id) }
      chunk += (first ? '' : ',') + JSON.stringify({
        id: m.id, conversationId: m.conversationId, seq: m.seq, body: m.body, clientMessageId: m.clientMessageId,
        replyToId: m.replyToId, createdAt: iso(m.createdAt), editedAt: iso(m.editedAt), deletedAt: iso(m.deletedAt),
        mentions: m.mentions, mentionsAll: m.mentionsAll, attachments: m.attachments, type: m.type, metadata: m.metadata,
        threadRootId: m.threadRootId,
        thread: m.threadReplyCount > 0 && m.threadLastReplyAt !== null
          ? { replyCount: m.threadReplyCount, lastReplyAt: iso(m.threadLastReplyAt), participants: m.threadParticipants ?? [] }
          : null
      })
      first = false
    }
    yield chunk
    after = rows[rows.length - 1]!.id
    if (rows.length < PAGE) break
  }
  yield ']}'
}

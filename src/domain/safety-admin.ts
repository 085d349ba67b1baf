// The operator's side: app roles (admin, moderator), reports, suspension,
// deleting any message, the user list, and the audit log that every action
// here writes in the same transaction as the action itself. Roles are read
// from the database on every request (requireRole), so a revocation holds at
// once, on every process.
import type { RealtimePublisher } from './events.js'
import { createRepositories, type Database, type Repositories } from '../repositories/index.js'
import { AppError, forbidden, notFound } from './errors.js'
import { appendEvents, inConversationTransaction, inTransaction, type Tx } from './event-log.js'
import { newId } from './ids.js'
import { toReportView } from './safety-reports.js'
import { toMessage, type MessageView } from './views.js'
import { unpinDeleted } from './pins.js'

export const APP_ROLES = ['admin', 'moderator'] as const
export type AppRole = typeof APP_ROLES[number]

export interface AdminDeps extends Database {
  publisher: RealtimePublisher
  /** A session was revoked: its sockets close and every process forgets it. */
  onSessionRevoked (sessionId: string, userId: string): void
  /**
   * Deletes an account as DELETE /v1/me does (account-deletion.ts), running `within` in its first transaction
   * under the account's row lock; false when the account is unknown or deleted already.
   */
  deleteAccount (userId: string, within: (tx: Tx) => Promise<void>): Promise<boolean>
  /** Called after commits that marked files for removal (see uploads.ts). */
  onFilesReleased?: () => void
}

export interface Page { limit: number, cursor?: string | undefined }

const rolesOf = (row: { appRoles: string[] | null } | null): string[] => row?.appRoles ?? []

/** Refuses login to a suspended account: 403 SUSPENDED. */
export async function assertNotSuspended (repos: Repositories, userId: string): Promise<void> {
  const user = await repos.safety.userModeration(userId)
  if (user?.suspendedAt != null) throw new AppError(403, 'SUSPENDED', 'This account has been suspended')
}

/** Grants or revokes an app role by username (the `npm run admin` command); false when the user does not exist. */
export async function setAppRole (db: Database, username: string, role: AppRole, granted: boolean): Promise<boolean> {
  const { safety } = createRepositories(db)
  const user = await safety.findByUsername(username.toLowerCase())
  if (user === null) return false
  const roles = new Set(rolesOf(user))
  if (granted) roles.add(role)
  else roles.delete(role)
  await safety.setAppRoles(user.id, [...roles].sort())
  return true
}

async function audit (tx: Tx, actorId: string, action: string, targetType: string, targetId: string, data: Record<string, unknown> = {}) {
  await tx.safety.audit({ id: newId(), actorId, action, targetType, targetId, data })
}

/**
 * The live account an operator suspends or unsuspends (404 for an unknown or
 * deleted one); only an admin acts on an admin or a moderator (403 `refusal`).
 */
async function staffMayAct (tx: Tx, actorRoles: string[], targetId: string, refusal: string) {
  const target = await tx.safety.userModeration(targetId)
  if (target === null || target.deletedAt !== null) throw notFound('User')
  if (rolesOf(target).length > 0 && !actorRoles.includes('admin')) throw forbidden(refusal)
  return target
}

/** Keyset page over uuidv7 ids, newest first. */
function page<T extends { id: string }> (rows: T[], limit: number) {
  return { rows: rows.slice(0, limit), nextCursor: rows.length > limit ? rows[limit - 1]!.id : null }
}

export function createAdminService (deps: AdminDeps) {
  const { publisher } = deps
  const repos = createRepositories(deps)
  const { safety } = repos

  return {
    /** The caller's app roles if they include one of `allowed`, else 403 FORBIDDEN (read from the database each time). */
    async requireRole (userId: string, allowed: readonly AppRole[]): Promise<string[]> {
      const roles = (await safety.appRoles(userId)) ?? []
      if (!roles.some((r) => (allowed as readonly string[]).includes(r))) throw forbidden('This needs the app role ' + allowed.join(' or '))
      return roles
    },

    async reports (status: 'open' | 'resolved', p: Page) {
      const rows = await safety.reports(status, p.cursor, p.limit + 1)
      const { rows: shown, nextCursor } = page(rows, p.limit)
      return { reports: shown.map(toReportView), nextCursor }
    },

    async resolveReport (actorId: string, reportId: string, input: { resolution: string }) {
      return inTransaction(repos, async (tx) => {
        const resolved = await tx.safety.resolveReport(reportId, { resolution: input.resolution, resolvedById: actorId, resolvedAt: new Date() })
        const report = await tx.safety.report(reportId)
        if (report === null) throw notFound('Report')
        if (!resolved) throw new AppError(409, 'CONFLICT', 'The report is already resolved')
        await audit(tx, actorId, 'report.resolved', 'report', reportId, { resolution: input.resolution })
        return toReportView(report)
      })
    },

    /**
     * Suspends a user: every session ends (sockets close with 4001), and login
     * answers 403 SUSPENDED until unsuspended. A moderator cannot suspend an
     * admin or a moderator; nobody suspends themself.
     */
    async suspend (actorId: string, actorRoles: string[], targetId: string, reason: string | null) {
      if (targetId === actorId) throw forbidden('You cannot suspend yourself')
      const revoked = await inTransaction(repos, async (tx) => {
        const target = await staffMayAct(tx, actorRoles, targetId, 'Only an admin can suspend an admin or a moderator')
        const now = new Date()
        if (target.suspendedAt === null) await tx.safety.setSuspended(targetId, now)
        const sessions = await tx.safety.revokeSessions(targetId, now)
        await audit(tx, actorId, 'user.suspended', 'user', targetId, { reason, sessionsEnded: sessions.length })
        return sessions
      })
      for (const sessionId of revoked) deps.onSessionRevoked(sessionId, targetId)
    },

    /**
     * Deletes a user's account for them, exactly as DELETE /v1/me does (a
     * suspended user cannot log in to do it; a data-erasure request comes to
     * the operator). Admins only, never their own (DELETE /v1/me is theirs);
     * an account already deleted answers 404. Audited in the transaction that
     * erases the identity, which checks the account under its row lock: of
     * parallel deletions one is done and audited, the others answer 404.
     */
    async deleteUser (actorId: string, targetId: string) {
      if (targetId === actorId) throw forbidden('Delete your own account with DELETE /v1/me')
      const deleted = await deps.deleteAccount(targetId, async (tx) => {
        const target = await tx.safety.userModeration(targetId)
        await audit(tx, actorId, 'user.deleted', 'user', targetId, { appRoles: rolesOf(target), suspended: target?.suspendedAt != null })
      })
      if (!deleted) throw notFound('User')
    },

    /** Lifts a suspension; as suspending, only an admin lifts an admin's or a moderator's. */
    async unsuspend (actorId: string, actorRoles: string[], targetId: string) {
      await inTransaction(repos, async (tx) => {
        await staffMayAct(tx, actorRoles, targetId, 'Only an admin can lift the suspension of an admin or a moderator')
        await tx.safety.setSuspended(targetId, null)
        await audit(tx, actorId, 'user.unsuspended', 'user', targetId)
      })
    },

    /**
     * Deletes any message, as its sender would: the tombstone, a
     * message.deleted event to the members who saw it, earlier events of it
     * redacted. Deleting a tombstone again writes nothing (and no audit).
     */
    async deleteMessage (actorId: string, messageId: string): Promise<MessageView> {
      const conversationId = await safety.messageConversation(messageId)
      if (conversationId === null) throw notFound('Message')
      // Deleted already: answered without taking the conversation's lock (looped, it would hold up the posts).
      const before = await repos.messages.find(conversationId, messageId)
      if (before === null) throw notFound('Message')
      if (before.deletedAt !== null) return toMessage(before)
      const result = await inConversationTransaction(repos, conversationId, async (tx) => {
        await tx.conversations.lock(conversationId)
        const messages = tx.messages
        const message = await messages.find(conversationId, messageId)
        if (message === null) throw notFound('Message')
        if (message.deletedAt !== null) return { message: toMessage(message), events: [], recipients: [] }
        let tombstone: MessageView | undefined
        const { events } = await appendEvents(tx, conversationId, [{
          type: 'message.deleted',
          data: null,
          dataFor: async (_seq, at) => {
            tombstone = toMessage(await messages.update(messageId, { body: '', deletedAt: at }))
            await tx.events.redactMessage(conversationId, messageId, message.seq, tombstone)
            return tombstone
          }
        }])
        events.push(...await unpinDeleted(tx, conversationId, [messageId], actorId))
        // A reply: its root's summary counts live replies only (threads.ts).
        if (message.threadRootId !== null) await messages.refreshThreads([message.threadRootId])
        // Its files go once this commits (see uploads.ts), as on the sender's delete.
        const released = message.attachments.length > 0
        if (released) await tx.uploads.markDeleting({ messageIds: [messageId] })
        const members = await tx.conversations.members(conversationId)
        await audit(tx, actorId, 'message.deleted', 'message', messageId, { conversationId, senderId: message.senderId })
        return { message: tombstone!, events, recipients: members.filter((m) => m.joinedSeq <= message.seq).map((m) => m.userId), released }
      })
      if (result.events.length > 0) publisher.publishEvents(result.events, result.recipients)
      if ('released' in result && result.released) deps.onFilesReleased?.()
      return result.message
    },

    /** Users by username prefix (all when absent), in username order. */
    async users (query: string | undefined, p: Page) {
      const rows = await safety.users(query?.toLowerCase(), p.cursor, p.limit + 1)
      const shown = rows.slice(0, p.limit)
      return {
        users: shown.map((u) => ({
          id: u.id, username: u.username, displayName: u.displayName, createdAt: u.createdAt.toISOString(),
          appRoles: rolesOf(u), suspendedAt: u.suspendedAt?.toISOString() ?? null
        })),
        nextCursor: rows.length > p.limit ? shown[shown.length - 1]!.username : null
      }
    },

    /** The audit log, newest first. */
    async audit (p: Page) {
      const rows = await safety.auditEntries(p.cursor, p.limit + 1)
      const { rows: shown, nextCursor } = page(rows, p.limit)
      return {
        entries: shown.map((e) => ({ id: e.id, actorId: e.actorId, action: e.action, targetType: e.targetType, targetId: e.targetId, data: e.data, createdAt: e.createdAt.toISOString() })),
        nextCursor
      }
    }
  }
}

export type AdminService = ReturnType<typeof createAdminService>

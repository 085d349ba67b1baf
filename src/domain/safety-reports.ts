// Reports: a user reports a message or a user, for moderators to resolve
// (GET/POST /v1/admin/reports). A reporter can report only what they can see:
// a message of a conversation they are a member of, from their joining on,
// and not deleted; any user but themself. Anything else is 404, as for a
// message that does not exist. A message report keeps its body as it was.
// A report is stored with the reporter's and the reported user's rows locked
// live (live-accounts.ts): a deletion erases the notes of its reports and
// (erase) the bodies kept of its messages, so a report racing it lands before
// that or is refused, never keeping them past it.
import { createRepositories, type Database } from '../repositories/index.js'
import type { ReportRow } from '../repositories/safety.js'
import { badRequest, notFound } from './errors.js'
import { newId } from './ids.js'
import { inTransaction } from './event-log.js'
import { lockLive } from './live-accounts.js'

import type { REPORT_REASONS } from '../schemas/safety.js'

export type ReportReason = typeof REPORT_REASONS[number]

export interface ReportInput { messageId?: string | undefined, userId?: string | undefined, reason: ReportReason, note?: string | undefined }

export const toReportView = (r: ReportRow) => ({
  id: r.id,
  reporterId: r.reporterId,
  userId: r.targetUserId,
  messageId: r.messageId,
  conversationId: r.conversationId,
  reason: r.reason,
  note: r.note,
  messageBody: r.snapshot,
  status: r.status as 'open' | 'resolved',
  resolution: r.resolution,
  resolvedBy: r.resolvedById,
  resolvedAt: r.resolvedAt?.toISOString() ?? null,
  createdAt: r.createdAt.toISOString()
})

export interface ReportDeps extends Database {
  /** DELETED_ACCOUNT_MESSAGES: with erase (the default), a deleted account's message is gone, even before its erasure has run. */
  deletedAccountMessages?: 'erase' | 'keep'
}

export function createReportService (deps: ReportDeps) {
  const repos = createRepositories(deps)
  const erase = deps.deletedAccountMessages !== 'keep'
  return {
    async create (reporterId: string, input: ReportInput) {
      if ((input.messageId === undefined) === (input.userId === undefined)) throw badRequest('body must have exactly one of messageId and userId')
      const note = input.note?.trim() || null
      let target: { targetUserId: string, messageId: string | null, conversationId: string | null, snapshot: string | null }
      if (input.messageId !== undefined) {
        const message = await repos.safety.reportableMessage(input.messageId, reporterId)
        if (message === null || !message.visible || message.deletedAt !== null) throw notFound('Message')
        if (message.senderId === reporterId) throw badRequest('body/messageId: you cannot report your own message')
        target = { targetUserId: message.senderId, messageId: input.messageId, conversationId: message.conversationId, snapshot: message.body }
      } else {
        if (input.userId === reporterId) throw badRequest('body/userId: you cannot report yourself')
        target = { targetUserId: input.userId!, messageId: null, conversationId: null, snapshot: null }
      }
      const row = await inTransaction(repos, async (tx) => {
        // The reporter deleted meanwhile: 401.
        const live = await lockLive(tx, reporterId, [target.targetUserId])
        if (!live.has(target.targetUserId)) {
          if (target.messageId === null) throw notFound('User')
          if (erase) throw notFound('Message')
        }
        return tx.safety.createReport({ id: newId(), reporterId, reason: input.reason, note, ...target })
      })
      return { id: row.id, status: 'open' as const, createdAt: row.createdAt.toISOString() }
    }
  }
}

export type ReportService = ReturnType<typeof createReportService>

// Notification preferences and the one rule that applies them. A user has a
// level (all, mentions, none; default all); each of their memberships has a
// level (the same, or default: the user's) and a mute until a time. Whether a
// recipient hears of a message (webhook job today, device push later) is
// decided by shouldNotify alone, for any number of recipients and messages
// in one statement.
import type { Database } from '../repositories/db.js'
import {
  createNotificationPreferencesRepository, type ConversationNotificationLevel, type NotificationLevel, type RecipientPreferences
} from '../repositories/notification-preferences.js'
import { parseDateTime } from './cursors.js'
import { notFound } from './errors.js'
import { mentionsUser } from './mentions.js'

export type { ConversationNotificationLevel, NotificationLevel } from '../repositories/notification-preferences.js'

export interface NotificationSettings { level: ConversationNotificationLevel, muteUntil: string | null }

/** What of a message the rule reads (a MessageView has all of it). */
export interface NotifiableMessage {
  conversationId: string
  seq: number
  senderId: string
  mentions: string[]
  mentionsAll: boolean
}

export interface NotifyQuestion { recipientId: string, message: NotifiableMessage }

/** The settings as the Conversation object shows them: a mute that has passed shows as none. */
export const toNotificationSettings = (s: { level: ConversationNotificationLevel, muteUntil: Date | null }, now: Date): NotificationSettings => ({
  level: s.level,
  muteUntil: s.muteUntil !== null && s.muteUntil > now ? s.muteUntil.toISOString() : null
})

/**
 * The rule for one recipient whose preferences are known (undefined: not a
 * current member). No notification of one's own messages, of a message from
 * before one's window, of a sender one has blocked, nor while the
 * conversation is muted; then the conversation's level, or the user's when it
 * is default: all, mentions (only a message that mentions the recipient, by
 * name or by @all), none.
 */
export function decide (prefs: RecipientPreferences | undefined, recipientId: string, message: NotifiableMessage, now: Date): boolean {
  if (prefs === undefined || recipientId === message.senderId) return false
  if (message.seq < prefs.joinedSeq || prefs.blockedSenders.includes(message.senderId)) return false
  if (prefs.muteUntil !== null && prefs.muteUntil > now) return false
  const level = prefs.level === 'default' ? prefs.userLevel : prefs.level
  if (level === 'none') return false
  return level === 'all' || mentionsUser(message, recipientId)
}

/**
 * Whether each recipient should be notified of each message, in the order
 * asked: one statement, whatever the number of questions.
 */
export async function shouldNotify (db: Database, questions: NotifyQuestion[], now = new Date()): Promise<boolean[]> {
  if (questions.length === 0) return []
  const pairs = new Map<string, { conversationId: string, userId: string }>()
  const senders = new Set<string>()
  for (const q of questions) {
    pairs.set(`${q.message.conversationId}:${q.recipientId}`, { conversationId: q.message.conversationId, userId: q.recipientId })
    senders.add(q.message.senderId)
  }
  const rows = await createNotificationPreferencesRepository(db).forRecipients([...pairs.values()], [...senders])
  const prefs = new Map(rows.map((r) => [`${r.conversationId}:${r.userId}`, r]))
  return questions.map((q) => decide(prefs.get(`${q.message.conversationId}:${q.recipientId}`), q.recipientId, q.message, now))
}

export function createNotificationPreferenceService (db: Database) {
  const repo = createNotificationPreferencesRepository(db)
  return {
    async getUser (userId: string): Promise<{ level: NotificationLevel }> {
      const level = await repo.userLevel(userId)
      if (level === null) throw notFound('User')
      return { level }
    },

    async setUser (userId: string, level: NotificationLevel): Promise<{ level: NotificationLevel }> {
      await repo.setUserLevel(userId, level)
      return { level }
    },

    /** Sets the caller's settings in a conversation (muteUntil omitted: kept); 404 unless a current member. */
    async setConversation (userId: string, conversationId: string, input: { level: ConversationNotificationLevel, muteUntil?: string | null | undefined }):
    Promise<NotificationSettings> {
      const muteUntil = input.muteUntil === undefined ? undefined : input.muteUntil === null ? null : parseDateTime(input.muteUntil, 'body/muteUntil')
      const saved = await repo.setConversation(conversationId, userId, input.level, muteUntil)
      if (saved === null) throw notFound('Conversation')
      return toNotificationSettings(saved, new Date())
    }
  }
}

export type NotificationPreferenceService = ReturnType<typeof createNotificationPreferenceService>

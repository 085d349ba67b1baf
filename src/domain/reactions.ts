// Reactions: a member puts an emoji (one Unicode emoji grapheme, or a
// configured custom name as :name:) on a message they can see. Each change is
// an event in the conversation's log (reaction.added / reaction.removed),
// written under the conversation's lock and published after commit to the
// members whose window holds the message, as an edit is. Counts are read from
// the rows (repositories/reactions.ts): exact under any concurrency.
import type { RealtimePublisher } from './events.js'
import type { LockedConversation, MemberRow } from '../repositories/conversations.js'
import { createRepositories, type Database } from '../repositories/index.js'
import type { ReactionSummary } from '../repositories/reactions.js'
import { AppError, notFound } from './errors.js'
import { appendEvents, inConversationTransaction, lockAsMember, type Tx } from './event-log.js'
import { assertMayWrite } from './safety-moderation.js'
import { assertNotBlockedBy } from './safety-blocks.js'

export type { ReactionSummary } from '../repositories/reactions.js'

export interface ReactionDeps extends Database {
  publisher: RealtimePublisher
  /** Names of the custom reactions (REACTIONS_CUSTOM), used as `:name:`. */
  custom: readonly string[]
  perUserPerMessage: number
  /** Distinct emoji one message may carry from all its reactors (REACTIONS_DISTINCT_PER_MESSAGE). */
  distinctPerMessage: number
}

/** data of reaction.added / reaction.removed. */
export interface ReactionEventData { messageId: string, messageSeq: number, userId: string, emoji: string }

const graphemes = new Intl.Segmenter(undefined, { granularity: 'grapheme' })
// Built at run time: the `v` flag (sets of strings such as RGI_Emoji) is newer than the compiler's target.
const RGI_EMOJI = new RegExp('^\\p{RGI_Emoji}$', 'v')
const CUSTOM = /^:([a-z0-9_+-]{1,32}):$/
const VS16 = '\uFE0F'

/**
 * The stored form of a reaction, or undefined when it is none: exactly one
 * grapheme that is a recommended (RGI) emoji, or `:name:` of a configured
 * custom reaction. An emoji written without its presentation selector (U+2764
 * for U+2764 U+FE0F) is stored with it, so both spellings are one reaction.
 */
export function normalizeReaction (raw: string, custom: readonly string[]): string | undefined {
  if (raw.length === 0 || raw.length > 64) return undefined
  const name = CUSTOM.exec(raw)
  if (name !== null) return custom.includes(name[1]!) ? raw : undefined
  let count = 0
  for (const _ of graphemes.segment(raw)) if (++count > 1) return undefined
  if (RGI_EMOJI.test(raw)) return raw
  if (!raw.endsWith(VS16) && RGI_EMOJI.test(raw + VS16)) return raw + VS16
  return undefined
}

/** The members whose window holds a message: the recipients of what happens to it. */
export const membersSeeing = (members: MemberRow[], messageSeq: number) =>
  members.filter((m) => m.joinedSeq <= messageSeq).map((m) => m.userId)

/**
 * Locks the conversation and finds a message of it the caller can see (404
 * otherwise, as for a message of another conversation); a deleted one is 409
 * CONFLICT.
 */
export async function lockLiveMessage (tx: Tx, userId: string, conversationId: string, messageId: string) {
  const locked = await lockAsMember(tx, conversationId, userId)
  const message = await tx.messages.find(conversationId, messageId)
  if (message === null || message.seq < locked.me.joinedSeq) throw notFound('Message')
  if (message.deletedAt !== null) throw new AppError(409, 'CONFLICT', 'The message has been deleted')
  return { ...locked, message }
}

/**
 * The rules of posting, for writes about a message that are not posts
 * (reactions, pins): a muted member (403 MUTED) or a plain member of a frozen
 * group (403 FROZEN) may not, nor a member of a direct conversation whose
 * other member blocked them (403 BLOCKED).
 */
export async function assertMayInteract (tx: Tx, conversation: LockedConversation, members: MemberRow[], me: MemberRow): Promise<void> {
  await assertMayWrite(tx, conversation.id, me)
  if (conversation.type === 'direct') await assertNotBlockedBy(tx.safety, me.userId, members.filter((m) => m.userId !== me.userId).map((m) => m.userId))
}

export function createReactionService (deps: ReactionDeps) {
  const { publisher } = deps
  const repos = createRepositories(deps)

  function parse (raw: string): string {
    const emoji = normalizeReaction(raw, deps.custom)
    if (emoji === undefined) {
      const custom = deps.custom.length === 0 ? '' : ` or one of ${deps.custom.map((c) => `:${c}:`).join(', ')}`
      throw new AppError(400, 'INVALID_REACTION', `A reaction is one emoji${custom}`)
    }
    return emoji
  }

  async function change (userId: string, conversationId: string, messageId: string, raw: string, add: boolean) {
    const emoji = parse(raw)
    const result = await inConversationTransaction(repos, conversationId, async (tx) => {
      const { conversation, members, me, message } = await lockLiveMessage(tx, userId, conversationId, messageId)
      await assertMayInteract(tx, conversation, members, me)
      const mine = await tx.reactions.ofUser(messageId, userId)
      // Already so: nothing to write, the same answer.
      if (mine.includes(emoji) === add) return null
      if (add) {
        if (mine.length >= deps.perUserPerMessage) {
          throw new AppError(409, 'TOO_MANY_REACTIONS', `At most ${deps.perUserPerMessage} different reactions per message`)
        }
        // Judged under the conversation's lock, as the write below: concurrent
        // adds of new emoji cannot pass the cap together. One already there
        // is always allowed (it adds a count, not an entry).
        const on = await tx.reactions.distinctOn(messageId, emoji)
        if (!on.present && on.distinct >= deps.distinctPerMessage) {
          throw new AppError(409, 'TOO_MANY_REACTIONS', `This message already has ${deps.distinctPerMessage} different reactions, the most it may have: add one of those`)
        }
      }
      const data: ReactionEventData = { messageId, messageSeq: message.seq, userId, emoji }
      const { events } = await appendEvents(tx, conversationId, [{
        type: add ? 'reaction.added' : 'reaction.removed',
        data: null,
        dataFor: async (_seq, at) => {
          const changed = add ? await tx.reactions.add(messageId, userId, emoji, at) : await tx.reactions.remove(messageId, userId, emoji)
          // Under the conversation's lock nothing else changes the rows: checked above.
          if (!changed) throw new Error('reaction changed outside the conversation lock')
          return data
        }
      }])
      return { events, recipients: membersSeeing(members, message.seq) }
    })
    if (result !== null) publisher.publishEvents(result.events, result.recipients)
    return { messageId, emoji, reactions: (await repos.reactions.summaries([messageId], userId)).get(messageId) ?? [] }
  }

  return {
    /** Adds the caller's reaction; already there: nothing is written, the same answer. */
    react: (userId: string, conversationId: string, messageId: string, emoji: string) => change(userId, conversationId, messageId, emoji, true),

    /** Takes the caller's reaction back; not there: nothing is written, the same answer. */
    unreact: (userId: string, conversationId: string, messageId: string, emoji: string) => change(userId, conversationId, messageId, emoji, false),

    /** Reactions of these messages as `viewerId` sees them. */
    summaries: (messageIds: string[], viewerId: string): Promise<Map<string, ReactionSummary[]>> => repos.reactions.summaries(messageIds, viewerId)
  }
}

export type ReactionService = ReturnType<typeof createReactionService>

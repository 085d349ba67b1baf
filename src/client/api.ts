// Every REST call of API.md, typed from the server's schemas.
import type { Transport, Session } from './transport.js'
import { ApiError } from './errors.js'
import { createUploads } from './uploads.js'
import type {
  AdminUserPage, AuditPage, BanList, BanListQuery, BlockList, BlockListQuery, CreateReportBody, Report, ReportCreated, ReportPage,
  AuthResult, Conversation, ConversationListQuery, ConversationPage, EventPage, EventsQuery, HistoryQuery, LoginBody,
  Member, MemberListQuery, MemberPage, Message, MessagePage, PostMessageBody, EditMessageBody, PresenceList, PublicUser, RegisterBody, User, UserList,
  AccountExport, ChangePasswordBody, PasswordResetConfirm, PasswordResetRequest, SessionList,
  DeliveryList, Device, DeviceList, PushConfigInfo, PutDeviceBody, TestPushResult,
  ConversationNotifications, NotificationLevel, SetConversationNotificationsBody, UserNotifications,
  FollowedThreadPage, FollowedThreadQuery,
  ReactionResult, Pin, PinList, UnreadTotals, UnreadQuery,
  SearchMessagesQuery, SearchPage, ChannelListQuery, ChannelPage, CreateInviteBody, CreatedInvite, InviteList, InvitationList, GroupInvitationList, GroupInvitationListQuery,
  SyncPage, SyncQuery
} from './types.js'

const enc = encodeURIComponent
const conv = (id: string) => `/v1/conversations/${enc(id)}`

/** A client-side idempotency key; crypto.randomUUID is missing on insecure origins and some runtimes. */
export function newClientMessageId (): string {
  const c = (globalThis as { crypto?: { randomUUID?: () => string } }).crypto
  if (typeof c?.randomUUID === 'function') return c.randomUUID()
  return `${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 12)}-${Math.random().toString(36).slice(2, 12)}`
}

const SEND_ATTEMPTS = 3
/** A sync may wait its turn on the server (SYNC_QUEUE_TIMEOUT_MS, 30 s by default) before it is read. */
const SYNC_TIMEOUT_MS = 60_000

export function createApi (t: Transport) {
  const auth = {
    /** Creates an account and logs in (the session is kept by the client). */
    async register (body: RegisterBody): Promise<Session> {
      return t.accept(await t.request<AuthResult>('POST', '/v1/auth/register', { body, auth: false }))
    },
    async login (body: LoginBody): Promise<Session> {
      return t.accept(await t.request<AuthResult>('POST', '/v1/auth/login', { body, auth: false }))
    },
    /** New tokens now (normally automatic). */
    refresh: (): Promise<Session> => t.refresh(),
    /** Ends the session on the server (its sockets close with 4001) and forgets it here. */
    async logout (): Promise<void> {
      const session = t.session
      if (session === null) return
      try {
        await t.request<void>('POST', '/v1/auth/logout', { body: { refreshToken: session.refreshToken }, auth: false })
      } finally {
        t.setSession(null)
      }
    },
    /** Mails a reset token to the account's verified email, if there is such an account (the answer is the same either way). */
    requestPasswordReset: (body: PasswordResetRequest) => t.request<{ accepted: true }>('POST', '/v1/auth/password-reset', { body, auth: false }),
    /** Sets a new password with the mailed token; every session of the account ends. */
    confirmPasswordReset: (body: PasswordResetConfirm) => t.request<void>('POST', '/v1/auth/password-reset/confirm', { body, auth: false })
  }

  /** The caller's own account (README "Accounts and safety"). */
  const account = {
    /** Every other session ends (its sockets close with 4001); this one stays. */
    changePassword: (body: ChangePasswordBody) => t.request<void>('POST', '/v1/me/password', { body }),
    sessions: () => t.request<SessionList>('GET', '/v1/me/sessions'),
    endSession: (id: string) => t.request<void>('DELETE', `/v1/me/sessions/${enc(id)}`),
    /** Log out everywhere else. */
    endOtherSessions: () => t.request<{ ended: number }>('POST', '/v1/me/sessions/end-others'),
    updateProfile: (body: { displayName?: string, avatarUploadId?: string | null }) => t.request<User>('PATCH', '/v1/me', { body }),
    /** A completed image upload (uploads.upload(null, file)) becomes the avatar; null removes it. */
    setAvatar: (uploadId: string | null) => t.request<User>('PATCH', '/v1/me', { body: { avatarUploadId: uploadId } }),
    /** Mails a 6-digit code to the address; verifyEmail(code) makes it the account's email. */
    requestEmail: (email: string, password: string) => t.request<{ accepted: true }>('POST', '/v1/me/email', { body: { email, password } }),
    verifyEmail: (code: string) => t.request<{ email: string }>('POST', '/v1/me/email/verify', { body: { code } }),
    /** Everything stored about the caller. */
    export: () => t.request<AccountExport>('GET', '/v1/me/export'),
    /** Deletes the account for good and forgets the session here. */
    async deleteAccount (password: string): Promise<void> {
      await t.request<void>('DELETE', '/v1/me', { body: { password } })
      t.setSession(null)
    }
  }

  const users = {
    me: () => t.request<User>('GET', '/v1/me'),
    get: (id: string) => t.request<PublicUser>('GET', `/v1/users/${enc(id)}`),
    search: (query: string, limit?: number) => t.request<UserList>('GET', '/v1/users', { query: { query, limit } }),
    /** Presence of up to 100 users at once (a contact list); live changes then come as presence frames. */
    presence: (userIds: string[]) => t.request<PresenceList>('GET', '/v1/presence', { query: { userIds: userIds.join(',') } })
  }

  const conversations = {
    /** A page of the caller's conversations; each shows its memberCount and only its first members (see members()). */
    list: (query: ConversationListQuery = {}) => t.request<ConversationPage>('GET', '/v1/conversations', { query }),
    /** Every page of list(). */
    async listAll (): Promise<Conversation[]> {
      const all: Conversation[] = []
      let cursor: string | undefined
      do {
        const page = await conversations.list({ limit: 100, ...(cursor === undefined ? {} : { cursor }) })
        all.push(...page.conversations)
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
      return all
    },
    /** One conversation, with all its members. */
    get: (id: string) => t.request<Conversation>('GET', conv(id)),
    /**
     * A page of a conversation's current members, in joining order. list()
     * shows only the first few of each conversation: when `members.length`
     * is below `memberCount`, page here for the rest.
     */
    members: (id: string, query: MemberListQuery = {}) => t.request<MemberPage>('GET', `${conv(id)}/members`, { query }),
    /** Every page of members(). */
    async allMembers (id: string): Promise<Member[]> {
      const all: Member[] = []
      let cursor: string | undefined
      do {
        const page = await conversations.members(id, { limit: 100, ...(cursor === undefined ? {} : { cursor }) })
        all.push(...page.members)
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
      return all
    },
    /** The direct conversation with that user (created on first use). */
    openDirect: (userId: string) => t.request<Conversation>('POST', '/v1/conversations', { body: { type: 'direct', userId } }),
    /** A group; `{ public: true }` makes it a channel (listed by channels.list, joinable). */
    createGroup: (title: string, memberIds: string[], options: { public?: boolean } = {}) =>
      t.request<Conversation>('POST', '/v1/conversations', { body: { type: 'group', title, memberIds, ...options } }),
    rename: (id: string, title: string) => t.request<Conversation>('PATCH', conv(id), { body: { title } }),
    /** A completed image upload becomes the group's picture (owner or admin); null removes it. */
    setPicture: (id: string, uploadId: string | null) => t.request<Conversation>('PATCH', conv(id), { body: { pictureUploadId: uploadId } }),
    /** Makes a group public (a channel) or private again (owner or admin); writes conversation.updated. */
    setPublic: (id: string, isPublic: boolean) => t.request<Conversation>('PATCH', conv(id), { body: { public: isPublic } }),
    /** Adds users to a group (owner or admin); with GROUP_ADDS=invite it invites them instead (see invitations()). */
    addMembers: (id: string, userIds: string[]) => t.request<Conversation>('POST', `${conv(id)}/members`, { body: { userIds } }),
    /** A page of a group's pending invitations (owner or admin), newest first; pass nextCursor as cursor (see allInvitations). */
    invitations: (id: string, query: GroupInvitationListQuery = {}) => t.request<GroupInvitationList>('GET', `${conv(id)}/invitations`, { query }),
    /** Every page of invitations(). */
    async allInvitations (id: string): Promise<GroupInvitationList['invitations']> {
      const all: GroupInvitationList['invitations'] = []
      let cursor: string | undefined
      do {
        const page = await conversations.invitations(id, { limit: 100, ...(cursor === undefined ? {} : { cursor }) })
        all.push(...page.invitations)
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
      return all
    },
    /** Withdraws a user's pending invitation (owner or admin), freeing its place; none pending: nothing happens. */
    withdrawInvitation: (id: string, userId: string) => t.request<void>('DELETE', `${conv(id)}/invitations/${enc(userId)}`),
    setRole: (id: string, userId: string, role: 'admin' | 'member') =>
      t.request<Conversation>('PATCH', `${conv(id)}/members/${enc(userId)}`, { body: { role } }),
    /** Removes a member; your own id leaves the conversation. */
    removeMember: (id: string, userId: string) => t.request<void>('DELETE', `${conv(id)}/members/${enc(userId)}`),
    markRead: (id: string, seq: number) => t.request<void>('POST', `${conv(id)}/read`, { body: { seq } }),
    /** A thread's replies, as history() pages a conversation (post a reply: messages.send with threadRootId). */
    thread: (id: string, rootId: string, query: HistoryQuery = {}) =>
      t.request<MessagePage>('GET', `${conv(id)}/messages/${enc(rootId)}/thread`, { query }),
    /** Moves your read position in a thread forward; your devices get a threadRead event. */
    threadRead: (id: string, rootId: string, seq: number) =>
      t.request<void>('POST', `${conv(id)}/messages/${enc(rootId)}/thread/read`, { body: { seq } }),
    /** Acknowledges that this device received the conversation up to seq (also realtime.delivered, over the socket). */
    delivered: (id: string, seq: number) => t.request<void>('POST', `${conv(id)}/delivered`, { body: { seq } }),
    /** Puts your reaction (one emoji, or :name: of a custom one) on a message; already there: the same answer. */
    react: (id: string, messageId: string, emoji: string) =>
      t.request<ReactionResult>('PUT', `${conv(id)}/messages/${enc(messageId)}/reactions/${enc(emoji)}`),
    /** Takes your reaction back; not there: the same answer. */
    unreact: (id: string, messageId: string, emoji: string) =>
      t.request<ReactionResult>('DELETE', `${conv(id)}/messages/${enc(messageId)}/reactions/${enc(emoji)}`),
    /** Pins a message (group owner or admin; either member of a direct conversation); already pinned: the pin as it is. */
    pin: (id: string, messageId: string) => t.request<Pin>('PUT', `${conv(id)}/pins/${enc(messageId)}`),
    unpin: (id: string, messageId: string) => t.request<void>('DELETE', `${conv(id)}/pins/${enc(messageId)}`),
    /** The pinned messages you can see, newest pin first. */
    pins: (id: string) => t.request<PinList>('GET', `${conv(id)}/pins`)
  }

  const me = {
    /** The threads you follow (started, replied to, mentioned in), newest activity first; pass nextCursor as cursor. */
    threads: (query: FollowedThreadQuery = {}) => t.request<FollowedThreadPage>('GET', '/v1/me/threads', { query }),
    /**
     * The app badge: the same total device pushes show (README "Reactions, pins and receipts"), and the first page
     * of the conversations with something unread; pass nextCursor as cursor for the next (or use unreadAll).
     */
    unread: (query: UnreadQuery = {}) => t.request<UnreadTotals>('GET', '/v1/me/unread', { query }),
    /**
     * Every page of unread(): the totals of the last page read, with all the conversations (nextCursor null).
     * Each page counts toward the same budget as a sync (SYNC_RATE_LIMIT_PER_MINUTE).
     */
    async unreadAll (): Promise<UnreadTotals> {
      const conversations: UnreadTotals['conversations'] = []
      let page: UnreadTotals
      let cursor: string | undefined
      do {
        page = await me.unread({ limit: 100, ...(cursor === undefined ? {} : { cursor }) })
        conversations.push(...page.conversations)
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
      return { ...page, conversations, nextCursor: null }
    }
  }

  const messages = {
    /**
     * Posts a message. A clientMessageId is generated when missing, so the
     * SDK can retry a send whose answer was lost without posting it twice.
     */
    async send (conversationId: string, body: string | PostMessageBody): Promise<Message> {
      const input: PostMessageBody = typeof body === 'string' ? { body } : body
      const payload = { ...input, clientMessageId: input.clientMessageId ?? newClientMessageId() }
      for (let attempt = 1; ; attempt++) {
        try {
          return await t.request<Message>('POST', `${conv(conversationId)}/messages`, { body: payload })
        } catch (err) {
          if (!(err instanceof ApiError) || err.status !== 0 || attempt >= SEND_ATTEMPTS) throw err
        }
      }
    },
    /** History: newest first (no cursor or `before`), oldest first with `after`. */
    history: (conversationId: string, query: HistoryQuery = {}) =>
      t.request<MessagePage>('GET', `${conv(conversationId)}/messages`, { query }),
    /** Edits your message: a new body, or any of body, type and metadata (null clears it). */
    edit: (conversationId: string, messageId: string, change: string | EditMessageBody) =>
      t.request<Message>('PATCH', `${conv(conversationId)}/messages/${enc(messageId)}`, { body: typeof change === 'string' ? { body: change } : change }),
    remove: (conversationId: string, messageId: string) =>
      t.request<Message>('DELETE', `${conv(conversationId)}/messages/${enc(messageId)}`),
    /** The event log after a seq, ascending (what realtime replays for you). */
    events: (conversationId: string, query: EventsQuery = {}) =>
      t.request<EventPage>('GET', `${conv(conversationId)}/events`, { query })
  }

  /** Blocks and reports (README "Accounts and safety"). */
  const safety = {
    block: (userId: string) => t.request<void>('PUT', `/v1/me/blocks/${enc(userId)}`),
    unblock: (userId: string) => t.request<void>('DELETE', `/v1/me/blocks/${enc(userId)}`),
    /** A page of the users you have blocked, most recent first; pass nextCursor as cursor (see allBlocks, blockedIds). */
    blocks: (query: BlockListQuery = {}) => t.request<BlockList>('GET', '/v1/me/blocks', { query }),
    /** Every page of blocks(): everyone you have blocked. */
    async allBlocks (): Promise<BlockList['blocks']> {
      const all: BlockList['blocks'] = []
      let cursor: string | undefined
      do {
        const page = await safety.blocks({ limit: 100, ...(cursor === undefined ? {} : { cursor }) })
        all.push(...page.blocks)
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
      return all
    },
    /** The ids of everyone you have blocked (every page), as a set to filter with: hide their messages in shared groups (see hideBlocked). */
    async blockedIds (): Promise<Set<string>> {
      return new Set((await safety.allBlocks()).map((b) => b.userId))
    },
    /** Report a message you can see, or a user: exactly one of messageId and userId. */
    report: (body: CreateReportBody) => t.request<ReportCreated>('POST', '/v1/reports', { body })
  }

  /** Group moderation by the owner and admins. */
  const moderation = {
    ban: (id: string, userId: string) => t.request<void>('PUT', `${conv(id)}/bans/${enc(userId)}`),
    unban: (id: string, userId: string) => t.request<void>('DELETE', `${conv(id)}/bans/${enc(userId)}`),
    /** A page of the users banned from a group, newest first; pass nextCursor as cursor (see allBans). */
    bans: (id: string, query: BanListQuery = {}) => t.request<BanList>('GET', `${conv(id)}/bans`, { query }),
    /** Every page of bans(). */
    async allBans (id: string): Promise<BanList['bans']> {
      const all: BanList['bans'] = []
      let cursor: string | undefined
      do {
        const page = await moderation.bans(id, { limit: 100, ...(cursor === undefined ? {} : { cursor }) })
        all.push(...page.bans)
        cursor = page.nextCursor ?? undefined
      } while (cursor !== undefined)
      return all
    },
    mute: (id: string, userId: string) => t.request<void>('PUT', `${conv(id)}/mutes/${enc(userId)}`),
    unmute: (id: string, userId: string) => t.request<void>('DELETE', `${conv(id)}/mutes/${enc(userId)}`),
    /** One post per `seconds` per plain member; 0 turns slow mode off. */
    setSlowMode: (id: string, seconds: number) => t.request<void>('PUT', `${conv(id)}/slow-mode`, { body: { seconds } }),
    freeze: (id: string) => t.request<void>('PUT', `${conv(id)}/freeze`),
    unfreeze: (id: string) => t.request<void>('DELETE', `${conv(id)}/freeze`)
  }

  /** The operator's API (app role admin or moderator; the audit log: admin). */
  const admin = {
    reports: (query: { status?: 'open' | 'resolved', limit?: number, cursor?: string } = {}) => t.request<ReportPage>('GET', '/v1/admin/reports', { query }),
    resolveReport: (id: string, resolution: string) => t.request<Report>('POST', `/v1/admin/reports/${enc(id)}/resolve`, { body: { resolution } }),
    suspend: (userId: string, reason?: string) =>
      t.request<void>('PUT', `/v1/admin/users/${enc(userId)}/suspension`, { body: reason === undefined ? {} : { reason } }),
    unsuspend: (userId: string) => t.request<void>('DELETE', `/v1/admin/users/${enc(userId)}/suspension`),
    /** Deletes a user's account for them (app role admin): as `me.deleteAccount` does, audited. */
    deleteUser: (userId: string) => t.request<void>('DELETE', `/v1/admin/users/${enc(userId)}`),
    deleteMessage: (messageId: string) => t.request<Message>('DELETE', `/v1/admin/messages/${enc(messageId)}`),
    users: (query: { query?: string, limit?: number, cursor?: string } = {}) => t.request<AdminUserPage>('GET', '/v1/admin/users', { query }),
    audit: (query: { limit?: number, cursor?: string } = {}) => t.request<AuditPage>('GET', '/v1/admin/audit', { query })
  }

  /**
   * Device push (README "Device push"): register this app install's push
   * token or Web Push subscription under an id you keep (one per install).
   * A device belongs to the session that registered it: logout removes it.
   */
  const devices = {
    /** The push services of this server and the VAPID key for PushManager.subscribe. */
    pushConfig: () => t.request<PushConfigInfo>('GET', '/v1/push/config', { auth: false }),
    register: (deviceId: string, body: PutDeviceBody) => t.request<Device>('PUT', `/v1/me/devices/${enc(deviceId)}`, { body }),
    list: () => t.request<DeviceList>('GET', '/v1/me/devices'),
    remove: (deviceId: string) => t.request<void>('DELETE', `/v1/me/devices/${enc(deviceId)}`),
    /** The latest pushes to the device, newest first, with their status and the provider's reason. */
    deliveries: (deviceId: string, limit?: number) => t.request<DeliveryList>('GET', `/v1/me/devices/${enc(deviceId)}/deliveries`, { query: { limit } }),
    /** Sends a test push; follow it with deliveries(). Rate-limited per user. */
    test: (deviceId: string) => t.request<TestPushResult>('POST', `/v1/me/devices/${enc(deviceId)}/test`)
  }

  /** Notification preferences: they decide offline notifications (README "Mentions and notification preferences"). */
  const notifications = {
    /** Your level, for every conversation whose own level is default. */
    get: () => t.request<UserNotifications>('GET', '/v1/me/notifications'),
    set: (level: NotificationLevel) => t.request<UserNotifications>('PUT', '/v1/me/notifications', { body: { level } }),
    /** Your level in one conversation (default: your own level) and a mute until a time (null: unmute; omitted: kept). */
    setConversation: (id: string, body: SetConversationNotificationsBody) =>
      t.request<ConversationNotifications>('PUT', `${conv(id)}/notifications`, { body })
  }

  /** Public channels (README "Search, channels and invitations"). */
  const channels = {
    /** Public groups, newest first; `query` (3-100 characters) matches titles. */
    list: (query: ChannelListQuery = {}) => t.request<ChannelPage>('GET', '/v1/channels', { query }),
    /** Joins a public group (idempotent); answers the Conversation. */
    join: (id: string) => t.request<Conversation>('POST', `${conv(id)}/join`)
  }

  /** Invite links of groups (README "Search, channels and invitations"). */
  const invites = {
    /** A new invite (owner or admin); its code is in this answer only. */
    create: (conversationId: string, body: CreateInviteBody = {}) => t.request<CreatedInvite>('POST', `${conv(conversationId)}/invites`, { body }),
    /** The group's usable invites, without their codes. */
    list: (conversationId: string) => t.request<InviteList>('GET', `${conv(conversationId)}/invites`),
    /** Revokes an invite named by its code or its id. */
    revoke: (conversationId: string, codeOrId: string) => t.request<void>('DELETE', `${conv(conversationId)}/invites/${enc(codeOrId)}`),
    /** Joins the invite's group; answers the Conversation. */
    accept: (code: string) => t.request<Conversation>('POST', `/v1/invites/${enc(code)}/accept`)
  }

  /**
   * Your pending invitations to groups (GROUP_ADDS=invite); the realtime `invitation` event tells of a new one,
   * `invitationWithdrawn` of one withdrawn. Each expires at its expiresAt.
   */
  const invitations = {
    list: () => t.request<InvitationList>('GET', '/v1/me/invitations'),
    /** Joins the group; answers the Conversation. */
    accept: (conversationId: string) => t.request<Conversation>('POST', `/v1/me/invitations/${enc(conversationId)}/accept`),
    decline: (conversationId: string) => t.request<void>('POST', `/v1/me/invitations/${enc(conversationId)}/decline`)
  }

  /** Message search (README "Search, channels and invitations"). */
  const search = {
    /**
     * Messages of your conversations matching every term of q, newest first,
     * each with a plain-text snippet (show it as text, not HTML). Pass
     * nextCursor as `before` for the next page.
     */
    messages: (query: SearchMessagesQuery) => t.request<SearchPage>('GET', '/v1/search/messages', { query })
  }

  /**
   * What changed for you since a cursor (GET /v1/sync): the conversations
   * joined, left, with new events or a read position moved elsewhere, and the
   * badge. Follow `cursor` while `hasMore`; keep the last one for the next
   * sync. Without `since`, only a cursor that starts now. realtime does this
   * for you after every reconnect. In a reconnect storm the server queues
   * syncs and answers each in turn (up to SYNC_QUEUE_TIMEOUT_MS, 30 s by
   * default), so a sync waits up to a minute before it times out; a 503
   * carries a Retry-After (ApiError.retryAfter).
   */
  const sync = (query: SyncQuery = {}) => t.request<SyncPage>('GET', '/v1/sync', { query, timeoutMs: SYNC_TIMEOUT_MS })

  return { auth, users, account, conversations, messages, me, safety, moderation, admin, notifications, devices, search, channels, invites, invitations, sync, uploads: createUploads(t) }
}

/** Whether a message mentions this user: by name, or by @all (from a group's owner or admin); never their own message. */
export function mentionsMe (message: { senderId: string, mentions: string[], mentionsAll: boolean }, userId: string): boolean {
  return message.senderId !== userId && (message.mentionsAll || message.mentions.includes(userId))
}

/** Messages whose sender you have blocked left out (they stay in the log; replay is unchanged). */
export function hideBlocked<T extends { senderId: string }> (messages: T[], blocked: ReadonlySet<string>): T[] {
  return blocked.size === 0 ? messages : messages.filter((m) => !blocked.has(m.senderId))
}

export type Api = ReturnType<typeof createApi>

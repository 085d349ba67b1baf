// Push devices and their deliveries. The registry goes through Prisma; the
// push path (recipients, badges, claiming and settling a batch of deliveries)
// runs on the pool as one statement per batch, since it runs per device push.
import { Prisma } from '../generated/prisma/client.js'
import { accountStatements } from './accounts.js'
import type { Database } from './db.js'
import { unreadTotals } from './unread.js'

export type Platform = 'fcm' | 'apns' | 'webpush'
export type DeliveryKind = 'message' | 'read' | 'test'
export type DeliveryStatus = 'queued' | 'sent' | 'accepted' | 'failed'

export interface WebPushKeys { p256dh: string, auth: string }

export interface DeviceRecord {
  deviceId: string
  platform: Platform
  token: string
  keys: WebPushKeys | null
  appId: string | null
  locale: string | null
  createdAt: Date
  updatedAt: Date
}

export interface DeviceInput {
  userId: string
  deviceId: string
  sessionId: string
  platform: Platform
  token: string
  keys: WebPushKeys | null
  appId: string | null
  locale: string | null
}

export interface DeliveryRecord {
  id: string
  deviceId: string
  provider: Platform
  kind: DeliveryKind
  conversationId: string | null
  seq: number | null
  status: DeliveryStatus
  reason: string | null
  attempts: number
  createdAt: Date
  updatedAt: Date
}

export interface NewDelivery {
  id: string
  userId: string
  deviceId: string
  provider: Platform
  kind: DeliveryKind
  conversationId: string | null
  seq: number | null
  payload: unknown
}

/** A delivery claimed for sending, with the device it goes to as it is now. */
export interface ClaimedDelivery {
  id: string
  userId: string
  deviceId: string
  kind: DeliveryKind
  payload: unknown
  attempts: number
  token: string
  keys: WebPushKeys | null
  appId: string | null
  locale: string | null
}

export interface Settlement { id: string, status: DeliveryStatus, reason: string | null }

/** A registration may wait its turn behind the user's others (one at a time): as long as a locked conversation's writes may. */
const UPSERT_TX = { maxWait: 10_000, timeout: 15_000 }

const deviceSelect = { deviceId: true, platform: true, token: true, keys: true, appId: true, locale: true, createdAt: true, updatedAt: true } as const

export function createDevicesRepository ({ prisma, pool }: Database) {
  return {
    /**
     * Registers or updates a device for the session. The same push token
     * registered elsewhere before (another account on the same phone) moves
     * here. A user keeps at most `maxPerUser` devices: registering one more
     * drops the one updated longest ago (an old phone, a reinstall that got a
     * new id). Null when the session has ended (or is gone with its account).
     *
     * The session row is locked (FOR SHARE) and checked live before anything
     * is written: a logout or a deletion racing this waits for it to commit,
     * then its trigger or cascade takes the new device; one that committed
     * first is seen here (401, not a foreign key error). The user row is
     * locked before it (FOR KEY SHARE, as the device's foreign key would lock
     * it later) and checked not deleted: a deletion locks the user row, then
     * the sessions, and the other order deadlocks with it. A user's
     * registrations then go one at a time (an advisory lock on the user,
     * whatever the session), so each trim counts the others' new devices.
     */
    async upsert (d: DeviceInput, maxPerUser: number): Promise<DeviceRecord | null> {
      const data = { sessionId: d.sessionId, platform: d.platform, token: d.token, keys: d.keys === null ? Prisma.DbNull : { p256dh: d.keys.p256dh, auth: d.keys.auth }, appId: d.appId, locale: d.locale }
      return prisma.$transaction(async (tx) => {
        if ((await accountStatements(tx).lockLive([d.userId], 'share')).size === 0) return null
        const [session] = await tx.$queryRaw<Array<{ revoked_at: Date | null }>>`
          SELECT revoked_at FROM sessions WHERE id = ${d.sessionId}::uuid AND user_id = ${d.userId}::uuid FOR SHARE`
        if (session === undefined || session.revoked_at !== null) return null
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('devices:' || ${d.userId}))`
        await tx.device.deleteMany({ where: { platform: d.platform, token: d.token, NOT: { userId: d.userId, deviceId: d.deviceId } } })
        const row = await tx.device.upsert({
          where: { userId_deviceId: { userId: d.userId, deviceId: d.deviceId } },
          create: { userId: d.userId, deviceId: d.deviceId, ...data },
          update: { ...data, updatedAt: new Date() },
          select: deviceSelect
        })
        await tx.$executeRaw`
          DELETE FROM devices WHERE user_id = ${d.userId}::uuid AND device_id IN (
            SELECT device_id FROM devices WHERE user_id = ${d.userId}::uuid ORDER BY updated_at DESC, created_at DESC, device_id OFFSET ${maxPerUser}::int)`
        return row as DeviceRecord
      }, UPSERT_TX)
    },

    async list (userId: string): Promise<DeviceRecord[]> {
      return await prisma.device.findMany({ where: { userId }, select: deviceSelect, orderBy: { createdAt: 'asc' } }) as DeviceRecord[]
    },

    async find (userId: string, deviceId: string): Promise<DeviceRecord | null> {
      return await prisma.device.findUnique({ where: { userId_deviceId: { userId, deviceId } }, select: deviceSelect }) as DeviceRecord | null
    },

    /** Removes a device and its delivery records; false when there was none. */
    async remove (userId: string, deviceId: string): Promise<boolean> {
      const [, { count }] = await prisma.$transaction([
        prisma.pushDelivery.deleteMany({ where: { userId, deviceId } }),
        prisma.device.deleteMany({ where: { userId, deviceId } })
      ])
      return count > 0
    },

    /** The newest deliveries to a device first. */
    async deliveries (userId: string, deviceId: string, limit: number): Promise<DeliveryRecord[]> {
      return await prisma.pushDelivery.findMany({
        where: { userId, deviceId },
        orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
        take: limit,
        select: { id: true, deviceId: true, provider: true, kind: true, conversationId: true, seq: true, status: true, reason: true, attempts: true, createdAt: true, updatedAt: true }
      }) as DeliveryRecord[]
    },

    /**
     * The devices, on these platforms, of those users who may get pushes:
     * not suspended, not deleted; and only of live sessions (ending one
     * removes its devices: this keeps one left by a race from getting pushes).
     */
    async targets (userIds: string[], platforms: Platform[]): Promise<Array<{ userId: string, deviceId: string, platform: Platform }>> {
      if (userIds.length === 0 || platforms.length === 0) return []
      const { rows } = await pool.query<{ user_id: string, device_id: string, platform: Platform }>({
        name: 'push-targets',
        text: `SELECT d.user_id, d.device_id, d.platform FROM devices d JOIN users u ON u.id = d.user_id JOIN sessions s ON s.id = d.session_id
                WHERE d.user_id = ANY($1::uuid[]) AND d.platform = ANY($2::text[]) AND u.deleted_at IS NULL AND u.suspended_at IS NULL
                  AND s.revoked_at IS NULL`,
        values: [userIds, platforms]
      })
      return rows.map((r) => ({ userId: r.user_id, deviceId: r.device_id, platform: r.platform }))
    },

    /**
     * Each user's badge: the total of GET /v1/me/unread (unread.ts), so the
     * app and the push show the same figure (muted conversations and those at
     * level none add nothing; at level mentions, their unread mentions).
     */
    async badges (userIds: string[]): Promise<Map<string, number>> {
      const totals = await unreadTotals(pool, userIds)
      return new Map([...totals].map(([id, t]) => [id, t.total]))
    },

    /** The badge each device of the user was last sent (its newest delivery not failed): a badge update it already has is not sent again. */
    async lastBadges (userId: string): Promise<Map<string, number>> {
      const { rows } = await pool.query<{ device_id: string, badge: number | null }>({
        name: 'push-last-badges',
        text: `SELECT DISTINCT ON (device_id) device_id, (payload->>'badge')::int AS badge FROM push_deliveries
                WHERE user_id = $1::uuid AND status <> 'failed' ORDER BY device_id, created_at DESC`,
        values: [userId]
      })
      return new Map(rows.filter((r) => r.badge !== null).map((r) => [r.device_id, r.badge!]))
    },

    /** The user's read position in a conversation they are a member of, or null. */
    async readPosition (userId: string, conversationId: string): Promise<number | null> {
      const { rows } = await pool.query<{ last_read_seq: number }>({
        name: 'push-read-position',
        text: 'SELECT last_read_seq FROM memberships WHERE conversation_id = $1::uuid AND user_id = $2::uuid AND left_at IS NULL',
        values: [conversationId, userId]
      })
      return rows[0]?.last_read_seq ?? null
    },

    /** What a push about a message shows: the sender's name and the conversation's title (null for a direct one). */
    async messageContext (conversationId: string, senderIds: string[]): Promise<{ title: string | null, type: string, names: Map<string, string> }> {
      const { rows } = await pool.query<{ title: string | null, type: string, id: string | null, display_name: string | null }>({
        name: 'push-message-context',
        text: `SELECT c.title, c.type::text AS type, u.id, u.display_name
                 FROM conversations c LEFT JOIN users u ON u.id = ANY($2::uuid[])
                WHERE c.id = $1::uuid`,
        values: [conversationId, senderIds]
      })
      return {
        title: rows[0]?.title ?? null,
        type: rows[0]?.type ?? 'group',
        names: new Map(rows.filter((r) => r.id !== null).map((r) => [r.id!, r.display_name ?? '']))
      }
    },

    /** Records deliveries as queued: one statement for any number. */
    async insertDeliveries (rows: NewDelivery[]): Promise<void> {
      if (rows.length === 0) return
      await pool.query({
        name: 'push-insert-deliveries',
        text: `INSERT INTO push_deliveries (id, user_id, device_id, provider, kind, conversation_id, seq, payload)
               SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[], $5::text[], $6::uuid[], $7::int[], $8::jsonb[])`,
        values: [
          rows.map((r) => r.id), rows.map((r) => r.userId), rows.map((r) => r.deviceId), rows.map((r) => r.provider),
          rows.map((r) => r.kind), rows.map((r) => r.conversationId), rows.map((r) => r.seq), rows.map((r) => JSON.stringify(r.payload))
        ]
      })
    },

    /**
     * Marks these deliveries sent and returns them with their device as it is
     * now. A delivery whose device is gone (removed, pruned, session ended), or
     * whose message was deleted meanwhile, is settled as failed and not returned.
     */
    async claim (ids: string[]): Promise<ClaimedDelivery[]> {
      if (ids.length === 0) return []
      const { rows } = await pool.query<{
        id: string, user_id: string, device_id: string, kind: DeliveryKind, payload: unknown, attempts: number,
        token: string | null, keys: WebPushKeys | null, app_id: string | null, locale: string | null, gone: string | null
      }>({
        name: 'push-claim',
        // A push that can no longer go: its device is gone (or is left on an ended session), or (a retry, a queue
        // behind) its message was deleted since, whose text the push carries: settled failed with the reason, not sent.
        text: `UPDATE push_deliveries p
                  SET status = CASE WHEN q.gone IS NULL THEN 'sent' ELSE 'failed' END,
                      reason = COALESCE(q.gone, p.reason),
                      attempts = p.attempts + CASE WHEN q.gone IS NULL THEN 1 ELSE 0 END,
                      updated_at = now()
                 FROM (SELECT q.id, d.token, d.keys, d.app_id, d.locale,
                              CASE WHEN d.token IS NULL THEN 'device removed'
                                   WHEN q.kind = 'message' AND EXISTS (
                                     SELECT 1 FROM messages m WHERE m.conversation_id = q.conversation_id AND m.seq = q.seq AND m.deleted_at IS NOT NULL)
                                   THEN 'message deleted' END AS gone
                         FROM push_deliveries q
                              LEFT JOIN (devices d JOIN sessions s ON s.id = d.session_id AND s.revoked_at IS NULL)
                                     ON d.user_id = q.user_id AND d.device_id = q.device_id
                        WHERE q.id = ANY($1::uuid[])) q
                WHERE q.id = p.id AND p.status IN ('queued', 'sent')
            RETURNING p.id, p.user_id, p.device_id, p.kind, p.payload, p.attempts, q.token, q.keys, q.app_id, q.locale, q.gone`,
        values: [ids]
      })
      return rows.filter((r) => r.gone === null && r.token !== null).map((r) => ({
        id: r.id, userId: r.user_id, deviceId: r.device_id, kind: r.kind, payload: r.payload, attempts: r.attempts,
        token: r.token!, keys: r.keys, appId: r.app_id, locale: r.locale
      }))
    },

    /** Records the outcome of a batch: one statement. */
    async settle (outcomes: Settlement[]): Promise<void> {
      if (outcomes.length === 0) return
      await pool.query({
        name: 'push-settle',
        text: `UPDATE push_deliveries p SET status = o.status, reason = o.reason, updated_at = now()
                 FROM unnest($1::uuid[], $2::text[], $3::text[]) AS o(id, status, reason)
                WHERE p.id = o.id`,
        values: [outcomes.map((o) => o.id), outcomes.map((o) => o.status), outcomes.map((o) => o.reason?.slice(0, 200) ?? null)]
      })
    },

    /** Deletes devices whose token the provider refused as invalid, unless re-registered with another token since. */
    async prune (devices: Array<{ userId: string, deviceId: string, token: string }>): Promise<number> {
      if (devices.length === 0) return 0
      const { rowCount } = await pool.query({
        name: 'push-prune',
        text: `DELETE FROM devices d USING unnest($1::uuid[], $2::text[], $3::text[]) AS x(user_id, device_id, token)
                WHERE d.user_id = x.user_id AND d.device_id = x.device_id AND d.token = x.token`,
        values: [devices.map((d) => d.userId), devices.map((d) => d.deviceId), devices.map((d) => d.token)]
      })
      return rowCount ?? 0
    },

    /** Drops delivery records older than this. */
    async purgeDeliveries (before: Date): Promise<number> {
      const { count } = await prisma.pushDelivery.deleteMany({ where: { createdAt: { lt: before } } })
      return count
    }
  }
}

export type DevicesRepository = ReturnType<typeof createDevicesRepository>

// Broker over PostgreSQL LISTEN/NOTIFY on the service's own database, so a
// multi-process deployment needs no other server. A notification payload must
// stay under 8000 bytes: the batches that fit travel inline; larger messages
// (long message bodies, frames for big groups) are staged in broker_payloads
// and the notification carries the row id, which each process reads once
// (batched with the other staged ids it has queued). Staged rows live a minute.
import pg from 'pg'
import type { Broker } from './broker.js'
import { joinBatch, REF_PREFIX, WireBroker, type WireBrokerOptions } from './wire.js'

/** Bytes per notification payload; PostgreSQL refuses 8000 and more. */
const NOTIFY_LIMIT = 7_900
/** Characters per staged row, so one read of staged rows stays small. */
const STAGE_LIMIT = 1 << 20
const STAGED_TTL_SECONDS = 60
const PING_MS = 10_000
const RECONNECT_MAX_MS = 5_000

export interface PostgresBrokerOptions extends WireBrokerOptions {
  pool: pg.Pool
  /** Connection settings for the dedicated LISTEN connection. */
  clientConfig: pg.ClientConfig
  channel: string
}

/** Splits encoded messages into notification payloads and staged payloads. */
export function pack (encoded: string[]): { inline: string[], staged: string[] } {
  const inline: string[] = []
  const staged: string[] = []
  let batch: string[] = []
  let bytes = 2
  let big: string[] = []
  let bigChars = 2
  for (const e of encoded) {
    const n = Buffer.byteLength(e)
    if (n + 2 > NOTIFY_LIMIT) {
      if (big.length > 0 && bigChars + e.length + 1 > STAGE_LIMIT) {
        staged.push(joinBatch(big))
        big = []
        bigChars = 2
      }
      big.push(e)
      bigChars += e.length + 1
      continue
    }
    if (bytes + n + 1 > NOTIFY_LIMIT) {
      inline.push(joinBatch(batch))
      batch = []
      bytes = 2
    }
    batch.push(e)
    bytes += n + 1
  }
  if (batch.length > 0) inline.push(joinBatch(batch))
  if (big.length > 0) staged.push(joinBatch(big))
  return { inline, staged }
}

export class PostgresBroker extends WireBroker implements Broker {
  private listener: pg.Client | undefined
  private closing = false
  private pinging = false
  private timers: NodeJS.Timeout[] = []

  constructor (private readonly opts: PostgresBrokerOptions) {
    super(opts)
  }

  /** Fails when the database cannot be reached: the server does not start half-connected. */
  async start (): Promise<void> {
    await this.listen()
    this.timers.push(
      setInterval(() => { void this.deleteOldStaged() }, (STAGED_TTL_SECONDS * 1000) / 2).unref(),
      setInterval(() => { void this.ping() }, PING_MS).unref()
    )
  }

  // One statement, so one transaction: its notifications go out at commit,
  // all or none, and a retried batch is not half delivered twice.
  protected async send (encoded: string[]): Promise<void> {
    const { inline, staged } = pack(encoded)
    const { pool, channel } = this.opts
    if (staged.length === 0) {
      await pool.query('SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p', [channel, inline])
      return
    }
    await pool.query(
      `WITH s AS (INSERT INTO broker_payloads (payload) SELECT unnest($3::text[]) RETURNING id)
       SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p
       UNION ALL SELECT pg_notify($1, $4 || id) FROM s`, [channel, inline, staged, REF_PREFIX])
  }

  protected override async resolve (refs: string[]): Promise<Array<string | undefined>> {
    const { rows } = await this.opts.pool.query<{ id: string, payload: string }>(
      'SELECT id::text AS id, payload FROM broker_payloads WHERE id = ANY($1::bigint[])', [refs])
    const byId = new Map(rows.map((r) => [r.id, r.payload]))
    return refs.map((id) => byId.get(id))
  }

  protected async disconnect (): Promise<void> {
    this.closing = true
    for (const t of this.timers) clearInterval(t)
    const client = this.listener
    this.listener = undefined
    await client?.end().catch(() => {})
  }

  private async listen (): Promise<void> {
    const client = new pg.Client({
      ...this.opts.clientConfig,
      // pg.Pool keeps the password as a non-enumerable property: a spread would drop it.
      password: this.opts.clientConfig.password,
      application_name: 'switchboard-broker',
      keepAlive: true,
      query_timeout: 5_000
    })
    client.on('notification', (n) => {
      if (n.channel === this.opts.channel && n.payload !== undefined) this.inbox.push(n.payload)
    })
    client.on('error', (err) => {
      this.log.warn({ err }, 'broker connection to PostgreSQL failed')
      this.drop(client)
    })
    client.on('end', () => this.drop(client))
    try {
      await client.connect()
      await client.query(`LISTEN ${client.escapeIdentifier(this.opts.channel)}`)
    } catch (err) {
      client.removeAllListeners('end')
      await client.end().catch(() => {})
      throw err
    }
    if (this.closing) {
      await client.end().catch(() => {})
      return
    }
    this.listener = client
  }

  /** The LISTEN connection is gone: whatever was notified meanwhile is lost to this process. */
  private drop (client: pg.Client): void {
    if (this.listener !== client) return
    this.listener = undefined
    client.end().catch(() => {})
    if (!this.closing) void this.reconnect()
  }

  private async reconnect (): Promise<void> {
    let delay = 100
    while (!this.closing) {
      await new Promise((resolve) => setTimeout(resolve, delay))
      if (this.closing) return
      try {
        await this.listen()
        this.log.info({}, 'broker reconnected to PostgreSQL')
        this.lost('the broker connection was interrupted')
        return
      } catch (err) {
        this.log.warn({ err }, 'broker could not reconnect to PostgreSQL; retrying')
        delay = Math.min(delay * 2, RECONNECT_MAX_MS)
      }
    }
  }

  // A half-open TCP connection delivers nothing and reports nothing; a query
  // with a timeout finds it.
  private async ping (): Promise<void> {
    const client = this.listener
    if (client === undefined || this.pinging) return
    this.pinging = true
    try {
      await client.query('SELECT 1')
    } catch (err) {
      this.log.warn({ err }, 'broker connection to PostgreSQL stopped answering')
      this.drop(client)
    } finally {
      this.pinging = false
    }
  }

  private async deleteOldStaged (): Promise<void> {
    await this.opts.pool.query(`DELETE FROM broker_payloads WHERE created_at < now() - interval '${STAGED_TTL_SECONDS} seconds'`)
      .catch((err: unknown) => this.log.warn({ err }, 'could not delete old broker payloads'))
  }
}

// The database as the repositories see it: Prisma, and the pg pool under its
// driver adapter. Each repository picks the driver per statement, and callers
// never see which. Prisma (its client or `$queryRaw` through it) is the
// default. The pool serves only statements that run per typing frame, per
// socket opened or closed, per page read, per session check, or per message
// notified (push recipients, their preferences and badges, delivery records),
// where Prisma's CPU per call was measured to matter: 0.34 ms of this process's CPU per `$queryRaw` call and 0.44-0.49 ms
// per `findMany`, against 0.12-0.15 ms per call on the pool (the members of a
// conversation and the session check, 4,000 calls 8 at a time, process.cpuUsage,
// 2 cores at load average 7-11).
import { createHash } from 'node:crypto'
import type pg from 'pg'
import type { Prisma, PrismaClient } from '../generated/prisma/client.js'

export interface Database {
  prisma: PrismaClient
  pool: pg.Pool
  /**
   * Connections apart from `pool` for the statements of every post and every authenticated request (the group
   * commit, the session check), which must not queue behind a burst of reads; `pool` when unset.
   */
  lane?: pg.Pool | undefined
  /** A streaming replica (DATABASE_REPLICA_URL), for reads that may lag: see member-window.ts. */
  replica?: pg.Pool | undefined
}

/** The pg pool (each statement on any of its connections), or one connection taken from it. */
export type Queryable = pg.Pool | pg.PoolClient

/** Prisma's client, or one of its open transactions. */
export type Client = PrismaClient | Prisma.TransactionClient

/**
 * Runs one statement written with Prisma.sql and answers its rows: through Prisma (`throughPrisma`), or as a named
 * statement on a pg connection (`onConnection`), so that a repository writes its SQL once for both.
 */
export type Raw = <T>(sql: Prisma.Sql) => Promise<T[]>

export const throughPrisma = (db: Client): Raw => async <T>(sql: Prisma.Sql) => await db.$queryRaw<T[]>(sql)

/**
 * Runs each statement as a named one on `db`, prepared once per connection and
 * named `<prefix>-<hash of its text>`: for statements whose text takes a few
 * forms only (each form stays prepared as long as its connection lives). Rows
 * come back as pg parses them, which for the types these statements return
 * (int4, text, uuid, uuid[], jsonb, timestamptz, boolean) is what Prisma answers.
 */
export function onConnection (db: pg.ClientBase, prefix: string): Raw {
  return async <T>(sql: Prisma.Sql) => {
    const text = sql.text
    const name = `${prefix}-${createHash('sha1').update(text).digest('base64url').slice(0, 16)}`
    return (await db.query({ name, text, values: sql.values as unknown[] })).rows as T[]
  }
}

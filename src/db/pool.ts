// pg pools that close completely. pg's Pool.end() resolves once it has told
// every client to end, before their sockets have closed; a PostgreSQL that
// stops right after (the embedded one, on shutdown) then ends those sessions
// itself, and the pool reports "terminating connection due to administrator
// command" for a connection it had already let go.
import pg from 'pg'

const openClients = new WeakMap<pg.Pool, Set<pg.PoolClient>>()

/** A pg Pool whose closePool() waits until every connection it opened is closed. */
export function createPool (config: pg.PoolConfig): pg.Pool {
  const pool = new pg.Pool(config)
  const open = new Set<pg.PoolClient>()
  openClients.set(pool, open)
  pool.on('connect', (client) => open.add(client))
  pool.on('remove', (client) => open.delete(client))
  return pool
}

/** Ends the pool and waits (at most timeoutMs) for its connections' sockets to close. */
export async function closePool (pool: pg.Pool, timeoutMs = 5_000): Promise<void> {
  if (!pool.ending) await pool.end()
  const open = openClients.get(pool)
  if (open === undefined || open.size === 0) return
  await new Promise<void>((resolve) => {
    const timer = setTimeout(done, timeoutMs)
    function done () {
      clearTimeout(timer)
      pool.off('remove', check)
      resolve()
    }
    function check () { if (open!.size === 0) done() }
    pool.on('remove', check)
  })
}

/**
 * Takes every connection of `pool` at once (opening those not open) and runs
 * `prepare` on each before giving them back: for a pool whose `min` is its
 * size, whose connections then stay open, so that no request waits for one to
 * be opened and its statements planned. Answers how many were prepared; a
 * connection that fails to prepare is closed (the pool opens another when
 * needed).
 */
export async function openConnections (pool: pg.Pool, prepare: (db: pg.PoolClient) => Promise<unknown>): Promise<number> {
  const opened = await Promise.allSettled(Array.from({ length: pool.options.max ?? 10 }, async () => await pool.connect()))
  const prepared = await Promise.all(opened.map(async (o) => {
    if (o.status === 'rejected') return false
    try {
      await prepare(o.value)
      o.value.release()
      return true
    } catch (err) {
      o.value.release(err as Error)
      return false
    }
  }))
  return prepared.filter(Boolean).length
}

/**
 * Runs `fn` in one transaction on a connection of `pool`: it commits when
 * `fn` resolves and rolls back when it throws; a connection that cannot roll
 * back is not given back to the pool. `begin` opens the transaction (settings
 * for it alone may follow BEGIN, with SET LOCAL).
 */
export async function inTransaction<T> (pool: pg.Pool, fn: (db: pg.PoolClient) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  const db = await pool.connect()
  try {
    await db.query(begin)
    const result = await fn(db)
    await db.query('COMMIT')
    db.release()
    return result
  } catch (err) {
    await db.query('ROLLBACK').then(() => db.release(), (rollbackErr: unknown) => db.release(rollbackErr as Error))
    throw err
  }
}

/**
 * Runs `fn` in one transaction on a connection of `pool` whose named
 * statements run on their generic plans: planned once per connection,
 * whatever the planner would choose. PostgreSQL plans a named statement for
 * each call (a custom plan) until its generic plan costs no more than the
 * custom ones did, and may go back to planning each call when new
 * statistics raise the generic plan's estimate (autovacuum's ANALYZE): for a
 * large statement that runs on every reconnect, planning cost as much as
 * running it (README "Sync", ninth round). The transaction sets
 * plan_cache_mode for itself alone (SET LOCAL), so the connection's other
 * statements, Prisma's among them, keep the planner's choice. Only for
 * statements whose generic plan is tested to read what the custom ones do.
 */
export async function withGenericPlans<T> (pool: pg.Pool, fn: (db: pg.PoolClient) => Promise<T>): Promise<T> {
  return await inTransaction(pool, fn, 'BEGIN; SET LOCAL plan_cache_mode = force_generic_plan')
}

/**
 * The query interface pg-boss takes in place of a pool of its own making
 * (whose end() does not wait). Once the pool is closing, a query answers
 * nothing instead of failing, as pg-boss's own does after stop(): a job
 * handler that outlives stop()'s timeout then completes into nothing (its job
 * expires and is retried) rather than raising an unhandled rejection, since
 * pg-boss does not await the completion of a job.
 */
export function bossDb (pool: pg.Pool): { executeSql: (text: string, values?: unknown[]) => Promise<pg.QueryResult> } {
  // pg-boss's types promise a result; its own Db answers undefined once closed, and its callers expect that.
  const nothing = undefined as unknown as pg.QueryResult
  return {
    executeSql: async (text, values) => {
      if (pool.ending) return nothing
      try {
        return await pool.query(text, values)
      } catch (err) {
        if (pool.ending) return nothing
        throw err
      }
    }
  }
}

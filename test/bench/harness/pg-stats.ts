// What the database spent per statement in a window (`npm run bench -- --pg-stats`): pg_stat_statements, with
// planning time, for the scenarios that note it (the sync storms). Off by default: it adds a little to every
// statement, and the figures of a run with it are not the figures of a run without.
import type pg from 'pg'

export interface StatementStat { query: string, calls: number, execMs: number, planMs: number, plans: number, buffers: number }

/** Starts a window: the statistics of every database so far are dropped. */
export async function resetStatementStats (pool: pg.Pool): Promise<void> {
  await pool.query('CREATE EXTENSION IF NOT EXISTS pg_stat_statements')
  await pool.query('SELECT pg_stat_statements_reset()')
}

/** The statements of this database since the reset, the costliest (execution and planning) first. */
export async function topStatements (pool: pg.Pool, limit = 8): Promise<StatementStat[]> {
  const { rows } = await pool.query<{ query: string, calls: string, exec_ms: number, plan_ms: number, plans: string, buffers: string }>(`
    SELECT query, calls, total_exec_time AS exec_ms, total_plan_time AS plan_ms, plans, shared_blks_hit + shared_blks_read AS buffers
      FROM pg_stat_statements
     WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) AND query NOT LIKE '%pg_stat_statements%'
     ORDER BY total_exec_time + total_plan_time DESC
     LIMIT $1`, [limit])
  return rows.map((r) => ({
    // The statement's first words, without its comments.
    query: r.query.replace(/--[^\n]*/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 60),
    calls: Number(r.calls),
    execMs: r.exec_ms,
    planMs: r.plan_ms,
    plans: Number(r.plans),
    buffers: Number(r.buffers)
  }))
}

export const describeStatements = (stats: StatementStat[]): string => stats.map((s) =>
  `"${s.query}…" ×${s.calls}: ${Math.round(s.execMs)} ms run, ${Math.round(s.planMs)} ms planning (${s.plans} plans), ${s.buffers} buffers`).join('; ')

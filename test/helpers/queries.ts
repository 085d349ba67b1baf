// Counts the SQL statements this process sends to PostgreSQL while `fn` runs.
// Every statement, from Prisma (through @prisma/adapter-pg) or from the pg
// pool, goes through pg.Client#query; the test server runs in this process.
import pg from 'pg'

export interface Statement { text: string, values: unknown[] }

// Statements a server sends for sockets as they open (the ready frame's cursor, src/realtime/sync-clock.ts): not a request's.
const BACKGROUND = [/pg_current_snapshot\(\)::text AS t\b/]

export async function countQueries (fn: () => Promise<unknown>): Promise<{ count: number, texts: string[], statements: Statement[] }> {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }
  const original = proto.query
  const statements: Statement[] = []
  proto.query = function (this: unknown, ...args: unknown[]) {
    const q = args[0] as string | { text?: string, values?: unknown[] }
    const values = typeof q === 'string' ? args[1] : q?.values ?? args[1]
    const text = typeof q === 'string' ? q : q?.text ?? ''
    if (!BACKGROUND.some((b) => b.test(text))) statements.push({ text, values: Array.isArray(values) ? values : [] })
    return original.apply(this, args)
  }
  try {
    await fn()
  } finally {
    proto.query = original
  }
  return { count: statements.length, texts: statements.map((s) => s.text), statements }
}

interface PlanNode { 'Relation Name'?: string, 'Actual Rows'?: number, 'Actual Loops'?: number, 'Rows Removed by Filter'?: number, Plans?: PlanNode[] }

/**
 * Rows of `table` that PostgreSQL read to run these statements (returned or
 * filtered out, over all loops), measured by running each SELECT again under
 * EXPLAIN ANALYZE with the same parameters.
 */
export async function rowsRead (sql: (text: string, params?: unknown[]) => Promise<any[]>, statements: Statement[], table: string): Promise<number> {
  const walk = (node: PlanNode): number =>
    (node['Relation Name'] === table ? ((node['Actual Rows'] ?? 0) + (node['Rows Removed by Filter'] ?? 0)) * (node['Actual Loops'] ?? 1) : 0) +
    (node.Plans ?? []).reduce((sum, child) => sum + walk(child), 0)
  let total = 0
  for (const s of statements.filter((x) => /^\s*(SELECT|WITH)\b/i.test(x.text))) {
    const [row] = await sql(`EXPLAIN (ANALYZE, FORMAT JSON) ${s.text}`, s.values)
    total += walk((row['QUERY PLAN'] as Array<{ Plan: PlanNode }>)[0]!.Plan)
  }
  return total
}

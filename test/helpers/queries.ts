// Counts the SQL statements this process sends to PostgreSQL while `fn` runs.
// Every statement, from Prisma (through @prisma/adapter-pg) or from the pg
// pool, goes through pg.Client#query; the test server runs in this process.
import pg from 'pg'

export async function countQueries (fn: () => Promise<unknown>): Promise<{ count: number, texts: string[] }> {
  const proto = pg.Client.prototype as unknown as { query: (...args: unknown[]) => unknown }
  const original = proto.query
  const texts: string[] = []
  proto.query = function (this: unknown, ...args: unknown[]) {
    const q = args[0] as string | { text?: string }
    texts.push(typeof q === 'string' ? q : q?.text ?? '')
    return original.apply(this, args)
  }
  try {
    await fn()
  } finally {
    proto.query = original
  }
  return { count: texts.length, texts }
}

// Scenario 9, search: GET /v1/search/messages latency (one request at a time)
// for a user who is a member of 50 conversations, over a messages table of
// `searchMessages` rows spread over `searchConversations` conversations (the
// others are conversations of other users, which the search must not read).
// Bodies are words of letters only (no numbers, whose trigrams every message
// would share), one from a vocabulary of 1,000 words, so a word is in about
// one message in 1,000, as a specific word is in a real chat. Two queries:
// one whole word, and five letters from inside another word (a partial
// word). The rows are written without the two search indexes, which are then
// built by their own migrations' statements (CREATE INDEX CONCURRENTLY, as on
// an existing large table; its time is reported), and the table is vacuumed,
// as autovacuum would have it.
import { parseQuery, searchFilter } from '../../../src/domain/search.js'
import { searchStatement } from '../../../src/repositories/search.js'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { migrationsDir } from '../../../src/db/migrator.js'
import type { BenchContext } from '../harness/context.js'
import { startWorker } from '../harness/rpc.js'
import { Seeder } from '../harness/seed.js'
import { startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { medianLatency, type LatencyFigure } from '../harness/stats.js'
import type { LoopMark } from '../loadgen/loops.js'
import type { BenchOptions } from '../options.js'

// The history load generator asks for one URL, one request at a time.
const LOADGEN = new URL('../loadgen/history.ts', import.meta.url)
const MEMBER_OF = 50
const VOCABULARY = 1_000
const LIMIT = 20
const INDEX_MIGRATIONS = ['20261209000001_search_trigram_index', '20261209000002_search_words_index']

/** The vocabulary word `n` in SQL and here alike: md5 hex with digits turned into letters. */
const WORD_SQL = (n: string) => `translate(substr(md5((${n})::text), 1, 10), '0123456789', 'ghijklmnop')`

export interface SearchResult {
  messages: number
  conversations: number
  memberOf: number
  seedSeconds: number
  /** Building both search indexes on the seeded table with their migrations' statements. */
  indexBuildSeconds: number
  limit: number
  queries: Array<{
    name: 'one word' | 'partial word', q: string, hits: number, latencyMs: LatencyFigure, requests: number
    /** The indexes its plan reads (EXPLAIN ANALYZE after seeding), and whether it scans messages whole. */
    plan: { indexes: string[], seqScanOfMessages: boolean, executionMs: number, text: string }
  }>
}

export async function runSearch (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<SearchResult> {
  const databaseUrl = await ctx.createDatabase('bench_search')
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  const total = Math.max(o.searchConversations, MEMBER_OF)
  let token: string
  let words: { whole: string, partial: string }
  let indexBuildSeconds = 0
  const plans = new Map<string, SearchResult['queries'][number]['plan']>()
  const seeding = Date.now()
  try {
    const [searcher, sender, outsider] = await seeder.users(3, 's')
    token = searcher!.token
    const users = [searcher!, sender!, outsider!]
    const ids: string[] = []
    for (let i = 0; i < total; i++) ids.push((await seeder.group(users, i < MEMBER_OF ? [1, 0] : [1, 2], `search ${i}`)).id)
    log(`search: seeding ${o.searchMessages} messages over ${total} conversations (member of ${MEMBER_OF})`)
    const { pool } = seeder
    await pool.query('DROP INDEX messages_body_trgm, messages_body_words')
    await pool.query(`
      INSERT INTO messages (id, conversation_id, seq, sender_id, body, created_at, timeline_ord)
      SELECT uuidv7(), ($1::uuid[])[1 + s % $3], 1 + s / $3, $2,
             'a note on ' || ${WORD_SQL(`abs(hashint4(s)) % ${VOCABULARY}`)} || ' and ' || ${WORD_SQL(`${VOCABULARY} + abs(hashint4(-1 - s)) % 5000`)} || ' for the team',
             now() - make_interval(secs => $4 - s), 1 + s / $3
        FROM generate_series(0, $4::int - 1) AS s`, [ids, sender!.id, total, o.searchMessages])
    await pool.query(`UPDATE conversations c SET (last_seq, timeline_count) = (SELECT max(seq), max(seq) FROM messages m WHERE m.conversation_id = c.id)
      WHERE id = ANY($1::uuid[])`, [ids])
    const building = Date.now()
    for (const name of INDEX_MIGRATIONS) await pool.query(await readFile(join(migrationsDir, name, 'migration.sql'), 'utf8'))
    indexBuildSeconds = (Date.now() - building) / 1000
    log(`search: indexes built in ${indexBuildSeconds.toFixed(1)} s`)
    await pool.query('VACUUM ANALYZE messages')
    await pool.query('CHECKPOINT')
    const { rows } = await pool.query<{ whole: string, other: string }>(`SELECT ${WORD_SQL('417')} AS whole, ${WORD_SQL('123')} AS other`)
    words = { whole: rows[0]!.whole, partial: rows[0]!.other.slice(2, 7) }
    for (const [name, q] of [['one word', words.whole], ['partial word', words.partial]] as const) {
      const { text, values } = searchStatement(searchFilter(searcher!.id, parseQuery(q), { limit: LIMIT + 1, hideDeletedSenders: true }))
      const { rows: lines } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE) ${text}`, values)
      const plan = lines.map((l) => l['QUERY PLAN']).join('\n')
      plans.set(name, {
        indexes: [...new Set([...plan.matchAll(/Index (?:Only )?Scan(?: Backward)? (?:using|on) (\w+)/g)].map((m) => m[1]!))],
        seqScanOfMessages: /Seq Scan on messages/.test(plan),
        executionMs: Number(/Execution Time: ([\d.]+) ms/.exec(plan)?.[1] ?? NaN),
        text: plan
      })
    }
  } finally {
    await seeder.close()
  }
  const seedSeconds = (Date.now() - seeding) / 1000
  const queries = [{ name: 'one word' as const, q: words.whole }, { name: 'partial word' as const, q: words.partial }]
  const path = (q: string) => `/v1/search/messages?q=${encodeURIComponent(q)}&limit=${LIMIT}`

  let server: ServerUnderTest | undefined
  const loadgen = startWorker(LOADGEN)
  const marks = new Map<string, LoopMark[]>(queries.map((q) => [q.name, []]))
  const hits = new Map<string, number>()
  try {
    server = await startSwitchboard(ctx, { databaseUrl, env: { SEARCH_RATE_LIMIT_PER_MINUTE: '100000' } })
    await loadgen.call('init', { url: server.url })
    for (const q of queries) {
      const res = await fetch(server.url + path(q.q), { headers: { authorization: `Bearer ${token}` } })
      const body = await res.json() as { hits?: unknown[] }
      if (res.status !== 200 || body.hits === undefined) throw new Error(`search ${q.q}: ${res.status} ${JSON.stringify(body).slice(0, 200)}`)
      hits.set(q.name, body.hits.length)
      const warm = await loadgen.call<LoopMark>('run', { path: path(q.q), token, durationMs: 300, concurrency: 1 })
      if (warm.ok === 0) throw new Error(`search ${q.q} failed: ${warm.error ?? 'no answer'}`)
    }
    for (let rep = 0; rep < o.reps; rep++) {
      log(`search: repetition ${rep + 1}/${o.reps}`)
      for (const q of queries) {
        const watch = await ctx.machine.open({ phase: `search ${q.name}`, rep: rep + 1 })
        marks.get(q.name)!.push(await loadgen.call<LoopMark>('run', { path: path(q.q), token, durationMs: o.searchWindowMs, concurrency: 1 }))
        await watch.end()
      }
    }
  } finally {
    loadgen.kill()
    await server?.stop()
  }
  return {
    messages: o.searchMessages,
    conversations: total,
    memberOf: MEMBER_OF,
    seedSeconds,
    indexBuildSeconds,
    limit: LIMIT,
    queries: queries.map((q) => {
      const m = marks.get(q.name)!
      return { name: q.name, q: q.q, hits: hits.get(q.name)!, latencyMs: medianLatency(m.map((x) => x.latency)), requests: m.reduce((s, x) => s + x.ok, 0), plan: plans.get(q.name)! }
    })
  }
}

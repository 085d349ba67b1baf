// Diagnostics of the per-post database cost over time (not part of `npm run
// bench`): the fan-out topology on the built server, a saturation phase and
// then a fixed post rate, sampling PostgreSQL's own counters every second:
// pg_stat_statements (time and buffers per post_messages call), the
// conversations table (updates, HOT updates, dead tuples, size), the pages
// one lookup of the group row reads, and pg_stat_activity (open transactions,
// the oldest snapshot, wait events). Counters, not only clocks: they mean the
// same on a loaded machine.
//
//   npx tsx test/bench/diagnose-posts.ts [--receivers 1000] [--rate 500] [--saturate-s 20] [--paced-s 60] [--out file.json]
import { readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import pg from 'pg'
import pino from 'pino'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.js'
import { applyMigrations } from '../../src/db/migrator.js'
import type { BenchContext } from './harness/context.js'
import { cpuSeconds, descendants, killAll, sleep } from './harness/processes.js'
import { startWorker } from './harness/rpc.js'
import { Seeder } from './harness/seed.js'
import { startSwitchboard } from './harness/server.js'
import { seedFanout, writeTopology } from './harness/topology.js'
import type { Latency } from './harness/stats.js'

const log = pino({ base: null, timestamp: false })
const { values: args } = parseArgs({
  options: {
    receivers: { type: 'string', default: '1000' },
    rate: { type: 'string', default: '500' },
    senders: { type: 'string', default: '128' },
    'saturate-s': { type: 'string', default: '20' },
    'paced-s': { type: 'string', default: '60' },
    out: { type: 'string' },
    /** Keep the database running afterwards, until SIGINT or SIGTERM. */
    keep: { type: 'boolean', default: false }
  }
})

interface Counters {
  calls: number, execMs: number, blocks: number, forUpdateBlocks: number, forUpdateCalls: number
  upd: number, hotUpd: number, dead: number, live: number, autovacuums: number
  heapPages: number, pkeyPages: number, groupLookupBlocks: number
  openTx: number, idleInTx: number, oldestXminAgeXids: number, oldestXactS: number, oldestWho: string
  waits: Record<string, number>
  dbCpu: number
}

async function sample (c: pg.Client, groupId: string, pgPids: () => number[]): Promise<Counters> {
  const st = await c.query<{ calls: string, exec: number, blocks: string, fu_calls: string, fu_blocks: string }>(`
    SELECT coalesce(sum(calls) FILTER (WHERE toplevel AND query LIKE '%post_messages(%'), 0) AS calls,
           coalesce(sum(total_exec_time) FILTER (WHERE toplevel AND query LIKE '%post_messages(%'), 0) AS exec,
           coalesce(sum(shared_blks_hit + shared_blks_read) FILTER (WHERE toplevel AND query LIKE '%post_messages(%'), 0) AS blocks,
           coalesce(sum(calls) FILTER (WHERE NOT toplevel AND query LIKE '%FOR UPDATE%'), 0) AS fu_calls,
           coalesce(sum(shared_blks_hit + shared_blks_read) FILTER (WHERE NOT toplevel AND query LIKE '%FOR UPDATE%'), 0) AS fu_blocks
      FROM pg_stat_statements`)
  const t = await c.query<{ upd: string, hot: string, dead: string, live: string, av: string, heap: string, pkey: string }>(`
    SELECT n_tup_upd AS upd, n_tup_hot_upd AS hot, n_dead_tup AS dead, n_live_tup AS live, autovacuum_count AS av,
           pg_relation_size('conversations') / 8192 AS heap, pg_relation_size('conversations_pkey') / 8192 AS pkey
      FROM pg_stat_user_tables WHERE relname = 'conversations'`)
  // The pages one index lookup of the group row reads: every dead version it has to step over counts.
  const plan = await c.query<{ 'QUERY PLAN': Array<{ Plan: { 'Shared Hit Blocks': number, 'Shared Read Blocks': number } }> }>(
    'EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) SELECT last_seq FROM conversations WHERE id = $1', [groupId])
  const p = plan.rows[0]!['QUERY PLAN'][0]!.Plan
  const act = await c.query<{ state: string | null, wait: string | null, xmin_age: number | null, xact_s: number | null, who: string }>(`
    SELECT state, wait_event_type || ':' || wait_event AS wait, age(backend_xmin) AS xmin_age,
           extract(epoch FROM now() - xact_start)::float AS xact_s,
           coalesce(application_name, '') || ' ' || left(query, 60) AS who
      FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`)
  const waits: Record<string, number> = {}
  let oldest = { age: 0, s: 0, who: '' }
  let openTx = 0
  let idleInTx = 0
  for (const r of act.rows) {
    if (r.xact_s !== null) openTx++
    if (r.state === 'idle in transaction') idleInTx++
    if (r.state === 'active' && r.wait !== null) waits[r.wait] = (waits[r.wait] ?? 0) + 1
    if ((r.xmin_age ?? 0) > oldest.age) oldest = { age: r.xmin_age ?? 0, s: r.xact_s ?? 0, who: `${r.state ?? ''}: ${r.who}` }
  }
  const s = st.rows[0]!
  const tb = t.rows[0]!
  return {
    calls: Number(s.calls), execMs: Number(s.exec), blocks: Number(s.blocks), forUpdateCalls: Number(s.fu_calls), forUpdateBlocks: Number(s.fu_blocks),
    upd: Number(tb.upd), hotUpd: Number(tb.hot), dead: Number(tb.dead), live: Number(tb.live), autovacuums: Number(tb.av),
    heapPages: Number(tb.heap), pkeyPages: Number(tb.pkey), groupLookupBlocks: p['Shared Hit Blocks'] + p['Shared Read Blocks'],
    openTx, idleInTx, oldestXminAgeXids: oldest.age, oldestXactS: oldest.s, oldestWho: oldest.who, waits,
    dbCpu: cpuSeconds(pgPids())
  }
}

// The statement inside post_messages, with its arguments as parameters, to
// EXPLAIN with the plan the function would get now (a custom plan per call).
const FUNCTION_SQL = readFileSync(new URL('../../prisma/migrations/20261122040000_post_messages_function/migration.sql', import.meta.url), 'utf8')
const INNER = ['p_ids', 'p_conversation_ids', 'p_sender_ids', 'p_bodies', 'p_client_message_ids', 'p_reply_to_ids']
  .reduce((q, name, i) => q.replaceAll(name, `$${i + 1}`),
    FUNCTION_SQL.slice(FUNCTION_SQL.indexOf('RETURN QUERY') + 'RETURN QUERY'.length, FUNCTION_SQL.lastIndexOf(';\nEND')))

interface PlanNode { 'Node Type': string, 'Index Name'?: string, 'Relation Name'?: string, 'Actual Loops'?: number, 'Shared Hit Blocks'?: number, 'Shared Read Blocks'?: number, Plans?: PlanNode[] }

/** One post into the group, rolled back: planning and execution buffers, and the scans that read the most. */
async function probe (c: pg.Client, groupId: string, senderId: string) {
  await c.query('BEGIN')
  try {
    await c.query('SET LOCAL enable_seqscan = off; SET LOCAL enable_hashjoin = off; SET LOCAL enable_mergejoin = off; SET LOCAL plan_cache_mode = force_custom_plan')
    await c.query('DEALLOCATE ALL')
    await c.query(`PREPARE probe (uuid[], uuid[], uuid[], text[], text[], uuid[]) AS ${INNER}`)
    const { rows } = await c.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode, Planning: { 'Shared Hit Blocks': number, 'Shared Read Blocks': number }, 'Planning Time': number, 'Execution Time': number }> }>(
      // EXPLAIN EXECUTE takes no bind parameters: the ids are uuids from our own topology.
      `EXPLAIN (ANALYZE, BUFFERS, TIMING OFF, FORMAT JSON) EXECUTE probe (ARRAY[uuidv7()], ARRAY['${groupId}'::uuid], ARRAY['${senderId}'::uuid], ARRAY['probe'], ARRAY[uuidv7()::text], ARRAY[NULL::uuid])`)
    const r = rows[0]!['QUERY PLAN'][0]!
    const scans: string[] = []
    const walk = (n: PlanNode) => {
      const own = (n['Shared Hit Blocks'] ?? 0) + (n['Shared Read Blocks'] ?? 0)
      if (n['Relation Name'] !== undefined && own >= 10) scans.push(`${n['Node Type']} ${n['Index Name'] ?? n['Relation Name']} loops=${n['Actual Loops'] ?? 0} blocks=${own}`)
      for (const child of n.Plans ?? []) walk(child)
    }
    walk(r.Plan)
    return { planningBlocks: r.Planning['Shared Hit Blocks'] + r.Planning['Shared Read Blocks'], planningMs: r['Planning Time'], executionMs: r['Execution Time'], scans }
  } finally {
    await c.query('ROLLBACK')
    await c.query('DEALLOCATE ALL')
  }
}

async function main (): Promise<void> {
  const receivers = Number(args.receivers)
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-diag-'))
  await chmod(dir, 0o755)
  let db: EmbeddedPostgres | undefined
  const rows: unknown[] = []
  try {
    const dataDir = join(dir, 'pg')
    db = await startEmbeddedPostgres({ dataDir, log: (l) => log.info(l) })
    const admin = async (url: string, sql: string) => {
      const c = new pg.Client(url)
      await c.connect()
      try { await c.query(sql) } finally { await c.end() }
    }
    // pg_stat_statements must be loaded at start: set it, restart.
    await admin(db.adminUrl, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
    await admin(db.adminUrl, "ALTER SYSTEM SET pg_stat_statements.track = 'all'")
    await admin(db.adminUrl, 'ALTER SYSTEM SET pg_stat_statements.track_planning = on')
    await db.stop()
    db = await startEmbeddedPostgres({ dataDir, log: (l) => log.info(l) })
    await admin(db.adminUrl, 'CREATE DATABASE diag')
    const url = db.urlFor('diag')
    await applyMigrations(url)
    await admin(url, 'CREATE EXTENSION pg_stat_statements')

    const jwtSecret = randomBytes(32).toString('hex')
    const seeder = new Seeder(url, jwtSecret)
    const { topology } = await seedFanout(seeder, receivers)
    await seeder.close()
    const topologyFile = join(dir, 'topology.json')
    await writeTopology(topologyFile, topology)

    const pgPid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0])
    const pgPids = () => [pgPid, ...descendants(pgPid)]
    const ctx = { dir, jwtSecret } as unknown as BenchContext
    const server = await startSwitchboard(ctx, { databaseUrl: url })
    const loadgen = startWorker(new URL('./loadgen/fanout.ts', import.meta.url))
    const c = new pg.Client(url)
    await c.connect()
    try {
      await loadgen.call('connect', { url: server.url, mode: 'ours', topologyFile })
      await sleep(1_000)
      await c.query('SELECT pg_stat_statements_reset()')
      const phases: Array<{ name: string, load: { senders?: number, rate?: number }, seconds: number }> = [
        { name: 'saturated', load: { senders: Number(args.senders) }, seconds: Number(args['saturate-s']) },
        { name: `${args.rate}/s`, load: { rate: Number(args.rate) }, seconds: Number(args['paced-s']) }
      ]
      let prev = await sample(c, topology.group.id, pgPids)
      let t = 0
      for (const phase of phases) {
        if (phase.seconds <= 0) continue
        await loadgen.call('start', phase.load)
        await loadgen.call('mark')
        for (let i = 0; i < phase.seconds; i++) {
          await sleep(1_000)
          t++
          const m = await loadgen.call<{ elapsedMs: number, posts: number, deliveries: number, failures: number, latency: Latency }>('mark')
          const cur = await sample(c, topology.group.id, pgPids)
          const calls = cur.calls - prev.calls
          const posts = m.posts
          const row = {
            t, phase: phase.name, posts, calls,
            postsPerCall: calls > 0 ? posts / calls : NaN,
            msPerCall: calls > 0 ? (cur.execMs - prev.execMs) / calls : NaN,
            blocksPerCall: calls > 0 ? (cur.blocks - prev.blocks) / calls : NaN,
            forUpdateBlocksPerCall: cur.forUpdateCalls > prev.forUpdateCalls ? (cur.forUpdateBlocks - prev.forUpdateBlocks) / (cur.forUpdateCalls - prev.forUpdateCalls) : NaN,
            dbCpuMsPerPost: posts > 0 ? 1000 * (cur.dbCpu - prev.dbCpu) / posts : NaN,
            dbCores: cur.dbCpu - prev.dbCpu,
            updates: cur.upd - prev.upd, hotUpdates: cur.hotUpd - prev.hotUpd,
            deadTuples: cur.dead, liveTuples: cur.live, autovacuums: cur.autovacuums,
            heapPages: cur.heapPages, pkeyPages: cur.pkeyPages, groupLookupBlocks: cur.groupLookupBlocks,
            openTx: cur.openTx, idleInTx: cur.idleInTx, oldestXminAge: cur.oldestXminAgeXids, oldestXactS: Number(cur.oldestXactS.toFixed(2)), oldestWho: cur.oldestWho,
            waits: cur.waits,
            p50: Number(m.latency.p50.toFixed(1)), p99: Number(m.latency.p99.toFixed(1)), failures: m.failures
          }
          const probed = t % 5 === 0 ? await probe(c, topology.group.id, topology.users[topology.group.members[1]!]!.id) : undefined
          rows.push({ ...row, probe: probed })
          log.info({ ...row, probe: probed })
          prev = cur
        }
        await loadgen.call('stop')
      }
      const top = await c.query(`
        SELECT toplevel, calls, round(total_exec_time::numeric / calls, 3) AS ms_per_call, plans, round(total_plan_time::numeric / greatest(plans, 1), 3) AS plan_ms,
               round((shared_blks_hit + shared_blks_read)::numeric / calls, 1) AS blocks_per_call, left(regexp_replace(query, '\\s+', ' ', 'g'), 90) AS query
          FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT 15`)
      for (const r of top.rows) log.info(r)
      rows.push({ top: top.rows })
    } finally {
      await c.end()
      loadgen.kill()
      await server.stop()
    }
  } finally {
    if (args.out !== undefined) await writeFile(args.out, JSON.stringify(rows, null, 1))
    await killAll()
    if (args.keep === true && db !== undefined) {
      log.info({ url: db.urlFor('diag'), pid: process.pid }, 'database kept for inspection until this process gets SIGINT or SIGTERM')
      await new Promise<void>((resolve) => { process.once('SIGINT', resolve); process.once('SIGTERM', resolve) })
    }
    await db?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()

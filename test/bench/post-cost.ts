// The cost of one group commit, by batch size and by driver (not part of `npm
// run bench`): calls of post_messages with batches of 1, 16 and 64 posts into
// distinct direct conversations, as the posting scenario makes them, through
// the pg pool and through Prisma's `$queryRaw` on the same pool. Reported per
// post: CPU of this Node process (process.cpuUsage) and CPU of the PostgreSQL
// backend that ran the calls (/proc/<pid>/stat). CPU time, not wall time: the
// figures hold on a loaded machine, where clocks do not.
//
//   npx tsx test/bench/post-cost.ts [--calls 400] [--sizes 1,16,64]
import { readFileSync } from 'node:fs'
import { chmod, mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../../src/generated/prisma/client.js'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../../src/db/embedded.js'
import { applyMigrations } from '../../src/db/migrator.js'
import { newId } from '../../src/domain/ids.js'
import { postBatch, type BatchPost } from '../../src/repositories/post-batch.js'
import { Seeder } from './harness/seed.js'

const { values: args } = parseArgs({
  options: {
    calls: { type: 'string', default: '400' },
    sizes: { type: 'string', default: '1,16,64' }
  }
})

const BODY = 'a posting benchmark message of about sixty characters, padded'
const TICKS = 100 // USER_HZ

function backendCpuSeconds (pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  return (Number(fields[11]) + Number(fields[12])) / TICKS
}

async function main (): Promise<void> {
  const calls = Number(args.calls)
  const sizes = args.sizes.split(',').map(Number)
  const dir = await mkdtemp(join(tmpdir(), 'switchboard-postcost-'))
  await chmod(dir, 0o755)
  let db: EmbeddedPostgres | undefined
  try {
    db = await startEmbeddedPostgres({ dataDir: join(dir, 'pg'), log: () => {} })
    const admin = new pg.Client(db.adminUrl)
    await admin.connect()
    await admin.query('CREATE DATABASE postcost')
    await admin.end()
    const url = db.urlFor('postcost')
    await applyMigrations(url)
    const max = Math.max(...sizes)
    const seeder = new Seeder(url, randomBytes(32).toString('hex'))
    const users = await seeder.users(2 * max, 'c')
    const directs = await seeder.directs(users, Array.from({ length: max }, (_, i): [number, number] => [i, max + i]))
    await seeder.close()

    // One connection, so that one backend does all the work measured.
    const pool = new pg.Pool({ connectionString: url, max: 1 })
    const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
    const backend = (await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid
    const batch = (n: number, round: number): BatchPost[] => Array.from({ length: n }, (_, i) => ({
      id: newId(), conversationId: directs[i]!.id, senderId: users[i]!.id, body: BODY, clientMessageId: `k${round}-${i}-${newId()}`, replyToId: null,
      mentionNames: [], mentionAll: false, attachments: null, type: null, metadata: null, threadRootId: null
    }))
    const viaPrisma = (posts: BatchPost[]) => prisma.$queryRaw`SELECT * FROM post_messages(
      ${posts.map((p) => p.id)}::uuid[], ${posts.map((p) => p.conversationId)}::uuid[], ${posts.map((p) => p.senderId)}::uuid[],
      ${posts.map((p) => p.body)}::text[], ${posts.map((p) => p.clientMessageId)}::text[], ${posts.map((p) => p.replyToId)}::uuid[])`
    const drivers: Record<string, (posts: BatchPost[]) => Promise<unknown>> = {
      pool: (posts) => postBatch(pool, posts),
      prisma: viaPrisma
    }
    const rows: Array<Record<string, string | number>> = []
    let round = 0
    for (let rep = 0; rep < 2; rep++) {
      for (const size of sizes) {
        for (const [name, run] of Object.entries(drivers)) {
          // Warm-up: plans, caches, the JIT.
          for (let i = 0; i < 50; i++) await run(batch(size, round++))
          const posts = Array.from({ length: calls }, () => batch(size, round++))
          const db0 = backendCpuSeconds(backend)
          const cpu0 = process.cpuUsage()
          const t0 = performance.now()
          for (const p of posts) await run(p)
          const wall = performance.now() - t0
          const cpu = process.cpuUsage(cpu0)
          const n = calls * size
          rows.push({
            rep: rep + 1, driver: name, batch: size,
            nodeUsPerCall: Math.round((cpu.user + cpu.system) / calls),
            nodeUsPerPost: Math.round((cpu.user + cpu.system) / n),
            dbUsPerPost: Math.round(1e6 * (backendCpuSeconds(backend) - db0) / n),
            wallUsPerPost: Math.round(1000 * wall / n)
          })
        }
      }
    }
    console.table(rows)
    await prisma.$disconnect()
    await pool.end()
  } finally {
    await db?.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

await main()

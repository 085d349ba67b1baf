// The cost of opening a socket (not part of `npm run bench`): builds of the
// server and the bare `ws` server, in turn and in a rotating order, each
// freshly started, open the same sockets with the bench's load generator.
// Users come in groups (one conversation each), so that every socket that
// opens announces its user to online contacts, as in a reconnect. Reported
// per opened connection: CPU of the server process and of PostgreSQL (from
// /proc, over the opening and a short settle after it, so that presence
// batches count), and the rate. CPU time, not wall time: on a loaded machine
// the rate moves with the neighbours, the CPU per connection much less.
//
//   npx tsx test/bench/upgrade-cost.ts --build old=/tmp/old/dist/server.js --build new [--sockets 1000] [--rounds 3] [--group 20]
// (a --build without a path runs this checkout's dist/server.js)
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createContext } from './harness/context.js'
import { cpuSince, cpuSnapshot, killAllSync, pinServer, sleep } from './harness/processes.js'
import { startWorker, type Worker } from './harness/rpc.js'
import { Seeder } from './harness/seed.js'
import { startSwitchboard } from './harness/server.js'
import { teardown } from './harness/teardown.js'

const { values: args } = parseArgs({
  options: {
    build: { type: 'string', multiple: true, default: ['new'] },
    sockets: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
    group: { type: 'string', default: '20' }
  }
})

const LOADGEN = new URL('./loadgen/connections.ts', import.meta.url)
const BARE = new URL('./baselines/ws-broadcast.ts', import.meta.url)
const WARM_UP = 100
const SETTLE_MS = 1_000

interface Started { url: string, pid: number, stop (): Promise<void> }
interface Sample { build: string, opened: number, perSec: number, serverMs: number, postgresMs: number }

const log = (line: string) => process.stderr.write(`[upgrade-cost ${new Date().toISOString().slice(11, 19)}] ${line}\n`)

async function main (): Promise<void> {
  const sockets = Number(args.sockets)
  const group = Number(args.group)
  const ctx = await createContext(log)
  const databaseUrl = await ctx.createDatabase('upgrade_cost')
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  const total = WARM_UP + sockets
  const users = await seeder.users(total, 'c')
  // --group 1: no conversations, no contacts, as the bench's connections scenario.
  for (let i = 0; group > 1 && i + 1 < total; i += group) {
    await seeder.group(users, Array.from({ length: Math.min(group, total - i) }, (_, k) => i + k))
  }
  await seeder.close()
  const tokensFile = join(ctx.dir, 'tokens.json')
  await writeFile(tokensFile, JSON.stringify(users.map((u) => u.token)))

  const builds: Array<{ name: string, start: () => Promise<Started> }> = []
  for (const spec of args.build) {
    const [name, entry] = spec.split('=') as [string, string | undefined]
    builds.push({
      name,
      start: async () => {
        const s = await startSwitchboard(ctx, { databaseUrl, ...(entry === undefined ? {} : { entry }) })
        return { url: s.url, pid: s.pid, stop: () => s.stop() }
      }
    })
  }
  builds.push({
    name: 'bare',
    start: async () => {
      const bare = startWorker(BARE)
      pinServer(bare.pid)
      const { port } = await bare.call<{ port: number }>('listen', {})
      return { url: `http://127.0.0.1:${port}`, pid: bare.pid, stop: async () => bare.kill() }
    }
  })

  const loadgen: Worker = startWorker(LOADGEN)
  const samples: Sample[] = []
  try {
    for (let round = 0; round < Number(args.rounds); round++) {
      for (let k = 0; k < builds.length; k++) {
        const b = builds[(round + k) % builds.length]!
        const server = await b.start()
        const mode = b.name === 'bare' ? 'bare' : 'ours'
        const p = { url: server.url, mode, tokensFile, concurrency: 100 }
        try {
          await loadgen.call('open', { ...p, from: 0, to: WARM_UP }, 600_000)
          await sleep(SETTLE_MS)
          const pgPids = ctx.postgresPids()
          const before = { server: cpuSnapshot([server.pid]), pg: cpuSnapshot(pgPids) }
          const started = performance.now()
          const r = await loadgen.call<{ opened: number }>('open', { ...p, from: WARM_UP, to: total }, 600_000)
          const perSec = r.opened / ((performance.now() - started) / 1000)
          await sleep(SETTLE_MS)
          const serverMs = 1000 * cpuSince(before.server, [server.pid]) / r.opened
          const postgresMs = 1000 * cpuSince(before.pg, ctx.postgresPids()) / r.opened
          samples.push({ build: b.name, opened: r.opened, perSec, serverMs, postgresMs })
          log(`round ${round + 1} ${b.name}: ${r.opened} opened, ${perSec.toFixed(0)}/s, server ${serverMs.toFixed(2)} ms, PostgreSQL ${postgresMs.toFixed(2)} ms per connection`)
        } finally {
          await server.stop()
          await loadgen.call('close')
        }
      }
    }
  } finally {
    loadgen.kill()
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
  process.stdout.write('build  opened/s (each round)        server CPU ms/conn (each)       PostgreSQL CPU ms/conn (each)\n')
  for (const b of builds) {
    const s = samples.filter((x) => x.build === b.name)
    const col = (f: (x: Sample) => number, d: number) => `${median(s.map(f)).toFixed(d)} (${s.map((x) => f(x).toFixed(d)).join(' / ')})`
    process.stdout.write(`${b.name.padEnd(6)} ${col((x) => x.perSec, 0).padEnd(30)} ${col((x) => x.serverMs, 2).padEnd(31)} ${col((x) => x.postgresMs, 2)}\n`)
  }
}

process.on('exit', killAllSync)
main().then(() => teardown(log), async (err: unknown) => {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  await teardown(log)
  process.exitCode = 1
})

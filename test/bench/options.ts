// Command-line options of `npm run bench`, with the full and --quick presets.

export const SCENARIOS = ['fanout', 'posting', 'connections', 'history', 'scaleout', 'storm'] as const
export type ScenarioName = typeof SCENARIOS[number]

export interface BenchOptions {
  quick: boolean
  scenarios: ScenarioName[]
  /** Measured repetitions of every figure (their median is reported). */
  reps: number
  /** Length of one measured repetition of the throughput scenarios. */
  windowMs: number
  warmupMs: number
  receivers: number
  /** Closed-loop senders when saturating. */
  senders: number
  /** Open-loop post rate of the latency measurement. */
  rate: number
  postingConcurrency: number[]
  postingWindowMs: number
  connections: number[]
  historyMessages: number
  historyDepths: number[]
  historyWindowMs: number
  clusterWorkers: number
  brokers: Array<'postgres' | 'redis'>
  stormClients: number
  stormOutageMs: number
  stormPostRate: number
  out: string | undefined
  forceBuild: boolean
  /** Folder for CPU profiles of the servers (node --cpu-prof); unset: no profiling. */
  cpuProfDir: string | undefined
  /** Servers under test on CPUs 1..N-1, everything else on CPU 0 (taskset). */
  pin: boolean
}

export function presets (quick: boolean): BenchOptions {
  return {
    quick,
    scenarios: [...SCENARIOS],
    reps: 3,
    windowMs: quick ? 800 : 5_000,
    warmupMs: quick ? 400 : 2_000,
    receivers: quick ? 500 : 1_000,
    senders: 128,
    rate: 500,
    postingConcurrency: [1, 8, 32],
    postingWindowMs: quick ? 500 : 3_000,
    connections: quick ? [600, 1_200] : [10_000, 20_000],
    historyMessages: quick ? 100_000 : 1_000_000,
    historyDepths: quick ? [100, 10_000, 100_000] : [100, 100_000, 1_000_000],
    historyWindowMs: quick ? 400 : 2_000,
    clusterWorkers: 2,
    brokers: ['postgres', 'redis'],
    stormClients: quick ? 200 : 1_000,
    stormOutageMs: quick ? 800 : 2_000,
    stormPostRate: quick ? 100 : 200,
    out: undefined,
    forceBuild: false,
    cpuProfDir: undefined,
    pin: false
  }
}

export const USAGE = `npm run bench -- [options]
  --quick                 small and short version of everything (under 2 minutes)
  --scenarios a,b         subset of: ${SCENARIOS.join(', ')}
  --reps N                repetitions per figure (median reported; at least 3)
  --receivers N           fan-out receivers (default 1000; e.g. 10000)
  --senders N             closed-loop senders when saturating (default 128)
  --rate N                posts/s of the post-to-push latency measurement (default 500)
  --window-ms N           length of one repetition of the throughput scenarios
  --connections A,B       idle connection counts (default 10000,20000)
  --history-messages N    size of the history conversation (default 1000000)
  --storm-clients N       clients of the reconnect storm (default 1000)
  --brokers a,b           brokers of the scale-out scenario (postgres, redis)
  --out FILE              results JSON (default test/bench/results/bench-<time>.json)
  --build                 rebuild the server even when dist/ looks up to date
  --pin                   servers under test on CPUs 1..N-1, the database, Redis and the
                          load generators on CPU 0 (taskset), so they do not share cores
  --cpu-prof DIR          run the servers under node --cpu-prof, profiles into DIR
                          (summarize one with: npx tsx test/bench/profile-top.ts FILE)`

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean)
const int = (flag: string, v: string | undefined): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer, got ${String(v)}`)
  return n
}

export function parseArgs (argv: string[]): BenchOptions | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help'
  const o = presets(argv.includes('--quick'))
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = () => argv[++i]
    switch (flag) {
      case '--quick': break
      case '--build': o.forceBuild = true; break
      case '--pin': o.pin = true; break
      case '--scenarios': {
        const names = list(value() ?? '')
        for (const n of names) if (!(SCENARIOS as readonly string[]).includes(n)) throw new Error(`unknown scenario ${n} (${SCENARIOS.join(', ')})`)
        o.scenarios = names as ScenarioName[]
        break
      }
      case '--reps': o.reps = Math.max(3, int(flag, value())); break
      case '--receivers': o.receivers = int(flag, value()); break
      case '--senders': o.senders = int(flag, value()); break
      case '--rate': o.rate = int(flag, value()); break
      case '--window-ms': o.windowMs = int(flag, value()); break
      case '--connections': o.connections = list(value() ?? '').map((v) => int(flag, v)); break
      case '--history-messages': {
        o.historyMessages = int(flag, value())
        o.historyDepths = [...new Set([Math.min(100, o.historyMessages), Math.max(1, Math.round(o.historyMessages / 10)), o.historyMessages])]
        break
      }
      case '--storm-clients': o.stormClients = int(flag, value()); break
      case '--brokers': {
        const names = list(value() ?? '')
        for (const n of names) if (n !== 'postgres' && n !== 'redis') throw new Error(`unknown broker ${n} (postgres, redis)`)
        o.brokers = names as Array<'postgres' | 'redis'>
        break
      }
      case '--out': o.out = value(); break
      case '--cpu-prof': o.cpuProfDir = value(); break
      default: throw new Error(`unknown option ${flag}\n${USAGE}`)
    }
  }
  return o
}

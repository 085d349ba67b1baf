// Command-line options of `npm run bench`, with the full, --quick and --smoke presets.

export const SCENARIOS = ['fanout', 'posting', 'connections', 'history', 'scaleout', 'storm', 'push', 'attachments', 'search', 'sync', 'scaling'] as const
export type ScenarioName = typeof SCENARIOS[number]

/**
 * full: the measurements; quick: a short look at the same (under 2 minutes);
 * smoke: every scenario end to end with tiny sizes, so that CI checks the
 * harness in well under a minute (its figures mean nothing).
 */
export type Preset = 'full' | 'quick' | 'smoke'

export interface BenchOptions {
  preset: Preset
  scenarios: ScenarioName[]
  /** Measured repetitions of every figure (their median is reported). */
  reps: number
  /** Length of one measured repetition of the throughput scenarios. */
  windowMs: number
  warmupMs: number
  receivers: number
  /** Pause after the fan-out receivers connect, for the presence frames of the burst. */
  connectSettleMs: number
  /** Closed-loop senders when saturating. */
  senders: number
  /** Open-loop post rate of the latency measurement. */
  rate: number
  postingConcurrency: number[]
  postingWindowMs: number
  postingWarmupMs: number
  connections: number[]
  /** Pause before each RSS reading. */
  connectionsSettleMs: number
  historyMessages: number
  historyDepths: number[]
  historyWindowMs: number
  clusterWorkers: number
  brokers: Array<'postgres' | 'redis'>
  stormClients: number
  stormOutageMs: number
  stormPostRate: number
  /** Live traffic before and after each storm. */
  stormLiveMs: number
  /** Device push: members of the group (all offline, one APNs device each), messages of the throughput burst, PUSH_CONCURRENCY. */
  pushMembers: number
  pushBurstMessages: number
  pushConcurrency: number
  /** Search: messages in the table, conversations they are spread over (the searcher is in 50), one measured window. */
  searchMessages: number
  searchConversations: number
  searchWindowMs: number
  /**
   * Sync storm: clients, the conversations each is a member of (groups of up to 100 of the clients), how many of
   * those are busy (posts keep flowing into them, at syncPostRate posts/s in all), the outage, the live traffic
   * before and after each storm, and the window of the idle-sync latency measurement.
   */
  syncClients: number
  syncConversations: number
  syncBusy: number
  syncPostRate: number
  syncOutageMs: number
  syncLiveMs: number
  syncIdleWindowMs: number
  /**
   * Scaling (issue 21): the numbers of server processes (1 first: the reference), the receivers spread over them,
   * and the posts/s spread over them (the fan-out mix); windows of windowMs, warm-ups of warmupMs.
   */
  scalingProcesses: number[]
  scalingReceivers: number
  scalingRate: number
  /** Parent folder of the run's temp folder (the OS temp folder by default). */
  tmpDir: string | undefined
  out: string | undefined
  forceBuild: boolean
  /** Folder for CPU profiles of the servers (node --cpu-prof); unset: no profiling. */
  cpuProfDir: string | undefined
  /** Environment added to every Switchboard server the bench starts (--server-env NAME=VALUE), after its own. */
  serverEnv: Record<string, string>
  /** Servers under test on CPUs 1..N-1, everything else on CPU 0 (taskset). */
  pin: boolean
  /** PostgreSQL with pg_stat_statements: the sync storms note the statements they ran. */
  pgStats: boolean
}

export function presets (preset: Preset): BenchOptions {
  const pick = <T>(full: T, quick: T, smoke: T): T => preset === 'full' ? full : preset === 'quick' ? quick : smoke
  return {
    preset,
    scenarios: [...SCENARIOS],
    reps: 3,
    windowMs: pick(5_000, 800, 250),
    warmupMs: pick(2_000, 400, 100),
    receivers: pick(1_000, 500, 100),
    connectSettleMs: pick(1_000, 500, 100),
    senders: pick(128, 128, 16),
    rate: pick(500, 500, 200),
    postingConcurrency: [1, 8, 32],
    postingWindowMs: pick(3_000, 500, 150),
    postingWarmupMs: pick(1_000, 250, 100),
    connections: pick([10_000, 20_000], [600, 1_200], [500, 800]),
    connectionsSettleMs: pick(3_000, 500, 200),
    historyMessages: pick(1_000_000, 100_000, 5_000),
    historyDepths: pick([100, 100_000, 1_000_000], [100, 10_000, 100_000], [100, 1_000, 5_000]),
    historyWindowMs: pick(2_000, 400, 150),
    clusterWorkers: 2,
    brokers: ['postgres', 'redis'],
    stormClients: pick(1_000, 200, 50),
    stormOutageMs: pick(2_000, 800, 300),
    stormPostRate: pick(200, 100, 50),
    stormLiveMs: pick(1_000, 300, 150),
    pushMembers: pick(1_000, 1_000, 100),
    pushBurstMessages: pick(10, 4, 2),
    pushConcurrency: 400,
    searchMessages: pick(1_000_000, 100_000, 5_000),
    searchConversations: pick(200, 100, 60),
    searchWindowMs: pick(2_000, 400, 150),
    syncClients: pick(1_000, 200, 30),
    syncConversations: pick(500, 500, 120),
    syncBusy: 10,
    syncPostRate: pick(100, 100, 50),
    syncOutageMs: pick(2_000, 800, 300),
    syncLiveMs: pick(1_000, 300, 150),
    syncIdleWindowMs: pick(2_000, 400, 150),
    scalingProcesses: pick([1, 2, 4, 8], [1, 2, 4], [1, 2]),
    scalingReceivers: pick(1_000, 500, 100),
    scalingRate: pick(100, 100, 40),
    out: undefined,
    tmpDir: undefined,
    forceBuild: false,
    cpuProfDir: undefined,
    serverEnv: {},
    pin: false,
    pgStats: false
  }
}

export const USAGE = `npm run bench -- [options]
  --quick                 small and short version of everything (under 2 minutes)
  --smoke                 every scenario end to end with tiny sizes (under a minute; checks
                          the harness, its figures mean nothing): what the CI test runs
  --scenarios a,b         subset of: ${SCENARIOS.join(', ')}
  --reps N                repetitions per figure (the median and every one reported; at least 3)
  --receivers N           fan-out receivers (default 1000; e.g. 10000)
  --senders N             closed-loop senders when saturating (default 128)
  --rate N                posts/s of the post-to-push latency measurement (default 500)
  --window-ms N           length of one repetition of the throughput scenarios
  --connections A,B       idle connection counts (default 10000,20000)
  --history-messages N    size of the history conversation (default 1000000)
  --storm-clients N       clients of the reconnect storm (default 1000)
  --brokers a,b           brokers of the scale-out scenario (postgres, redis)
  --push-members N        members of the device-push group, all offline (default 1000)
  --search-messages N     messages of the search scenario's table (default 1000000)
  --sync-clients N        clients of the sync storm, each in 500 conversations (default 1000)
  --scaling-processes A,B server processes of the scaling scenario (default 1,2,4,8; 1 is the reference)
  --scaling-receivers N   receivers spread over them (default 1000)
  --scaling-rate N        posts/s spread over them (default 100)
  --out FILE              results JSON (default test/bench/results/bench-<time>.json)
  --tmp-dir DIR           where the run's temp folder goes (default: the OS temp folder)
  --build                 rebuild the server even when dist/ looks up to date
  --pin                   servers under test on CPUs 1..N-1, the database, Redis and the
                          load generators on CPU 0 (taskset), so they do not share cores
  --pg-stats              PostgreSQL with pg_stat_statements (adds a little to every statement):
                          each sync storm notes the statements it ran, their time and buffers
  --cpu-prof DIR          run the servers under node --cpu-prof, profiles into DIR
                          (summarize one with: npx tsx test/bench/profile-top.ts FILE)
  --server-env NAME=VALUE every Switchboard server the bench starts gets this variable (repeatable;
                          for experiments such as an allocator: LD_PRELOAD=..., GLIBC_TUNABLES=...)`

const list = (v: string) => v.split(',').map((s) => s.trim()).filter(Boolean)
const int = (flag: string, v: string | undefined): number => {
  const n = Number(v)
  if (!Number.isInteger(n) || n <= 0) throw new Error(`${flag} needs a positive integer, got ${String(v)}`)
  return n
}

export function parseArgs (argv: string[]): BenchOptions | 'help' {
  if (argv.includes('--help') || argv.includes('-h')) return 'help'
  if (argv.includes('--quick') && argv.includes('--smoke')) throw new Error('--quick and --smoke are two presets: pick one')
  const o = presets(argv.includes('--smoke') ? 'smoke' : argv.includes('--quick') ? 'quick' : 'full')
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i]!
    const value = () => argv[++i]
    switch (flag) {
      case '--quick': case '--smoke': break
      case '--build': o.forceBuild = true; break
      case '--pin': o.pin = true; break
      case '--pg-stats': o.pgStats = true; break
      case '--scenarios': {
        const names = list(value() ?? '')
        for (const n of names) if (!(SCENARIOS as readonly string[]).includes(n)) throw new Error(`unknown scenario ${n} (${SCENARIOS.join(', ')})`)
        o.scenarios = names as ScenarioName[]
        break
      }
      case '--reps': o.reps = Math.max(3, int(flag, value())); break
      case '--receivers': o.receivers = int(flag, value()); break
      case '--senders': o.senders = int(flag, value()); break
      case '--push-members': o.pushMembers = int(flag, value()); break
      case '--search-messages': o.searchMessages = int(flag, value()); break
      case '--sync-clients': o.syncClients = int(flag, value()); break
      case '--scaling-processes': {
        const counts = [...new Set(list(value() ?? '').map((v) => int(flag, v)))].sort((a, b) => a - b)
        if (counts[0] !== 1) throw new Error(`${flag} needs 1 among its numbers: N = 1 is the reference of the ratios`)
        o.scalingProcesses = counts
        break
      }
      case '--scaling-receivers': o.scalingReceivers = int(flag, value()); break
      case '--scaling-rate': o.scalingRate = int(flag, value()); break
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
      case '--tmp-dir': o.tmpDir = value(); break
      case '--cpu-prof': o.cpuProfDir = value(); break
      case '--server-env': {
        const v = value() ?? ''
        const eq = v.indexOf('=')
        if (eq < 1) throw new Error(`--server-env takes NAME=VALUE, not ${v}`)
        o.serverEnv[v.slice(0, eq)] = v.slice(eq + 1)
        break
      }
      default: throw new Error(`unknown option ${flag}\n${USAGE}`)
    }
  }
  return o
}

// Child processes of a benchmark run: every one is tracked by pid and killed
// by pid at the end (also on failure and SIGINT). CPU time and memory are
// read from /proc, so they cover exactly the processes under test.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { portTaken, processAlive } from '../../../src/db/embedded.js'

export const projectRoot = fileURLToPath(new URL('../../..', import.meta.url))

const tracked = new Map<number, NodeJS.Signals>()

let refusing = false

/** From teardown on, no new child process: one started meanwhile would outlive the cleanup. */
export function refuseSpawning (): void { refusing = true }

/** Throws once the run is being torn down; call before spawning. */
export function assertSpawning (): void {
  if (refusing) throw new Error('the run is stopping: no new process is started')
}

export function track (pid: number, signal: NodeJS.Signals = 'SIGKILL'): void { tracked.set(pid, signal) }
export function untrack (pid: number): void { tracked.delete(pid) }

/** Kills one process by pid and waits (briefly) until it is gone. */
export async function killPid (pid: number, signal: NodeJS.Signals = 'SIGKILL', waitMs = 5_000): Promise<void> {
  try {
    process.kill(pid, signal)
  } catch {
    untrack(pid)
    return
  }
  const deadline = Date.now() + waitMs
  while (processAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20))
  if (processAlive(pid) && signal !== 'SIGKILL') await killPid(pid, 'SIGKILL', waitMs)
  untrack(pid)
}

/** Kills every tracked process (and their children found now), by pid. */
export async function killAll (): Promise<void> {
  const pids = [...tracked.keys()]
  for (const pid of pids) for (const child of descendants(pid)) tracked.set(child, 'SIGKILL')
  await Promise.all([...tracked.entries()].map(([pid, signal]) => killPid(pid, signal)))
}

/** The synchronous last resort on process exit: SIGKILL whatever is left. */
export function killAllSync (): void {
  for (const pid of tracked.keys()) {
    try { process.kill(pid, 'SIGKILL') } catch { /* gone */ }
  }
  tracked.clear()
}

/** The fields of /proc/<pid>/stat (or of a thread's, /proc/<pid>/task/<tid>/stat); undefined once it is gone. */
const stat = (pid: number, tid?: string): string[] | undefined => {
  try {
    const text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8')
    // Fields after the parenthesised command name; index 0 is field 3 (state).
    return text.slice(text.lastIndexOf(')') + 2).split(' ')
  } catch {
    return undefined
  }
}

/** Every process whose parent chain leads to pid (cluster workers, postgres backends). */
export function descendants (pid: number): number[] {
  const parentOf = new Map<number, number>()
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const fields = stat(Number(name))
    if (fields !== undefined) parentOf.set(Number(name), Number(fields[1]))
  }
  const out: number[] = []
  const queue = [pid]
  while (queue.length > 0) {
    const p = queue.shift()!
    for (const [child, parent] of parentOf) {
      if (parent === p) {
        out.push(child)
        queue.push(child)
      }
    }
  }
  return out
}

let clockTicks: number | undefined
/** Clock ticks per second: the unit of CPU times in /proc. */
export function ticksPerSecond (): number {
  if (clockTicks === undefined) {
    const out = spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout?.trim()
    clockTicks = Number(out) > 0 ? Number(out) : 100
  }
  return clockTicks
}

/** User + system CPU seconds of these processes so far (utime + stime from /proc/<pid>/stat). */
export function cpuSeconds (pids: number[]): number {
  let ticks = 0
  for (const pid of pids) {
    const fields = stat(pid)
    if (fields !== undefined) ticks += Number(fields[11]) + Number(fields[12])
  }
  return ticks / ticksPerSecond()
}

/**
 * CPU seconds of one process so far, to the nanosecond: the time its threads spent on a CPU, summed over
 * /proc/<pid>/task/<tid>/schedstat (utime + stime come in clock ticks, 10 ms: too coarse for a process that uses
 * a few tens of milliseconds in a window). The threads of a Node process live as long as it does; a thread that
 * ended between two readings would be missing from the second. Without schedstat: cpuSeconds.
 */
let schedstat: boolean | undefined
export function cpuSecondsExact (pid: number): number {
  schedstat ??= existsSync('/proc/self/schedstat')
  if (!schedstat) return cpuSeconds([pid])
  let tasks: string[] = []
  try { tasks = readdirSync(`/proc/${pid}/task`) } catch { /* gone */ }
  let ns = 0
  for (const tid of tasks) {
    try { ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ')[0]) } catch { /* ended meanwhile */ }
  }
  return ns / 1e9
}

/**
 * CPU seconds of a process so far, its main thread apart from the others (Node names every thread "node": V8's
 * collector and compiler threads, libuv's pool): the JavaScript's share of a process's CPU, and the rest's.
 */
export function threadCpuSeconds (pid: number): Map<string, number> {
  const out = new Map<string, number>([['main thread', 0], ['other threads', 0]])
  let tasks: string[] = []
  try { tasks = readdirSync(`/proc/${pid}/task`) } catch { /* gone */ }
  for (const tid of tasks) {
    const fields = stat(pid, tid)
    if (fields === undefined) continue
    const key = Number(tid) === pid ? 'main thread' : 'other threads'
    out.set(key, out.get(key)! + (Number(fields[11]) + Number(fields[12])) / ticksPerSecond())
  }
  return out
}

/** What each thread group of these processes (threadCpuSeconds) took between two readings, in ms per `clients`. */
export function threadCpuPerClient (before: Array<Map<string, number>>, after: Array<Map<string, number>>, clients: number): string {
  const byName = new Map<string, number>()
  after.forEach((threads, i) => {
    for (const [name, seconds] of threads) byName.set(name, (byName.get(name) ?? 0) + seconds - (before[i]?.get(name) ?? 0))
  })
  return [...byName].map(([name, s]) => `${name} ${(s * 1000 / clients).toFixed(2)}`).join(', ')
}

/**
 * CPU seconds of each process, to diff later with cpuSince: unlike two sums,
 * a process that ends in between (a database backend) cannot make the
 * difference negative; one that starts in between counts from its start.
 */
export function cpuSnapshot (pids: number[]): Map<number, number> {
  return new Map(pids.map((pid) => [pid, cpuSeconds([pid])]))
}

export function cpuSince (before: Map<number, number>, pids: number[]): number {
  let total = 0
  for (const pid of pids) total += cpuSeconds([pid]) - (before.get(pid) ?? 0)
  return total
}

/** Resident set size in KiB (VmRSS of /proc/<pid>/status). */
export function rssKiB (pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN)
}

/** The hard limit on open files of this process (children inherit it). */
export function openFileLimit (): number {
  const limits = readFileSync('/proc/self/limits', 'utf8')
  const m = /Max open files\s+(\d+|unlimited)\s+(\d+|unlimited)/.exec(limits)
  return m === null || m[2] === 'unlimited' ? 1_048_576 : Number(m[2])
}

export interface Spawned {
  pid: number
  output (): string
  exited: Promise<number | null>
}

/** Spawns a program with exactly this environment and piped output (the tail is kept for error messages). */
export function spawnTracked (command: string, args: string[], env: NodeJS.ProcessEnv, signal: NodeJS.Signals = 'SIGKILL'): Spawned {
  assertSpawning()
  const child = spawn(command, args, { cwd: projectRoot, env, stdio: ['ignore', 'pipe', 'pipe'] })
  const pid = child.pid!
  track(pid, signal)
  let out = ''
  const keep = (d: Buffer) => { out = (out + d.toString()).slice(-8_000) }
  child.stdout!.on('data', keep)
  child.stderr!.on('data', keep)
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => { untrack(pid); resolve(code) }))
  return { pid, output: () => out, exited }
}

/**
 * Polls `check` until it holds. With the process: fails at once when it exits,
 * or when its output says its port was taken (a cluster's primary outlives
 * its workers' failed listen), so that the caller can retry on another port.
 */
export async function waitFor (check: () => Promise<boolean>, what: string, timeoutMs = 60_000, proc?: Spawned): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let gone = false
  void proc?.exited.then(() => { gone = true })
  while (Date.now() < deadline) {
    if (gone) throw new Error(`${what}: the process exited\n${proc!.output()}`)
    if (proc !== undefined && portTaken(proc.output())) throw new Error(`${what}: its port was taken\n${proc.output()}`)
    if (await check().catch(() => false)) return
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`${what}: not ready in ${timeoutMs} ms\n${proc?.output() ?? ''}`)
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))

// CPU pinning (--pin): the servers under test (Switchboard, every worker of
// its cluster, the bare baselines) on some CPUs, everything else (this
// process, PostgreSQL, Redis, the load generators, which inherit it) on the
// others, so that the servers' CPU time is not inflated by sharing cores
// with the load that measures them.
let pinning: { servers: string, others: string } | undefined

/** Pins this process (and so every child started later) to `others`; servers go to `servers`. */
export function pinCpus (cores: number): { servers: string, others: string } {
  if (cores < 2) throw new Error('--pin needs at least 2 CPUs')
  if (spawnSync('taskset', ['--version']).status !== 0) throw new Error('--pin needs taskset (util-linux)')
  pinning = { servers: cores === 2 ? '1' : `1-${cores - 1}`, others: '0' }
  setAffinity(process.pid, pinning.others)
  return pinning
}

/** The command and arguments that start `command` on the servers' CPUs (taskset execs it: same pid). */
export function onServerCpus (command: string, args: string[]): [string, string[]] {
  return pinning === undefined ? [command, args] : ['taskset', ['-c', pinning.servers, command, ...args]]
}

/** Moves a started server process (all its threads) to the servers' CPUs. */
export function pinServer (pid: number): void {
  if (pinning !== undefined) setAffinity(pid, pinning.servers)
}

function setAffinity (pid: number, cpus: string): void {
  const r = spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`taskset could not pin ${pid} to CPUs ${cpus}: ${r.stderr}`)
}

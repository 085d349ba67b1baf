// Runs the real server entry point (src/server.ts) as a child process.
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { inject } from 'vitest'
import { startOnFreePort } from '../../src/db/embedded.js'

export const projectRoot = fileURLToPath(new URL('../..', import.meta.url))

export interface ServerProcess {
  child: ChildProcess
  stdout (): string
  stderr (): string
  exited: Promise<{ code: number | null, signal: NodeJS.Signals | null }>
}

/**
 * `ownGroup`: the server leads a process group of its own, as a command typed
 * in a terminal does, so a test can signal the whole group as Ctrl-C does.
 */
export function spawnServer (env: Record<string, string>, opts: { args?: string[], nodeArgs?: string[], ownGroup?: boolean } = {}): ServerProcess {
  const base = { ...process.env }
  delete base.DATABASE_URL
  // The sources transpiled once for the run (test/setup/server-build.ts), else compiled by tsx as it starts.
  const build = inject('serverBuild')
  const entry = build === undefined || build === '' ? ['--import', 'tsx', 'src/server.ts'] : [join(build, 'server.js')]
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...entry, ...(opts.args ?? [])], {
    cwd: projectRoot,
    env: { ...base, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: opts.ownGroup === true
  })
  let out = ''
  let err = ''
  child.stdout!.on('data', (d: Buffer) => { out += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { err += d.toString() })
  const exited = new Promise<{ code: number | null, signal: NodeJS.Signals | null }>((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }))
  })
  return { child, stdout: () => out, stderr: () => err, exited }
}

export async function waitForReady (baseUrl: string, proc: ServerProcess, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let exited = false
  void proc.exited.then(() => { exited = true })
  while (Date.now() < deadline) {
    if (exited) throw new Error(`server exited early: ${proc.stderr()}\n${proc.stdout()}`)
    try {
      if ((await fetch(`${baseUrl}/ready`)).status === 200) return
    } catch { /* not listening yet */ }
    await new Promise((r) => setTimeout(r, 100))
  }
  throw new Error(`server not ready in ${timeoutMs} ms: ${proc.stderr()}`)
}

export interface ServerNode { url: string, proc: ServerProcess }

/** A real server process on a free port (another one if it was taken meanwhile), ready to serve. */
export async function startNode (env: Record<string, string>, args: string[] = []): Promise<ServerNode> {
  return await startOnFreePort(async (port) => {
    const proc = spawnServer({ ...env, PORT: String(port) }, { args })
    const url = `http://127.0.0.1:${port}`
    await waitForReady(url, proc)
    return { url, proc }
  })
}

/** SIGTERM (or the given signal) and wait for the exit. */
export async function stopNode (node: ServerNode | undefined, signal: NodeJS.Signals = 'SIGTERM') {
  if (node === undefined || node.proc.child.exitCode !== null || node.proc.child.signalCode !== null) return
  node.proc.child.kill(signal)
  await node.proc.exited
}

// Request/response over the IPC channel of a forked process: the orchestrator
// drives load-generator and baseline processes with it. A worker exits when
// its parent goes away, so nothing outlives the orchestrator.
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { assertSpawning, track, untrack } from './processes.js'

type Handler = (params: any) => unknown
interface Reply { id: number, result?: unknown, error?: string }

export interface Worker {
  pid: number
  call<T = unknown> (method: string, params?: unknown, timeoutMs?: number): Promise<T>
  kill (): void
}

/** Forks a TypeScript worker (through tsx) and returns its RPC handle. */
export function startWorker (file: string | URL, args: string[] = []): Worker {
  const path = typeof file === 'string' ? file : fileURLToPath(file)
  assertSpawning()
  const child: ChildProcess = fork(path, args, {
    execArgv: ['--import', 'tsx'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    env: { ...process.env, NODE_ENV: 'production' }
  })
  const pid = child.pid!
  track(pid, 'SIGKILL')
  let nextId = 1
  const pending = new Map<number, { resolve (v: unknown): void, reject (e: Error): void }>()
  let exited: string | undefined
  child.on('message', (msg: Reply) => {
    const p = pending.get(msg.id)
    if (p === undefined) return
    pending.delete(msg.id)
    if (msg.error !== undefined) p.reject(new Error(`${path.split('/').pop()}: ${msg.error}`))
    else p.resolve(msg.result)
  })
  child.on('exit', (code, signal) => {
    untrack(pid)
    exited = `worker ${path.split('/').pop()} exited (${String(code ?? signal)})`
    for (const p of pending.values()) p.reject(new Error(exited))
    pending.clear()
  })
  return {
    pid,
    call<T> (method: string, params?: unknown, timeoutMs = 120_000): Promise<T> {
      if (exited !== undefined) return Promise.reject(new Error(exited))
      const id = nextId++
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => {
          pending.delete(id)
          reject(new Error(`${method} timed out after ${timeoutMs} ms`))
        }, timeoutMs)
        pending.set(id, {
          resolve: (v) => { clearTimeout(timer); resolve(v as T) },
          reject: (e) => { clearTimeout(timer); reject(e) }
        })
        child.send({ id, method, params })
      })
    },
    kill () {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
    }
  }
}

/** Worker side: answers the orchestrator's calls with these handlers. */
export function serve (handlers: Record<string, Handler>): void {
  process.on('disconnect', () => process.exit(0))
  process.on('message', (msg: { id: number, method: string, params: unknown }) => {
    const handler = handlers[msg.method]
    void (async () => {
      try {
        if (handler === undefined) throw new Error(`unknown method ${msg.method}`)
        const result = await handler(msg.params)
        process.send!({ id: msg.id, result: result ?? null })
      } catch (err) {
        process.send!({ id: msg.id, error: err instanceof Error ? err.stack ?? err.message : String(err) })
      }
    })()
  })
}

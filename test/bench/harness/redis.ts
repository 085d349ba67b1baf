// A redis-server for the Redis broker, on a free loopback port, as
// test/setup/redis.ts starts it for the tests (Debian's package).
import { spawnSync } from 'node:child_process'
import { startOnFreePort } from '../../../src/db/embedded.js'
import { ping } from '../../setup/redis.js'
import { killPid, spawnTracked, waitFor } from './processes.js'

export interface RedisServer { url: string, pid: number, stop (): Promise<void> }

/** `pickPort` chooses each port tried (tests hand out a taken one). */
export async function startRedis (pickPort?: () => Promise<number>): Promise<RedisServer> {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error('redis-server is not installed (the Redis broker needs it): apt-get install -y redis-server')
  }
  return startOnFreePort(async (port) => {
    const proc = spawnTracked('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { ...process.env })
    try {
      await waitFor(() => ping(port), 'redis-server', 30_000, proc)
    } catch (err) {
      await killPid(proc.pid)
      throw err
    }
    return { url: `redis://127.0.0.1:${port}`, pid: proc.pid, stop: () => killPid(proc.pid, 'SIGTERM') }
  }, pickPort === undefined ? {} : { pick: pickPort })
}

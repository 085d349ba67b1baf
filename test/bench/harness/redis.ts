// A redis-server for the Redis broker, on a free loopback port, as
// test/setup/redis.ts starts it for the tests (Debian's package); and a Redis
// Cluster for the sharded broker, as the tests start it
// (test/helpers/redis-cluster.ts), with its nodes tracked by pid like every
// process of the run and its state in the run's temp folder.
import { spawnSync } from 'node:child_process'
import { startOnFreePort } from '../../../src/db/embedded.js'
import { startRedisCluster, type RedisCluster } from '../../helpers/redis-cluster.js'
import { ping } from '../../setup/redis.js'
import { assertSpawning, killPid, spawnTracked, track, untrack, waitFor } from './processes.js'

export interface RedisServer { url: string, pid: number, stop (): Promise<void> }

/** `pickPort` chooses each port tried (tests hand out a taken one). */
function assertInstalled (): void {
  if (spawnSync('redis-server', ['--version']).status !== 0) {
    throw new Error('redis-server is not installed (the Redis broker needs it): apt-get install -y redis-server')
  }
}

export async function startRedis (pickPort?: () => Promise<number>): Promise<RedisServer> {
  assertInstalled()
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

/**
 * A Redis Cluster of three masters on loopback (`replicas: 1` adds a replica to each), its state in `parentDir`.
 * Its nodes are killed with the run's other processes when it is interrupted.
 */
export async function startBenchRedisCluster (parentDir: string, replicas: 0 | 1 = 0): Promise<RedisCluster> {
  assertInstalled()
  return await startRedisCluster({
    replicas,
    parentDir,
    processes: { starting: assertSpawning, started: (pid) => track(pid, 'SIGKILL'), ended: untrack }
  })
}

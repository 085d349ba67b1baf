// A real Redis Cluster for a test or the bench: six redis-server processes on
// free loopback ports (three masters, three replicas, joined by `redis-cli
// --cluster create`; or three masters alone), each with its cluster state in
// a temporary folder. Stopped by pid and the folder removed by stop().
// redis-server comes from test/setup/redis.ts. The bench (test/bench/harness/
// redis.ts) starts it with its own process tracking and folder, so that an
// interrupted run stops the nodes and removes their state too.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Redis } from 'ioredis'
import { freePort, startOnFreePort } from '../../src/db/embedded.js'
import { ping } from '../setup/redis.js'

export interface ClusterNodeProcess { port: number, child: ChildProcess, exited: Promise<void> }

export interface RedisCluster {
  nodes: ClusterNodeProcess[]
  /** Seed URLs for REDIS_URL (every node, comma-separated). */
  url: string
  /** A plain connection to one node (for CLUSTER and PUBSUB commands), closed by stop(). */
  admin (port: number): Redis
  /** The port of the master that owns a key's (or channel's) slot now, as the given node sees it. */
  masterOf (key: string, askPort?: number): Promise<number>
  /** Waits until every live node reports cluster_state:ok and agrees on the owner of every slot. */
  waitHealthy (timeoutMs?: number): Promise<void>
  /** Subscribers of a sharded channel, summed over the live nodes. */
  shardSubscribers (channel: string): Promise<number>
  kill (port: number): Promise<void>
  stop (): Promise<void>
}

/** A free port whose cluster bus port (port + 10000) is free too. */
async function pickPort (): Promise<number> {
  for (;;) {
    const port = await freePort()
    if (port + 10000 > 65535) continue
    return port
  }
}

export interface RedisClusterOptions {
  /** Replicas per master: 1 (the default) for three masters and three replicas, 0 for three masters alone. */
  replicas?: 0 | 1
  /** The folder for the nodes' state (made and removed by the cluster); a temporary folder by default. */
  parentDir?: string
  /**
   * Told of each node process: `starting` before it is spawned (throwing refuses it), `started` with its pid,
   * `ended` when it exits. The bench tracks its processes by pid this way.
   */
  processes?: { starting (): void, started (pid: number): void, ended (pid: number): void }
}

async function startNode (dir: string, port: number, track: RedisClusterOptions['processes']): Promise<ClusterNodeProcess> {
  track?.starting()
  const child = spawn('redis-server', [
    '--port', String(port), '--bind', '127.0.0.1', '--cluster-enabled', 'yes',
    '--cluster-config-file', join(dir, `nodes-${port}.conf`), '--cluster-node-timeout', '1000',
    '--appendonly', 'no', '--save', '', '--dir', dir
  ], { stdio: ['ignore', 'pipe', 'pipe'] })
  if (child.pid !== undefined) track?.started(child.pid)
  let output = ''
  child.stdout!.on('data', (d: Buffer) => { output += d.toString() })
  child.stderr!.on('data', (d: Buffer) => { output += d.toString() })
  const exited = new Promise<void>((resolve) => child.on('exit', () => {
    if (child.pid !== undefined) track?.ended(child.pid)
    resolve()
  }))
  const deadline = Date.now() + 10_000
  while (!(output.includes('Ready to accept connections') && await ping(port))) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL')
      throw new Error(`redis-server (cluster node) did not start on port ${port}: ${output}`)
    }
    await new Promise((r) => setTimeout(r, 50))
  }
  return { port, child, exited }
}

export async function startRedisCluster (o: RedisClusterOptions = {}): Promise<RedisCluster> {
  const replicas = o.replicas ?? 1
  const dir = await mkdtemp(join(o.parentDir ?? tmpdir(), 'switchboard-redis-cluster-'))
  const nodes: ClusterNodeProcess[] = []
  const admins = new Map<number, Redis>()
  const admin = (port: number) => {
    let r = admins.get(port)
    if (r === undefined) admins.set(port, r = new Redis(port, '127.0.0.1', { lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => null }))
    return r
  }
  const live = () => nodes.filter((n) => n.child.exitCode === null && n.child.signalCode === null)

  const cluster: RedisCluster = {
    nodes,
    url: '',
    admin,
    async masterOf (key, askPort) {
      const port = askPort ?? live()[0]!.port
      const slot = await admin(port).cluster('KEYSLOT', key) as number
      const slots = await admin(port).cluster('SLOTS')
      const range = slots.find(([from, to]) => slot >= from && slot <= to)
      if (range?.[2] === undefined) throw new Error(`no master owns slot ${slot}`)
      return Number(range[2][1])
    },
    async waitHealthy (timeoutMs = 60_000) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        let ok = true
        try {
          const owners: string[] = []
          for (const n of live()) {
            const info = await admin(n.port).cluster('INFO') as string
            if (!info.includes('cluster_state:ok')) ok = false
            const slots = await admin(n.port).cluster('SLOTS')
            owners.push(JSON.stringify(slots.map(([from, to, master]) => [from, to, master?.[1]]).sort((a, b) => Number(a[0]) - Number(b[0]))))
            // A master that died must be gone from every live node's map.
            for (const [, , master] of slots) if (!live().some((l) => l.port === Number(master?.[1]))) ok = false
          }
          if (new Set(owners).size !== 1) ok = false
        } catch {
          ok = false
        }
        if (ok) return
        if (Date.now() > deadline) throw new Error('the Redis Cluster did not become healthy in time')
        await new Promise((r) => setTimeout(r, 200))
      }
    },
    async shardSubscribers (channel) {
      let sum = 0
      for (const n of live()) {
        const reply = await admin(n.port).call('PUBSUB', 'SHARDNUMSUB', channel) as [string, number]
        sum += Number(reply[1])
      }
      return sum
    },
    async kill (port) {
      const node = nodes.find((n) => n.port === port)
      if (node === undefined) throw new Error(`no cluster node on port ${port}`)
      admins.get(port)?.disconnect()
      admins.delete(port)
      node.child.kill('SIGKILL')
      await node.exited
    },
    async stop () {
      for (const r of admins.values()) r.disconnect()
      admins.clear()
      for (const n of nodes) if (n.child.exitCode === null && n.child.signalCode === null) n.child.kill('SIGTERM')
      await Promise.all(nodes.map((n) => n.exited))
      await rm(dir, { recursive: true, force: true })
    }
  }

  try {
    for (let i = 0; i < 3 * (1 + replicas); i++) nodes.push(await startOnFreePort((port) => startNode(dir, port, o.processes), { pick: pickPort }))
    const created = spawnSync('redis-cli', ['--cluster', 'create', ...nodes.map((n) => `127.0.0.1:${n.port}`), '--cluster-replicas', String(replicas), '--cluster-yes'], { encoding: 'utf8', timeout: 60_000 })
    if (created.status !== 0) throw new Error(`redis-cli --cluster create failed: ${created.stdout}\n${created.stderr}`)
    await cluster.waitHealthy()
    cluster.url = nodes.map((n) => `redis://127.0.0.1:${n.port}`).join(',')
    return cluster
  } catch (err) {
    await cluster.stop()
    throw err
  }
}

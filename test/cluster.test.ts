// `npm run start:cluster` as it runs: a primary with the embedded database and
// CLUSTER_WORKERS workers on one port and one live stream, stopped by SIGTERM.
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it, vi } from 'vitest'
import { createGroup, post } from './helpers/chat.js'
import { client } from './helpers/http.js'
import { startNode, stopNode, type ServerNode } from './helpers/process.js'
import { users } from './helpers/users.js'
import { connect, type TestSocket } from './helpers/ws.js'

/** Node processes whose parent is `pid`. */
async function childNodes (pid: number): Promise<number[]> {
  const found: number[] = []
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (ppid === pid && comm === 'node') found.push(Number(entry))
  }
  return found
}

let node: ServerNode | undefined
let dataDir: string | undefined
afterAll(async () => {
  await stopNode(node, 'SIGKILL')
  if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true })
})

describe('npm run start:cluster', () => {
  it('serves from every worker on the embedded database, with one live stream, and stops cleanly on SIGTERM', async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'switchboard-cluster-'))
    await chmod(dataDir, 0o755)
    node = await startNode({ DATA_DIR: dataDir, CLUSTER_WORKERS: '2', NODE_ENV: 'test', LOG_LEVEL: 'info', AUTH_RATE_LIMIT_MAX: '100000', LOGIN_RATE_LIMIT_PER_USERNAME: '100000', MEMBERSHIP_RATE_LIMIT_PER_MINUTE: '100000', WS_MAX_CONNECTIONS_PER_USER: '100' }, ['--cluster'])
    const primary = node.proc.child.pid!
    // The first worker to listen answers the readiness check; the primary says "cluster started" once both do.
    await vi.waitFor(() => expect(node!.proc.stdout()).toContain('"msg":"cluster started"'), { timeout: 60_000, interval: 100 })
    expect(await childNodes(primary)).toHaveLength(2)

    const api = client(node.url)
    const [a, b] = await users(api, 2)
    const group = await createGroup(api, a, [b])
    // Connections are dealt round robin to the workers that are free: on a busy machine a slow worker can miss its
    // turn, so sockets are opened until both workers have served one (each upgrade is logged by the worker).
    const servers = () => new Set(node!.proc.stdout().trim().split('\n').filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'incoming request').map((l) => l.pid))
    const sockets: TestSocket[] = []
    while (sockets.length < 4 || (servers().size < 2 && sockets.length < 40)) {
      const s = await connect(node.url, b.accessToken)
      await s.next((f) => f.type === 'ready')
      sockets.push(s)
    }
    const msg = await post(api, a, group.id, 'to every worker')
    for (const s of sockets) expect((await s.next((f) => f.type === 'message.created')).data.id).toBe(msg.id)

    node.proc.child.kill('SIGTERM')
    expect(await node.proc.exited).toEqual({ code: 0, signal: null })
    for (const s of sockets) expect((await s.closed).code).toBe(1001)
    expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false)

    const lines = node.proc.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
    expect(lines.find((l) => l.msg === 'cluster started')).toMatchObject({ workers: 2, broker: 'postgres', database: 'embedded' })
    // HTTP requests share one kept-alive connection; the sockets are connections of their own, on both workers.
    const servedBy = new Set(lines.filter((l) => l.msg === 'incoming request').map((l) => l.pid))
    expect(servedBy.size).toBe(2)
  }, 240_000)
})

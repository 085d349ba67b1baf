// BROKER=redis with REDIS_CLUSTER=true on a real Redis Cluster (three masters,
// three replicas, started here): two servers on one database, each receiving
// only the broker traffic of the users connected to it, over sharded pub/sub.
// A shard is subscribed while a socket of one of its users is open and
// released when the last closes; a master failing over loses nothing that was
// acknowledged (the sockets replay, the broker subscribes again).
import { randomBytes } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { BrokerMessage } from '../src/realtime/broker.js'
import { RedisClusterBroker, shardChannel } from '../src/realtime/broker-redis-cluster.js'
import { createGroup, post, replay } from './helpers/chat.js'
import { createTestDatabase, type TestDatabase } from './helpers/database.js'
import { client, type Account, type Client } from './helpers/http.js'
import { startRedisCluster, type RedisCluster } from './helpers/redis-cluster.js'
import { startServer, type TestServer } from './helpers/server.js'
import { users } from './helpers/users.js'
import { connect, type Frame, type TestSocket } from './helpers/ws.js'

const SHARDS = 1024

describe('BROKER=redis on a Redis Cluster (sharded pub/sub)', () => {
  let cluster: RedisCluster
  let db: TestDatabase
  let p1: TestServer
  let p2: TestServer
  let api1: Client
  let api2: Client
  const channel = `t_${randomBytes(4).toString('hex')}`
  const sockets: TestSocket[] = []
  /** What each process's broker handed it. */
  const received = new Map<TestServer, BrokerMessage[]>()

  const brokerOf = (server: TestServer) => server.app.realtime.broker as unknown as RedisClusterBroker
  const shard = (server: TestServer, account: Account) => brokerOf(server).shardOf(account.user.id)
  const isCreated = (id: string) => (f: Frame) => f.type === 'message.created' && f.data.id === id

  async function open (server: TestServer, token: string) {
    const s = await connect(server.url, token)
    sockets.push(s)
    await s.next((f) => f.type === 'ready')
    return s
  }

  /** Users none of whose shards is among `taken`, so that a process without them has no reason to receive their traffic. */
  async function usersOutside (taken: number[], n: number): Promise<Account[]> {
    const found: Account[] = []
    while (found.length < n) {
      for (const u of await users(api1, n)) {
        const s = shard(p1, u)
        if (!taken.includes(s) && found.length < n) {
          found.push(u)
          taken.push(s)
        }
      }
    }
    return found
  }

  beforeAll(async () => {
    cluster = await startRedisCluster()
    db = await createTestDatabase()
    const jwtSecret = randomBytes(32).toString('hex')
    const config = {
      broker: 'redis' as const,
      redisCluster: true,
      redisUrl: cluster.url,
      brokerChannel: channel,
      brokerShards: SHARDS,
      // A failover takes a few seconds (node timeout 1 s); publications are retried over it.
      brokerPublishRetryMs: 30_000,
      presenceGraceMs: 0,
      wsMaxConnectionsPerUser: 3
    }
    ;[p1, p2] = await Promise.all([
      startServer({ databaseUrl: db.url, jwtSecret, config }),
      startServer({ databaseUrl: db.url, jwtSecret, config })
    ])
    for (const p of [p1, p2]) {
      const got: BrokerMessage[] = []
      received.set(p, got)
      p.app.realtime.broker.subscribe({ message: (m) => got.push(m), lost: () => {} })
    }
    api1 = client(p1.url)
    api2 = client(p2.url)
  }, 120_000)

  afterAll(async () => {
    await Promise.all(sockets.map((s) => s.close()))
    await Promise.all([p1?.close(), p2?.close()])
    await db?.drop()
    await cluster?.stop()
  })

  it('a message posted on one process reaches a member connected to the other; a process gets no traffic of users not connected to it', async () => {
    const [alice, bob] = await users(api1, 2)
    const group = await createGroup(api1, alice, [bob])
    await open(p1, alice.accessToken)
    const bs = await open(p2, bob.accessToken)
    const m = await post(api1, alice, group.id, 'across processes')
    expect(await bs.next(isCreated(m.id))).toMatchObject({ type: 'message.created', conversationId: group.id, seq: m.seq, data: m })

    // Carol and Dave, connected to process 1 only, in shards of neither Alice nor Bob.
    const [carol, dave] = await usersOutside([shard(p1, alice), shard(p1, bob)], 2) as [Account, Account]
    const quiet = await createGroup(api1, carol, [dave])
    await open(p1, carol.accessToken)
    const ds = await open(p1, dave.accessToken)
    const posted = []
    for (let i = 0; i < 5; i++) posted.push(await post(api1, carol, quiet.id, `only process 1 ${i}`))
    for (const p of posted) await ds.next(isCreated(p.id))
    // Then one for Bob: once it arrived on process 2, so would have anything published before it.
    const marker = await post(api1, alice, group.id, 'marker')
    await bs.next(isCreated(marker.id))

    const mentions = (p: TestServer, conversationId: string) => received.get(p)!.filter((msg) =>
      msg.kind === 'events' ? msg.conversationId === conversationId : msg.kind === 'frame' && msg.frame.includes(conversationId))
    expect(mentions(p1, quiet.id).length).toBeGreaterThanOrEqual(5)
    expect(mentions(p2, quiet.id)).toEqual([])
    // Nor anything at all addressed only to Carol or Dave (presence, receipts).
    const forQuiet = (msg: BrokerMessage) => 'userIds' in msg && msg.userIds.every((u) => u === carol.user.id || u === dave.user.id)
    expect(received.get(p2)!.filter(forQuiet)).toEqual([])
    expect(received.get(p1)!.filter(forQuiet).length).toBeGreaterThan(0)
    // Each part carried only the recipients of its shard.
    for (const msg of received.get(p2)!) if ('userIds' in msg && msg.shard !== undefined) for (const u of msg.userIds) expect(brokerOf(p2).shardOf(u)).toBe(msg.shard)
  })

  it('a shard is subscribed while a socket of one of its users is open, and released when the last closes', async () => {
    const [erin] = await usersOutside([...brokerOf(p1).subscribedShards, ...brokerOf(p2).subscribedShards], 1) as [Account]
    const ch = shardChannel(channel, shard(p2, erin))
    expect(await cluster.shardSubscribers(ch)).toBe(0)
    const first = await open(p2, erin.accessToken)
    const second = await open(p2, erin.accessToken)
    // Subscribed before ready: one subscription for the process, however many sockets.
    expect(await cluster.shardSubscribers(ch)).toBe(1)
    expect(brokerOf(p2).subscribedShards).toContain(shard(p2, erin))
    await first.close()
    expect(await cluster.shardSubscribers(ch)).toBe(1)
    await second.close()
    await expect.poll(() => cluster.shardSubscribers(ch), { timeout: 10_000, interval: 50 }).toBe(0)
    expect(brokerOf(p2).subscribedShards).not.toContain(shard(p2, erin))
  })

  it('a gap in a shard stream (events with no recipient in that shard while a member was away) is read from the log for that shard only: nobody gets an event twice', async () => {
    const [owner, kate, leo] = await usersOutside([...brokerOf(p1).subscribedShards, ...brokerOf(p2).subscribedShards], 3) as [Account, Account, Account]
    const group = await createGroup(api1, owner, [kate, leo])
    const ks = await open(p2, kate.accessToken)
    const ls = await open(p2, leo.accessToken)
    const first = await post(api1, owner, group.id, 'all three')
    await ks.next(isCreated(first.id))
    await ls.next(isCreated(first.id))

    // Kate leaves: what follows has no recipient in her shard, so her shard's stream on process 2 skips it.
    expect((await api1.del(`/v1/conversations/${group.id}/members/${kate.user.id}`, { token: owner.accessToken })).status).toBe(204)
    const away = []
    for (let i = 0; i < 3; i++) away.push(await post(api1, owner, group.id, `without Kate ${i}`))
    for (const m of away) await ls.next(isCreated(m.id))
    // Back: her shard's stream sees a gap, read from the log after the hold, which holds nothing for her.
    expect((await api1.post(`/v1/conversations/${group.id}/members`, { userIds: [kate.user.id] }, { token: owner.accessToken })).status).toBe(200)
    const last = await post(api1, owner, group.id, 'Kate is back')
    await ks.next(isCreated(last.id), 10_000)
    await ls.next(isCreated(last.id))
    await new Promise((resolve) => setTimeout(resolve, 500))

    const created = (s: TestSocket) => s.frames.filter((f) => f.type === 'message.created' && f.conversationId === group.id).map((f) => f.data.id)
    expect(created(ks)).toEqual([first.id, last.id])
    expect(created(ls)).toEqual([first.id, ...away.map((m) => m.id), last.id])
    // Each socket's events arrived in ascending seq, none twice.
    for (const s of [ks, ls]) {
      const seqs = s.frames.filter((f) => f.conversationId === group.id && typeof f.seq === 'number').map((f) => f.seq)
      expect(seqs).toEqual([...new Set(seqs)].sort((a, b) => a - b))
    }
  })

  it('sockets per user are counted in the cluster: one limit over both processes', async () => {
    const [jo] = await users(api1, 1)
    await open(p1, jo.accessToken)
    await open(p1, jo.accessToken)
    await open(p2, jo.accessToken)
    for (const p of [p1, p2]) {
      const err = await connect(p.url, jo.accessToken).then((s) => { sockets.push(s); return undefined }, (e: { statusCode?: number }) => e)
      expect(err?.statusCode).toBe(429)
    }
  })

  it('a manual failover (the old master demoted, its connection open) moves a subscribed shard: the broker subscribes on the new master, later posts arrive live', async () => {
    const [hana, ivan] = await users(api1, 2)
    const group = await createGroup(api1, hana, [ivan])
    let is = await open(p2, ivan.accessToken)
    const ch = shardChannel(channel, shard(p2, ivan))
    const master = await cluster.masterOf(ch)
    let replica = 0
    await expect.poll(async () => {
      const m = (await cluster.admin(master).info('replication')).match(/slave0:ip=[^,]+,port=(\d+),state=online/)
      replica = Number(m?.[1] ?? 0)
      return replica
    }, { timeout: 30_000, interval: 100 }).toBeGreaterThan(0)
    expect(await cluster.admin(replica).cluster('FAILOVER')).toBe('OK')
    await expect.poll(() => cluster.masterOf(ch), { timeout: 30_000, interval: 100 }).toBe(replica)
    await cluster.waitHealthy()

    // Redis unsubscribed process 2 from the shard on the demoted master: it subscribes on the new one and has its sockets replay.
    expect((await is.closed).code).toBe(4008)
    is = await open(p2, ivan.accessToken)
    expect(await cluster.shardSubscribers(ch)).toBe(1)
    const after = await post(api1, hana, group.id, 'after the manual failover')
    await is.next(isCreated(after.id), 30_000)
  }, 120_000)

  it('the master of a subscribed shard failing over loses nothing acknowledged: sockets replay, the broker subscribes again, later posts arrive live', async () => {
    const [frank, gina] = await users(api1, 2)
    const group = await createGroup(api1, frank, [gina])
    let gs = await open(p2, gina.accessToken)
    const before = await post(api1, frank, group.id, 'before the failover')
    await gs.next(isCreated(before.id))

    const ch = shardChannel(channel, shard(p2, gina))
    const master = await cluster.masterOf(ch)
    // Its replica is in sync, so that it can take over.
    await expect.poll(async () => (await cluster.admin(master).info('replication')).match(/slave0:.*state=online/) !== null,
      { timeout: 30_000, interval: 100 }).toBe(true)
    await cluster.kill(master)

    // Posts acknowledged while the cluster fails over.
    const during = []
    for (let i = 0; i < 3; i++) during.push(await post(api1, frank, group.id, `during the failover ${i}`))
    await cluster.waitHealthy()
    expect(await cluster.masterOf(ch)).not.toBe(master)

    // Either the socket got every post acknowledged meanwhile, or it was told
    // to replay (4008: messages may have been lost while the shard had no
    // subscriber), and its client reconnects and replays. Never neither.
    const outcome = await Promise.race([
      gs.closed,
      Promise.all(during.map((m) => gs.next(isCreated(m.id), 60_000))).then(() => 'all live' as const)
    ])
    const live = gs.frames.filter((f) => f.type === 'message.created' && f.conversationId === group.id)
    if (outcome !== 'all live') {
      expect(outcome.code).toBe(4008)
      gs = await open(p2, gina.accessToken)
    }
    // The subscription is on the new master.
    expect(await cluster.shardSubscribers(ch)).toBe(1)

    const after = await post(api1, frank, group.id, 'after the failover')
    await gs.next(isCreated(after.id), 30_000)

    // Nothing acknowledged is missing from what Gina can replay, and what her sockets got live is exactly that, in order.
    const replayed = (await replay(api2, gina, group.id)).filter((e) => e.type === 'message.created')
    const ids = replayed.map((e) => e.data.id)
    for (const m of [before, ...during, after]) expect(ids).toContain(m.id)
    const liveAll = [...live, ...gs.frames.filter((f) => f.type === 'message.created' && f.conversationId === group.id && !live.includes(f))]
    for (const f of liveAll) expect(replayed.find((e) => e.seq === f.seq)?.data.id).toBe(f.data.id)
  }, 180_000)
})

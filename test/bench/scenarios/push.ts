// Scenario 7, device push: a group of N members (1,000), everyone offline,
// each with one APNs device, pushed to a local APNs stand-in (HTTP/2 over
// TLS, answering 200) that runs in this process. One message: the time until
// every delivery is recorded and queued (enqueued), and until the endpoint has
// received all N (handed over). Then a burst of messages: device pushes per
// second from the one server process.
import { generateKeyPairSync, randomBytes } from 'node:crypto'
import { writeFile } from 'node:fs/promises'
import { createSecureServer, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2'
import { join } from 'node:path'
import { generate } from 'selfsigned'
import type { BenchContext } from '../harness/context.js'
import { cpuSeconds } from '../harness/processes.js'
import { Seeder } from '../harness/seed.js'
import { startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { figure, type Figure } from '../harness/stats.js'
import type { BenchOptions } from '../options.js'

export interface PushResult {
  members: number
  /** From the POST until every delivery of the message is recorded and queued. */
  enqueuedMs: Figure
  /** From the POST until the provider endpoint received every push of the message. */
  handedMs: Figure
  burstMessages: number
  /** Pushes the endpoint received per second during the burst (first to last). */
  pushesPerSec: Figure
  /** Pushes per CPU-second of the server process during the burst: what one free core would carry. */
  pushesPerCpuSec: Figure
  failed: number
}

/** The APNs stand-in: accepts everything, counts what arrives per apns-collapse-id. */
async function startSink (): Promise<{ url: string, ca: string, received: Map<string, number[]>, close (): Promise<void> }> {
  const pems = await generate([{ name: 'commonName', value: 'apns-bench.switchboard.test' }], {
    keyType: 'ec', algorithm: 'sha256', extensions: [{ name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }] }]
  })
  const received = new Map<string, number[]>()
  const server = createSecureServer({ key: pems.private, cert: pems.cert, settings: { maxConcurrentStreams: 1000 } })
  server.on('request', (req: Http2ServerRequest, res: Http2ServerResponse) => {
    req.resume()
    req.on('end', () => {
      const key = `${req.headers['apns-collapse-id'] as string}`
      let list = received.get(key)
      if (list === undefined) received.set(key, list = [])
      list.push(Date.now())
      res.writeHead(200, { 'apns-id': String(req.headers['apns-id']) })
      res.end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `https://127.0.0.1:${(server.address() as { port: number }).port}`,
    ca: pems.cert,
    received,
    close: () => new Promise<void>((resolve) => server.close(() => resolve()))
  }
}

async function until (check: () => boolean | Promise<boolean>, what: string, timeoutMs: number): Promise<void> {
  const end = Date.now() + timeoutMs
  while (!await check()) {
    if (Date.now() > end) throw new Error(`push: timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

export async function runPush (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<PushResult> {
  const n = o.pushMembers
  const databaseUrl = await ctx.createDatabase('bench_push')
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  const sink = await startSink()
  let server: ServerUnderTest | undefined
  try {
    const users = await seeder.users(n + 1, 'p')
    const group = await seeder.group(users, users.map((_, i) => i), 'push bench')
    const members = users.slice(1)
    await seeder.pool.query(
      `INSERT INTO devices (user_id, device_id, session_id, platform, token)
       SELECT u, 'phone', s, 'apns', t FROM unnest($1::uuid[], $2::uuid[], $3::text[]) AS x(u, s, t)`,
      [members.map((u) => u.id), members.map((u) => u.sessionId), members.map(() => randomBytes(32).toString('hex'))])
    const keyFile = join(ctx.dir, 'apns-bench.p8')
    const caFile = join(ctx.dir, 'apns-bench-ca.pem')
    await writeFile(keyFile, generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ type: 'pkcs8', format: 'pem' }) as string)
    await writeFile(caFile, sink.ca)
    server = await startSwitchboard(ctx, {
      databaseUrl,
      env: {
        APNS_KEY_FILE: keyFile, APNS_KEY_ID: 'BENCH12345', APNS_TEAM_ID: 'TEAM123456', APNS_TOPIC: 'com.example.bench', APNS_URL: sink.url,
        PUSH_CA_FILE: caFile, PUSH_POLL_INTERVAL_MS: '500', PUSH_CONCURRENCY: String(o.pushConcurrency)
      }
    })
    const sender = users[0]!
    const collapse = group.id.replaceAll('-', '')
    const postOne = async (body: string): Promise<number> => {
      const res = await fetch(`${server!.url}/v1/conversations/${group.id}/messages`, {
        method: 'POST', headers: { authorization: `Bearer ${sender.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ body })
      })
      if (res.status !== 201) throw new Error(`push: post answered ${res.status} ${await res.text()}`)
      return ((await res.json()) as { seq: number }).seq
    }
    const queued = async (seq: number) => Number((await seeder.pool.query<{ n: string }>(
      "SELECT count(*) AS n FROM push_deliveries WHERE conversation_id = $1 AND seq = $2 AND kind = 'message'", [group.id, seq])).rows[0]!.n)
    const arrived = () => sink.received.get(collapse)?.length ?? 0

    // Warm-up: connections, JWT, prepared statements.
    let base = arrived()
    await postOne('warm-up')
    await until(() => arrived() >= base + n, 'the warm-up pushes', 60_000)

    const enqueued: number[] = []
    const handed: number[] = []
    for (let rep = 0; rep < o.reps; rep++) {
      base = arrived()
      const watch = await ctx.machine.open({ phase: `one message to ${n} offline members`, rep: rep + 1, metricsUrl: server.url })
      const started = Date.now()
      const seq = await postOne(`to everyone ${rep}`)
      let enqueuedAt = 0
      await until(async () => {
        if (enqueuedAt === 0 && await queued(seq) >= n) enqueuedAt = Date.now()
        return enqueuedAt !== 0 && arrived() >= base + n
      }, 'every push of one message', 60_000)
      handed.push(sink.received.get(collapse)![base + n - 1]! - started)
      enqueued.push(enqueuedAt - started)
      await watch.end()
      log(`push: ${n} members: enqueued in ${enqueued.at(-1)} ms, handed over in ${handed.at(-1)} ms`)
    }

    const rates: number[] = []
    const perCpu: number[] = []
    for (let rep = 0; rep < o.reps; rep++) {
      base = arrived()
      const cpu0 = cpuSeconds([server.pid])
      const watch = await ctx.machine.open({ phase: `${o.pushBurstMessages} messages to ${n} offline members`, rep: rep + 1, metricsUrl: server.url })
      for (let i = 0; i < o.pushBurstMessages; i++) await postOne(`burst ${rep}.${i}`)
      const total = o.pushBurstMessages * n
      await until(() => arrived() >= base + total, 'the burst pushes', 120_000)
      const times = sink.received.get(collapse)!.slice(base, base + total)
      const seconds = Math.max(1, times[times.length - 1]! - times[0]!) / 1000
      rates.push(total / seconds)
      const cpu = cpuSeconds([server.pid]) - cpu0
      perCpu.push(total / Math.max(0.001, cpu))
      await watch.end()
      log(`push: burst of ${total} pushes at ${Math.round(total / seconds)}/s, ${Math.round(total / cpu)} per server CPU-second`)
    }
    const failed = Number((await seeder.pool.query<{ n: string }>("SELECT count(*) AS n FROM push_deliveries WHERE status = 'failed'")).rows[0]!.n)
    return { members: n, enqueuedMs: figure(enqueued), handedMs: figure(handed), burstMessages: o.pushBurstMessages, pushesPerSec: figure(rates), pushesPerCpuSec: figure(perCpu), failed }
  } finally {
    await server?.stop()
    await sink.close()
    await seeder.close()
  }
}

// GET /metrics: Prometheus text with live counters for HTTP, sockets, pushes,
// post-to-push latency, broker lag and the database pool; optional token.
import { randomUUID } from 'node:crypto'
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config.js'
import { createGroup, post } from './helpers/chat.js'
import { client, expectError, register, type Client } from './helpers/http.js'
import { startServer, type TestServer } from './helpers/server.js'
import { connect } from './helpers/ws.js'

/** The value of one sample line, e.g. value(text, 'ws_connections_open'). */
function value (text: string, sample: string): number {
  const line = text.split('\n').find((l) => l.startsWith(`${sample} `))
  return line === undefined ? Number.NaN : Number(line.slice(sample.length + 1))
}

describe('metrics', () => {
  let server: TestServer
  let api: Client
  beforeAll(async () => {
    server = await startServer()
    api = client(server.url)
  })
  afterAll(async () => { await server.close() })

  it('counts requests, sockets, pushes and their latency while the service works', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const sock = await connect(server.url, b.accessToken)
    await sock.next((f) => f.type === 'ready')
    for (let i = 0; i < 3; i++) {
      await post(api, a, group.id, `m${i}`)
      await sock.next((f) => f.type === 'message.created')
    }
    const res = await api.get('/metrics')
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/)
    const text = res.body as string
    expect(value(text, 'ws_connections_open')).toBe(1)
    expect(value(text, 'ws_frames_pushed_total{type="message.created"}')).toBe(3)
    expect(value(text, 'ws_push_latency_seconds_count{type="message.created"}')).toBe(3)
    expect(value(text, 'broker_lag_seconds_count{kind="events"}')).toBeGreaterThanOrEqual(4)
    expect(value(text, 'http_requests_total{method="POST",route="/v1/conversations/:id/messages",status_code="201"}')).toBe(3)
    expect(value(text, 'http_request_duration_seconds_count{method="POST",route="/v1/auth/register",status_code="201"}')).toBe(2)
    expect(value(text, 'db_pool_connections_total')).toBeGreaterThanOrEqual(1)
    expect(value(text, 'db_pool_requests_waiting')).toBe(0)
    expect(value(text, 'db_pool_connections_max')).toBe(server.app.config.databasePoolSize)
    // GET /v1/sync's turns: none running or waiting once answered (test/sync-admission.test.ts fills the queue).
    expect(value(text, 'sync_running')).toBe(0)
    expect(value(text, 'sync_queued')).toBe(0)
    expect(text).toContain('process_cpu_seconds_total')
    // Not measured unless BROKER_CPU_METRICS is set (and never for the in-process broker).
    expect(text).not.toContain('broker_cpu_seconds_total{')
    await sock.close()
  })

  it('counts the group commits of posts: calls, and posts per call', async () => {
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const scrape = async () => {
      const text = (await api.get('/metrics')).body as string
      return {
        calls: value(text, 'post_batch_size_count'),
        posts: value(text, 'post_batch_size_sum'),
        committed: value(text, 'post_batch_calls_total{outcome="committed"}'),
        upTo256: value(text, 'post_batch_size_bucket{le="256"}')
      }
    }
    const before = await scrape()
    const n = 12
    await Promise.all(Array.from({ length: n }, (_, i) => post(api, i % 2 === 0 ? a : b, group.id, `burst ${i}`)))
    const after = await scrape()
    // Every post went through exactly one committed call; concurrent ones may share a call.
    expect(after.posts - before.posts).toBe(n)
    const calls = after.calls - before.calls
    expect(calls).toBeGreaterThanOrEqual(1)
    expect(calls).toBeLessThanOrEqual(n)
    expect(after.committed - (Number.isNaN(before.committed) ? 0 : before.committed)).toBe(calls)
    expect(after.upTo256 - before.upTo256).toBe(calls)
  })
})

describe('metrics with a Redis broker', () => {
  let server: TestServer
  let api: Client
  beforeAll(async () => {
    server = await startServer({ config: { broker: 'redis', brokerChannel: `metrics-${randomUUID()}`, redisUrl: inject('redisUrl'), brokerCpuMetrics: true } })
    api = client(server.url)
  })
  afterAll(async () => { await server.close() })

  it('counts the CPU the broker costs, each way, growing with the traffic it carries', async () => {
    const scrape = async () => {
      const text = (await api.get('/metrics')).body as string
      return { received: value(text, 'broker_cpu_seconds_total{direction="received"}'), sent: value(text, 'broker_cpu_seconds_total{direction="sent"}') }
    }
    const [a, b] = await Promise.all([register(api), register(api)])
    const group = await createGroup(api, a, [b])
    const sock = await connect(server.url, b.accessToken)
    await sock.next((f) => f.type === 'ready')
    const before = await scrape()
    const n = 100
    let last = 0
    for (let i = 0; i < n; i += 20) {
      const posted = await Promise.all(Array.from({ length: 20 }, (_, j) => post(api, a, group.id, `m${i + j}`)))
      last = Math.max(last, ...posted.map((m) => m.seq as number))
    }
    await sock.next((f) => f.type === 'message.created' && f.seq === last)
    const after = await scrape()
    expect(after.received).toBeGreaterThan(before.received)
    expect(after.sent).toBeGreaterThan(before.sent)
    // Microseconds per message, not milliseconds: the meter counts the broker's work, not the rest of the request.
    expect((after.received - before.received) / n).toBeLessThan(0.002)
    await sock.close()
  })
})

describe('metrics with a token', () => {
  let server: TestServer
  let api: Client
  const token = 'metrics-token-0123456789'
  beforeAll(async () => {
    server = await startServer({ config: { metricsToken: token } })
    api = client(server.url)
  })
  afterAll(async () => { await server.close() })

  it('answers 401 without the bearer token and 200 with it', async () => {
    expectError(await api.get('/metrics'), 401, 'UNAUTHORIZED')
    expectError(await api.get('/metrics', { headers: { authorization: 'Bearer wrong' } }), 401, 'UNAUTHORIZED')
    const ok = await api.get('/metrics', { token })
    expect(ok.status).toBe(200)
    expect(ok.body).toContain('http_requests_total')
  })
})

describe('metrics disabled', () => {
  it('has no /metrics route', async () => {
    const server = await startServer({ config: { metricsEnabled: false } })
    try {
      expectError(await client(server.url).get('/metrics'), 404, 'NOT_FOUND')
    } finally {
      await server.close()
    }
  })
})

describe('metrics beyond loopback', () => {
  const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', ...env }, { dotenv: false })

  it('needs METRICS_TOKEN (or METRICS_ENABLED=false) when HOST is not a loopback address', () => {
    for (const host of ['0.0.0.0', '::', '10.1.2.3', 'api.internal']) {
      expect(() => load({ HOST: host })).toThrow(ConfigError)
      expect(() => load({ HOST: host })).toThrow(/METRICS_TOKEN is required/)
      expect(load({ HOST: host, METRICS_TOKEN: 'metrics-token-0123456789' }).metricsToken).toBe('metrics-token-0123456789')
      expect(load({ HOST: host, METRICS_ENABLED: 'false' }).metricsEnabled).toBe(false)
    }
    for (const host of ['127.0.0.1', '127.0.0.2', 'localhost', '::1']) expect(load({ HOST: host }).metricsToken).toBeUndefined()
  })
})

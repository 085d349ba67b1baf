// TRUST_PROXY names the proxies in front (a hop count or their addresses), so
// the client address is the one the nearest trusted proxy saw: a client that
// forges X-Forwarded-For hops cannot step out of its rate-limit bucket.
import { randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { ConfigError, loadConfig } from '../src/config.js'
import { client, expectError, register } from './helpers/http.js'
import { startServer } from './helpers/server.js'

const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', ...env }, { dotenv: false })
const randomIp = () => [...randomBytes(4)].join('.')

describe('TRUST_PROXY', () => {
  it('takes false, a hop count or proxy addresses; refuses true, naming the setting', () => {
    expect(load({}).trustProxy).toBe(false)
    expect(load({ TRUST_PROXY: 'false' }).trustProxy).toBe(false)
    expect(load({ TRUST_PROXY: '2' }).trustProxy).toBe(2)
    expect(load({ TRUST_PROXY: '10.0.0.0/8, 127.0.0.1,::1, loopback' }).trustProxy).toEqual(['10.0.0.0/8', '127.0.0.1', '::1', 'loopback'])
    for (const bad of ['true', 'yes', '10.0.0.0/33', 'lb.internal', '-1']) {
      expect(() => load({ TRUST_PROXY: bad })).toThrow(ConfigError)
      expect(() => load({ TRUST_PROXY: bad })).toThrow(/TRUST_PROXY/)
    }
  })

  for (const setting of ['1', '127.0.0.1']) {
    it(`TRUST_PROXY=${setting}: failed logins with forged X-Forwarded-For first hops still hit the rate limit`, async () => {
      const server = await startServer({ config: { trustProxy: load({ TRUST_PROXY: setting }).trustProxy, authRateLimitMax: 5 } })
      try {
        const api = client(server.url)
        const victim = await register(api)
        // The load balancer (this test, on 127.0.0.1) appends the address it
        // saw; everything before it was written by the client.
        const attempt = (realClient: string) => api.post('/v1/auth/login', { username: victim.user.username, password: 'wrong password' }, {
          headers: { 'x-forwarded-for': `${randomIp()}, ${randomIp()}, ${realClient}` }
        })
        const statuses: number[] = []
        for (let i = 0; i < 45; i++) statuses.push((await attempt('203.0.113.7')).status)
        expect(statuses.slice(0, 4)).toEqual([401, 401, 401, 401])
        expect(statuses.filter((s) => s === 429).length).toBeGreaterThanOrEqual(39)
        expectError(await attempt('203.0.113.7'), 429, 'RATE_LIMITED')
        // Another client behind the same proxy has its own budget.
        expectError(await attempt('203.0.113.8'), 401, 'INVALID_CREDENTIALS')
      } finally {
        await server.close()
      }
    })
  }
})

// The real entry point as `npm start` runs it: configuration errors, the
// embedded database, migrations at start-up, graceful shutdown, restart.
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { freePort, processAlive } from '../src/db/embedded.js'
import { createTestDatabase } from './helpers/database.js'
import { client, register } from './helpers/http.js'
import { spawnServer, waitForReady, type ServerProcess } from './helpers/process.js'
import { connect } from './helpers/ws.js'

const started: ServerProcess[] = []
afterAll(() => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill('SIGKILL')
})

describe('configuration', () => {
  // Each refusal of loadConfig is checked in test/config.test.ts; here, that the process started as `npm start`
  // starts it shows the message and exits 1, for a setting's own schema and for a rule across settings.
  it.each([
    [{ PORT: 'not-a-port' }, /PORT must be integer/],
    // Refused before anything listens: /metrics would be public beyond loopback.
    [{ HOST: '0.0.0.0', DATABASE_URL: 'postgresql://127.0.0.1:1/x' }, /METRICS_TOKEN is required when HOST=0\.0\.0\.0/]
  ])('refuses to start with %j and names the setting', async (env, message) => {
    const proc = spawnServer(env)
    started.push(proc)
    const { code } = await proc.exited
    expect(code).toBe(1)
    expect(proc.stderr()).toMatch(message)
    expect(proc.stderr()).not.toMatch(/\n\s+at /)
  })
})

describe('embedded database', () => {
  it('starts on an embedded PostgreSQL, keeps data across a graceful restart, and logs JSON with request ids', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-start-'))
    await chmod(dataDir, 0o755)
    try {
      const port = await freePort()
      const env = { DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info' }
      const url = `http://127.0.0.1:${port}`

      const first = spawnServer(env)
      started.push(first)
      await waitForReady(url, first)
      const api = client(url)
      const acct = await register(api)
      // Exercise every call that carries a secret, then search the log for them.
      const session = await api.post('/v1/auth/login', { username: acct.user.username, password: acct.password })
      const refreshed = await api.post('/v1/auth/refresh', { refreshToken: session.body.refreshToken })
      await api.post('/v1/auth/login', { username: acct.user.username, password: 'wrong password here' })
      await fetch(`${url}/v1/me?access_token=${refreshed.body.accessToken}`, { headers: { authorization: `Bearer ${refreshed.body.accessToken}` } })
      // The query parser decodes names, so a percent-encoded spelling is the
      // same parameter: it authenticates the socket and must not be logged either.
      for (const name of ['access%5Ftoken', 'access%5ftoken', '%61ccess%5F%74oken']) {
        await fetch(`${url}/v1/me?x=1&${name}=${refreshed.body.accessToken}&y=2`)
      }
      // Invite codes travel in the path; stored hashed, they must not be in the log either.
      const other = await register(api)
      const group = await api.post('/v1/conversations', { type: 'group', title: 'logged', memberIds: [] }, { token: acct.accessToken })
      const invite = await api.post(`/v1/conversations/${group.body.id}/invites`, {}, { token: acct.accessToken })
      expect(invite.status).toBe(201)
      expect((await api.post(`/v1/invites/${invite.body.code}/accept`, undefined, { token: other.accessToken })).status).toBe(200)
      expect((await api.del(`/v1/conversations/${group.body.id}/invites/${invite.body.code}`, { token: acct.accessToken })).status).toBe(204)
      const sock = await connect(url, refreshed.body.accessToken, { via: 'query', queryName: 'access%5Ftoken' })
      await sock.next((f) => f.type === 'ready')
      await sock.close()
      await api.post('/v1/auth/logout', { refreshToken: refreshed.body.refreshToken })
      first.child.kill('SIGTERM')
      expect(await first.exited).toEqual({ code: 0, signal: null })
      // The embedded database was stopped cleanly with the server.
      expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false)

      const lines = first.stdout().trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>)
      const completed = lines.filter((l) => l.msg === 'request completed')
      expect(completed.length).toBeGreaterThan(0)
      for (const l of completed) expect(l.requestId).toEqual(expect.any(String))
      for (const secret of [invite.body.code, acct.password, 'wrong password here', acct.refreshToken, session.body.refreshToken, refreshed.body.refreshToken, refreshed.body.accessToken]) {
        expect(first.stdout() + first.stderr()).not.toContain(secret)
      }

      const second = spawnServer(env)
      started.push(second)
      await waitForReady(url, second)
      const login = await api.post('/v1/auth/login', { username: acct.user.username, password: acct.password })
      expect(login.status).toBe(200)
      expect(login.body.user.id).toBe(acct.user.id)
      // The development JWT secret persisted too: the old access token still verifies.
      expect((await api.get('/v1/me', { token: acct.accessToken })).status).toBe(200)
      second.child.kill('SIGTERM')
      expect((await second.exited).code).toBe(0)
    } finally {
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})

describe('Ctrl-C in a terminal', () => {
  it('SIGINT to the whole process group (embedded PostgreSQL included) stops without a stack trace and ends with one line saying so', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-sigint-'))
    await chmod(dataDir, 0o755)
    try {
      const port = await freePort()
      const url = `http://127.0.0.1:${port}`
      const proc = spawnServer({ DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'info' }, { ownGroup: true })
      started.push(proc)
      await waitForReady(url, proc)
      // A request that uses the pool, so that idle connections exist to be lost.
      await register(client(url))
      process.kill(-proc.child.pid!, 'SIGINT')
      expect(await proc.exited).toEqual({ code: 0, signal: null })

      const output = proc.stdout() + proc.stderr()
      expect(output).not.toMatch(/\n\s+at |\\n\s+at |"stack"/)
      const lines = proc.stdout().trim().split('\n').map((l) => JSON.parse(l) as { level: number, msg: string })
      const shutdown = lines.findIndex((l) => l.msg === 'shutting down')
      expect(shutdown).toBeGreaterThan(-1)
      expect(lines.slice(shutdown).filter((l) => l.level >= 40)).toEqual([])
      expect(lines.at(-1)?.msg).toBe('server and embedded database stopped cleanly')
      expect(existsSync(join(dataDir, 'postgres', 'postmaster.pid'))).toBe(false)
    } finally {
      // Should the test fail, the database (in a process group of its own) is not left running.
      const pid = Number((await readFile(join(dataDir, 'postgres', 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0])
      if (pid > 0 && processAlive(pid)) process.kill(pid, 'SIGQUIT')
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 120_000)
})

describe('external database', () => {
  it('with DATABASE_URL set, migrates and uses that server and starts no embedded one', async () => {
    const db = await createTestDatabase()
    const dataDir = await mkdtemp(join(tmpdir(), 'switchboard-ext-'))
    try {
      const port = await freePort()
      const proc = spawnServer({ DATABASE_URL: db.url, DATA_DIR: dataDir, PORT: String(port), LOG_LEVEL: 'warn' })
      started.push(proc)
      await waitForReady(`http://127.0.0.1:${port}`, proc)
      const acct = await register(client(`http://127.0.0.1:${port}`))
      expect(existsSync(join(dataDir, 'postgres'))).toBe(false)
      proc.child.kill('SIGTERM')
      expect((await proc.exited).code).toBe(0)
      const pg = await import('pg')
      const c = new pg.default.Client(db.url)
      await c.connect()
      const { rows } = await c.query('SELECT username FROM users WHERE id = $1', [acct.user.id])
      await c.end()
      expect(rows).toEqual([{ username: acct.user.username }])
    } finally {
      await db.drop()
      await rm(dataDir, { recursive: true, force: true })
    }
  }, 60_000)
})

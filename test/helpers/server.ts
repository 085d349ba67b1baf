// Builds the real app exactly as server.ts does, on its own database, and
// listens on a free loopback port. Tests speak real HTTP to it.
import Fastify, { type FastifyInstance } from 'fastify'
import { randomBytes } from 'node:crypto'
import pg from 'pg'
import fp from 'fastify-plugin'
import { test as base } from 'vitest'
import app, { appServerOptions } from '../../src/app.js'
import { loadConfig, type AppConfig } from '../../src/config.js'
import { createTestDatabase } from './database.js'
import { closePool, createPool } from '../../src/db/pool.js'

export interface TestServer {
  url: string
  app: FastifyInstance
  databaseUrl: string
  /** Direct SQL on the server's database, to check what was stored. */
  sql<T extends pg.QueryResultRow = any> (text: string, params?: unknown[]): Promise<T[]>
  close (): Promise<void>
}

export interface StartOptions {
  config?: Partial<AppConfig>
  /** Adds test-only routes or hooks before the server starts. */
  extend? (app: FastifyInstance): void | Promise<void>
  databaseUrl?: string
  /** A port to listen on (a restart on the same address); a free one when missing. */
  port?: number
  /** The token secret (a restart that keeps the clients' tokens valid); a random one when missing. */
  jwtSecret?: string
}

export function testConfig (overrides: Partial<AppConfig> = {}): AppConfig {
  const loaded = loadConfig({ NODE_ENV: 'test', LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent' }, { dotenv: false })
  return {
    ...loaded,
    // The fake push services of the tests listen on loopback.
    push: { ...loaded.push, webpushEndpointHosts: [...loaded.push.webpushEndpointHosts, '127.0.0.1'] },
    // argon2id at 1 MiB and one pass: the suite registers thousands of users (test/auth.test.ts checks the standard cost).
    passwordHashCost: 'test',
    authRateLimitMax: 100_000,
    loginRateLimitPerUsername: 100_000,
    emailCodesPerDay: 1_000,
    passwordResetMailsPerHour: 100_000,
    postRateLimitPerSecond: 100_000,
    membershipRateLimitPerMinute: 100_000,
    profileRateLimitPerMinute: 100_000,
    accountMailRateLimitMax: 100_000,
    ...overrides
  }
}

export async function startServer (opts: StartOptions = {}): Promise<TestServer> {
  const db = opts.databaseUrl === undefined ? await createTestDatabase() : undefined
  const databaseUrl = opts.databaseUrl ?? db!.url
  const config = testConfig(opts.config)
  const server = Fastify(appServerOptions(config))
  await server.register(fp(app), { config, databaseUrl, jwtSecret: opts.jwtSecret ?? randomBytes(32).toString('hex') })
  if (opts.extend !== undefined) await opts.extend(server)
  await server.listen({ host: '127.0.0.1', port: opts.port ?? 0, backlog: config.listenBacklog })
  const { port } = server.server.address() as { port: number }
  let pool: pg.Pool | undefined
  return {
    url: `http://127.0.0.1:${port}`,
    app: server,
    databaseUrl,
    async sql (text, params) {
      if (pool === undefined) {
        pool = createPool({ connectionString: databaseUrl, max: 2 })
        // A connection the database ends (the test database dropped WITH (FORCE)) is not the test's failure.
        pool.on('error', () => {})
      }
      return (await pool.query(text, params)).rows
    },
    async close () {
      // A slow step is named in the output: a teardown that hangs says where.
      for (const [name, step] of [['app.close', () => server.close()], ['pool.end', () => pool === undefined ? undefined : closePool(pool)], ['database drop', () => db?.drop()]] as const) {
        const t = Date.now()
        await step()
        if (Date.now() - t > 2_000) console.warn(`test server ${name} took ${Date.now() - t} ms`)
      }
    }
  }
}

// Vitest puts no time limit on a fixture's cleanup; the afterAll that closed
// the server before the fixture had the config's hookTimeout (60 s).
const CLOSE_TIMEOUT_MS = 60_000

async function closeWithin (server: TestServer, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`test server did not close within ${ms} ms`)), ms)
  })
  try {
    await Promise.race([server.close(), late])
  } finally {
    clearTimeout(timer)
  }
}

/**
 * `server`: the real app on a fresh database, started for the first hook or
 * test of a file that asks for it and closed after that file's afterAll hooks
 * (so a file's own afterAll can still close its sockets first). A file sets its
 * options once, at its top level: `test.override('serverOptions', { config })`.
 */
export const test = base
  .extend('serverOptions', { scope: 'file' }, {} as StartOptions)
  .extend('server', { scope: 'file' }, async ({ serverOptions }, { onCleanup }) => {
    const server = await startServer(serverOptions)
    onCleanup(() => closeWithin(server, CLOSE_TIMEOUT_MS))
    return server
  })

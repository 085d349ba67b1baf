// `npm run lint` part two: builds the app as the server does, without a
// database (nothing connects before the first request), takes the OpenAPI
// document that /docs/json serves, and lints it with Redocly's recommended
// rules, warnings counted as errors (.config/redocly.yaml).
import { spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import Fastify from 'fastify'
import fp from 'fastify-plugin'
import app, { appServerOptions } from '../src/app.js'
import { loadConfig } from '../src/config.js'

const root = fileURLToPath(new URL('..', import.meta.url))
// Port 1 on loopback: were anything to query the database, it would fail loudly.
const config = loadConfig({ DATABASE_URL: 'postgresql://openapi@127.0.0.1:1/openapi', LOG_LEVEL: 'warn' }, { dotenv: false })
const server = Fastify(appServerOptions(config))
await server.register(fp(app), { config, databaseUrl: 'postgresql://openapi@127.0.0.1:1/openapi', jwtSecret: 'lint-only-'.repeat(4) })
await server.ready()
const document = server.swagger()
await server.close()

const dir = mkdtempSync(join(tmpdir(), 'switchboard-openapi-'))
try {
  const file = join(dir, 'openapi.json')
  writeFileSync(file, JSON.stringify(document, null, 2))
  const result = spawnSync(join(root, 'node_modules/.bin/redocly'), ['lint', '--config', join(root, '.config/redocly.yaml'), file],
    { stdio: 'inherit', env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' } })
  process.exitCode = result.status ?? 1
} finally {
  rmSync(dir, { recursive: true, force: true })
}

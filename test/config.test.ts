// Each setting is declared once in src/config.ts (AppConfig key, variable,
// schema). These checks catch a declaration that reads one variable into
// another setting's field, or a variable missing from the operator docs.
import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { ConfigError, EnvSchema, loadConfig, SETTINGS } from '../src/config.js'

const load = (env: Record<string, string>) => loadConfig({ NODE_ENV: 'test', ...env }, { dotenv: false })

// Fields loadConfig computes from one or more INPUT settings.
const COMPUTED = ['trustProxy', 'corsOrigins', 'uploadAllowedTypes', 'pushWebhook', 'push']

// Valid values that differ from the default, for strings the schema cannot suggest.
const STRINGS: Record<string, string> = {
  NODE_ENV: 'production', // with the JWT_SECRET below
  HOST: 'localhost',
  DATABASE_URL: 'postgres://u@127.0.0.1:1/other',
  DATABASE_REPLICA_URL: 'postgres://u@127.0.0.1:2/replica',
  DATA_DIR: '.other-data',
  JWT_SECRET: 'k7Qp2xVb9RtLm4ZwHc8NsYd3FgJe6UaT',
  REDIS_URL: 'redis://127.0.0.1:1',
  BROKER_CHANNEL: 'other-channel',
  METRICS_TOKEN: 'Wq4Zr8Lp2Xv6Nm9T',
  SMTP_URL: 'smtp://127.0.0.1:2525',
  MAIL_FROM: 'Switchboard <no-reply@example.test>',
  STORAGE_LOCAL_DIR: '/srv/other-uploads',
  S3_BUCKET: 'other-bucket',
  S3_REGION: 'eu-west-1',
  S3_ENDPOINT: 'http://127.0.0.1:9000',
  S3_ACCESS_KEY_ID: 'other-key',
  S3_SECRET_ACCESS_KEY: 'other-secret',
  REACTIONS_CUSTOM: 'party,shipit'
}

interface Schema { default?: unknown, minimum?: number, maximum?: number, type?: string, anyOf?: Array<{ const: unknown }> }

/** A valid value other than the default, as the variable's text and as the expected field. */
function otherValue (name: string, schema: Schema): [string, unknown] {
  if (name in STRINGS) return [STRINGS[name]!, STRINGS[name]]
  if (schema.type === 'integer') {
    const v = schema.default === schema.minimum ? schema.maximum! : schema.minimum!
    return [String(v), v]
  }
  if (schema.type === 'boolean') return [String(!schema.default), !schema.default]
  const literal = schema.anyOf?.map((s) => s.const).find((c) => c !== schema.default)
  if (typeof literal === 'string') return [literal, literal]
  throw new Error(`no test value for ${name}`)
}

describe('settings declaration', () => {
  const entries = Object.entries(SETTINGS)
  const copied = entries.filter(([, s]) => s.length === 2)

  it('declares each variable once, and EnvSchema reads exactly those', () => {
    const names = entries.map(([, [name]]) => name)
    expect(new Set(names).size).toBe(names.length)
    expect(Object.keys(EnvSchema.properties)).toEqual(names)
  })

  // The key is the variable's name in camelCase, so a key paired with the
  // wrong variable stands out; these two read better otherwise.
  it('names each field after its variable', () => {
    const exceptions: Record<string, string> = { NODE_ENV: 'env', HTTP_KEEPALIVE_TIMEOUT_MS: 'httpKeepAliveTimeoutMs' }
    const camel = (name: string) => exceptions[name] ?? name.toLowerCase().replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
    const misnamed = entries.filter(([key, [name]]) => key !== camel(name)).map(([key, [name]]) => `${key} <- ${name}`)
    expect(misnamed).toEqual([])
  })

  it('gives the config exactly one field per copied setting, plus the computed ones', () => {
    expect(Object.keys(load({})).sort()).toEqual([...copied.map(([key]) => key), ...COMPUTED].sort())
  })

  it('puts each variable in its own field and in no other', () => {
    const defaults = load({})
    for (const [key, [name, schema]] of copied) {
      const [text, expected] = otherValue(name, schema as Schema)
      const env = name === 'NODE_ENV' ? { NODE_ENV: text, JWT_SECRET: STRINGS.JWT_SECRET! } : { [name]: text }
      const config = load(env)
      const changed = Object.keys(config).filter((k) => !Object.is(config[k as keyof typeof config], defaults[k as keyof typeof defaults]) && !COMPUTED.includes(k))
      expect({ name, changed }).toEqual({ name, changed: name === 'NODE_ENV' ? [key, 'jwtSecret'] : [key] })
      expect(config[key as keyof typeof config]).toEqual(expected)
    }
  })

  it('documents every variable in .env.example and README', () => {
    const example = readFileSync(new URL('../.env.example', import.meta.url), 'utf8')
    const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8')
    const missing = entries.map(([, [name]]) => name).filter((name) => !example.includes(name) || !readme.includes(`\`${name}\``))
    expect(missing).toEqual([])
  })
})

describe('refusals', () => {
  // The process shows these and exits 1 before anything listens (test/process.test.ts starts it for two of them).
  it.each([
    [{ PORT: 'not-a-port' }, /PORT must be integer/],
    [{ DATABASE_URL: 'mysql://localhost/db' }, /DATABASE_URL must match pattern/],
    [{ NODE_ENV: 'production', DATABASE_URL: 'postgresql://127.0.0.1:1/x' }, /JWT_SECRET is required/],
    [{ NODE_ENV: 'production', JWT_SECRET: 'change-me-change-me-change-me-change-me', DATABASE_URL: 'postgresql://127.0.0.1:1/x' }, /JWT_SECRET looks like a placeholder/],
    [{ ACCESS_TOKEN_TTL_SECONDS: '0' }, /ACCESS_TOKEN_TTL_SECONDS must be >= 10/],
    [{ BROKER: 'redis' }, /REDIS_URL is required when BROKER=redis/],
    [{ HOST: '0.0.0.0', DATABASE_URL: 'postgresql://127.0.0.1:1/x' }, /METRICS_TOKEN is required when HOST=0\.0\.0\.0/],
    [{ TRUST_PROXY: 'true', DATABASE_URL: 'postgresql://127.0.0.1:1/x' }, /TRUST_PROXY=true would trust every X-Forwarded-For hop/],
    [{ PASSWORD_HASH_COST: 'test' }, /PASSWORD_HASH_COST=test is for test suites only/],
    [{ NODE_ENV: 'production', JWT_SECRET: 'k7Qp2xVb9RtLm4ZwHc8NsYd3FgJe6UaT', PASSWORD_HASH_COST: 'test' }, /PASSWORD_HASH_COST=test is for test suites only/]
  ])('refuses %j and names the setting', (env, message) => {
    let thrown: unknown
    try {
      loadConfig(env, { dotenv: false })
    } catch (err) {
      thrown = err
    }
    expect(thrown).toBeInstanceOf(ConfigError)
    expect((thrown as Error).message).toMatch(message)
  })
})

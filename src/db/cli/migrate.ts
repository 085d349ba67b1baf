// `npm run db:migrate`: applies pending migrations to the configured database.
import { loadConfig } from '../../config.js'
import { openDatabase } from '../bootstrap.js'
import { applyMigrations } from '../migrator.js'

const say = (line: string) => process.stdout.write(`${line}\n`)

const config = loadConfig()
const db = await openDatabase(config, say)
try {
  const applied = await applyMigrations(db.url)
  say(applied.length > 0 ? `Applied: ${applied.join(', ')}` : 'The database is up to date.')
} finally {
  await db.stop()
}

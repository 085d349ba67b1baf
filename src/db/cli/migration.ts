// `npm run db:migration -- <name>`: writes a migration for the change made to
// prisma/schema.prisma since the last migration.
import { loadConfig } from '../../config.js'
import { openDatabase } from '../bootstrap.js'
import { createMigration } from '../migrator.js'

const say = (line: string) => process.stdout.write(`${line}\n`)

const name = process.argv[2]
if (name === undefined || !/^[a-z0-9_]+$/i.test(name)) {
  process.stderr.write('usage: npm run db:migration -- <name>   (letters, digits and underscores)\n')
  process.exit(2)
}

const config = loadConfig()
const db = await openDatabase(config, say)
try {
  const folder = await createMigration(db.adminUrl, name)
  say(folder === null ? 'No change in prisma/schema.prisma since the last migration.' : `Wrote prisma/migrations/${folder}/migration.sql`)
} finally {
  await db.stop()
}

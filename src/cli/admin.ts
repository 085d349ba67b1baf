// `npm run admin -- grant|revoke <username> <admin|moderator>`: gives or takes
// an app role (the /v1/admin API reads roles on every request, so the change
// holds at once). Exit codes: 0 done, 1 no such user, 2 usage.
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../generated/prisma/client.js'
import { loadConfig } from '../config.js'
import { APP_ROLES, setAppRole, type AppRole } from '../domain/safety-admin.js'
import { openMigratedDatabase } from '../db/bootstrap.js'
import { poolConfigFromUrl } from '../db/migrator.js'

const say = (line: string) => process.stdout.write(`${line}\n`)
const [action, username, role] = process.argv.slice(2)

if ((action !== 'grant' && action !== 'revoke') || username === undefined || !(APP_ROLES as readonly string[]).includes(role ?? '')) {
  process.stderr.write(`usage: npm run admin -- grant|revoke <username> <${APP_ROLES.join('|')}>\n`)
  process.exit(2)
}

const config = loadConfig()
const db = await openMigratedDatabase(config, say)
const pool = new pg.Pool({ ...poolConfigFromUrl(db.url), max: 2 })
const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
try {
  if (await setAppRole({ prisma, pool }, username, role as AppRole, action === 'grant')) {
    say(`${action === 'grant' ? 'Granted' : 'Revoked'} ${role} ${action === 'grant' ? 'to' : 'from'} ${username.toLowerCase()}.`)
  } else {
    process.stderr.write(`No user named ${username.toLowerCase()}.\n`)
    process.exitCode = 1
  }
} finally {
  await prisma.$disconnect()
  await pool.end()
  await db.stop()
}

// `npm run pack:client`: the SDK (src/client) as a package of its own,
// dist/switchboard-client-<version>.tgz, for apps outside this repository:
// `npm install /path/to/switchboard-client-<version>.tgz`, then
// `import { createClient } from 'switchboard-client'`. The service itself is
// private and heavy (PostgreSQL binaries, Prisma); the SDK needs none of it.
// Its types come from the server's TypeBox schemas, so their declarations ship
// along (types only) and `typebox` is its one dependency, for those types.
import { execFileSync } from 'node:child_process'
import { readFileSync, rmSync, writeFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

export function packClient (outDir = join(root, 'dist')): string {
  const project = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')) as { version: string, license: string, dependencies: Record<string, string> }
  const staging = join(outDir, 'sdk')
  rmSync(staging, { recursive: true, force: true })
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, '.config/tsconfig.client.json'), '--outDir', staging], { stdio: 'inherit' })
  // The schemas are there for their types; the client's code never imports them at run time.
  for (const file of readdirSync(join(staging, 'schemas'))) if (!file.endsWith('.d.ts')) rmSync(join(staging, 'schemas', file))
  writeFileSync(join(staging, 'package.json'), JSON.stringify({
    name: 'switchboard-client',
    version: project.version,
    description: 'Typed client for the Switchboard chat API: REST calls, token refresh, and a WebSocket that reconnects and replays every missed event once, in order.',
    license: project.license,
    type: 'module',
    exports: { '.': { types: './client/index.d.ts', default: './client/index.js' } },
    files: ['client', 'schemas'],
    dependencies: { typebox: project.dependencies.typebox },
    engines: { node: '>=20.19' }
  }, null, 2) + '\n')
  writeFileSync(join(staging, 'README.md'), '# switchboard-client\n\nThe typed client of the Switchboard chat API. ' +
    'Usage, options and the reconnect-and-replay guarantees: the "Client SDK" section of the Switchboard README.\n')
  const name = execFileSync('npm', ['pack', '--pack-destination', outDir, '--silent'], { cwd: staging, encoding: 'utf8' }).trim().split('\n').pop()!
  return join(outDir, name)
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(`${packClient()}\n`)
}

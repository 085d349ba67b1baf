// `npm start` runs this first: it builds (npm run build) only when a source
// changed since the last complete build, so a second start does not wait for
// the TypeScript compiler. `npm run build` ends with `--done`, which stamps
// dist/ as complete; a build that failed halfway leaves no stamp and is redone.
// Plain JavaScript: it runs before anything is compiled, and fast.
import { spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import process from 'node:process'
import { fileURLToPath, URL } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const stamp = join(root, 'dist', '.build-stamp')
// Everything the build reads: the sources (with the generated Prisma client and
// the web page), the compiler settings and the build scripts, and the lockfile.
const inputs = ['src', 'tsconfig.json', '.config/tsconfig.build.json', '.config/build-web.ts', 'package-lock.json']

function newest (path) {
  const stat = statSync(path, { throwIfNoEntry: false })
  if (stat === undefined) return 0
  if (!stat.isDirectory()) return stat.mtimeMs
  let latest = stat.mtimeMs
  for (const entry of readdirSync(path)) latest = Math.max(latest, newest(join(path, entry)))
  return latest
}

if (process.argv.includes('--done')) {
  mkdirSync(join(root, 'dist'), { recursive: true })
  writeFileSync(stamp, `${new Date().toISOString()}\n`)
} else {
  const built = statSync(stamp, { throwIfNoEntry: false })?.mtimeMs ?? 0
  const changed = Math.max(...inputs.map((p) => newest(join(root, p))))
  if (changed > built) {
    process.stderr.write(built === 0 ? 'No complete build yet: building (once).\n' : 'Sources changed since the last build: building.\n')
    const result = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' })
    process.exitCode = result.status ?? 1
  }
}

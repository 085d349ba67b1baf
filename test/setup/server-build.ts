// Transpiles the server's sources once for the whole run, as `npm run build`
// lays them out (src/x.ts → <dir>/x.js, one level below the project root, so
// every path a module finds from its own location is the same): the tests
// that start the real entry point as a process (test/helpers/process.ts) run
// it with plain node. With `--import tsx` each of those processes compiled the
// sources again, a few seconds of a core each, two dozen times a run.
// Transpiling only (esbuild, as tsx does): the type check is `npm run typecheck`.
import { build } from 'esbuild'
import { readdir, rm } from 'node:fs/promises'
import { join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { TestProject } from 'vitest/node'
import { sharedSetup } from './shared.js'

declare module 'vitest' {
  export interface ProvidedContext {
    /** The transpiled sources (serverBuild/server.js is the entry point); empty when not built. */
    serverBuild: string
  }
}

const root = fileURLToPath(new URL('../..', import.meta.url))

async function sources (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true })
  const files = await Promise.all(entries.map(async (e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return ['web', 'client'].includes(relative(join(root, 'src'), path)) ? [] : sources(path)
    return e.name.endsWith('.ts') && !e.name.endsWith('.d.ts') ? [path] : []
  }))
  return files.flat()
}

export default function setup (project: TestProject) {
  return sharedSetup(project, 'server-build', async () => {
    // Its own folder per run (runs may overlap on one checkout), at the depth of src/ and dist/.
    const outdir = join(root, `.test-build-${process.pid}`)
    await build({
      entryPoints: await sources(join(root, 'src')),
      outdir,
      outbase: join(root, 'src'),
      format: 'esm',
      platform: 'node',
      target: 'node20',
      sourcemap: 'inline',
      logLevel: 'warning'
    })
    return { provide: { serverBuild: outdir }, stop: async () => { await rm(outdir, { recursive: true, force: true }) } }
  })
}

// Builds the web chat page into dist/public: src/web (which uses the client
// SDK) bundled for browsers by esbuild, plus the static files of src/public.
// Run by `npm run build`; the browser test calls buildWeb() itself.
import { build } from 'esbuild'
import { cp, mkdir } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))

export async function buildWeb (outdir = `${root}dist/public`): Promise<string> {
  await mkdir(outdir, { recursive: true })
  await cp(`${root}src/public`, outdir, { recursive: true })
  await build({
    entryPoints: [`${root}src/web/main.ts`],
    outfile: `${outdir}/app.js`,
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: ['es2022'],
    minify: true,
    sourcemap: true,
    logLevel: 'warning'
  })
  return outdir
}

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  await buildWeb()
}

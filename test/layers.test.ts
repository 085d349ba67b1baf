// The source tree reads downwards: a file imports only from its own layer or
// the layers below it, so one message can be followed from the route to the
// socket without a return trip. Layers, top to bottom: the process entry
// points (and the command-line tools in cli/); plugins (the wiring); routes
// and the served documents; the realtime path, notifications and mail; the
// domain; repositories and file storage; and the base (config, schemas, database set-up,
// generated client, types). The SDK and the web page
// are programs of their own: they import nothing of the server but the
// schemas' types.
import { readdirSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { describe, expect, it } from 'vitest'

const SRC = resolve(import.meta.dirname, '../src')

const RANKS: Array<[RegExp, number, string]> = [
  [/^(app|server|cluster)\.ts$|^cli\//, 6, 'entry'],
  [/^plugins\//, 5, 'plugins'],
  [/^(routes|docs)\//, 4, 'routes'],
  [/^(realtime|notifications|mail)\//, 3, 'realtime'],
  [/^domain\//, 2, 'domain'],
  [/^(repositories|storage)\//, 1, 'repositories'],
  [/^(config|log-redaction|heap)\.ts$|^(schemas|db|generated|types)\//, 0, 'base']
]

function layer (file: string): { rank: number, name: string } | undefined {
  for (const [re, rank, name] of RANKS) if (re.test(file)) return { rank, name }
  return undefined
}

function sources (dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const path = join(dir, e.name)
    if (e.isDirectory()) return e.name === 'generated' ? [] : sources(path)
    return /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [path] : []
  })
}

function localImports (path: string): string[] {
  const text = readFileSync(path, 'utf8')
  const out: string[] = []
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s+'(\.{1,2}\/[^']+)'/g)) {
    out.push(relative(SRC, resolve(dirname(path), m[1]!)).replace(/\.js$/, '.ts'))
  }
  return out
}

describe('layers', () => {
  it('no server file imports from a layer above its own', () => {
    const violations: string[] = []
    for (const path of sources(SRC)) {
      const file = relative(SRC, path)
      if (/^(client|web|public)\//.test(file)) continue
      const from = layer(file)
      expect(from, `${file} belongs to no layer: add it to RANKS`).toBeDefined()
      for (const target of localImports(path)) {
        const to = layer(target)
        if (to !== undefined && to.rank > from!.rank) violations.push(`${file} (${from!.name}) imports ${target} (${to.name})`)
      }
    }
    expect(violations).toEqual([])
  })

  it('the SDK and the web page import nothing of the server but schema types', () => {
    const violations: string[] = []
    for (const path of sources(SRC)) {
      const file = relative(SRC, path)
      const own = /^(client|web)\//.exec(file)?.[1]
      if (own === undefined) continue
      for (const target of localImports(path)) {
        if (target.startsWith(`${own}/`) || target.startsWith('schemas/') || (own === 'web' && target.startsWith('client/'))) continue
        violations.push(`${file} imports ${target}`)
      }
    }
    expect(violations).toEqual([])
  })
})

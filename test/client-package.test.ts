// The SDK as another project gets it: `npm run pack:client` makes a tarball,
// a fresh project installs it with npm, imports it at run time, and
// type-checks against it (strict, library checks on).
import { execFileSync } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, expect, it } from 'vitest'
import { packClient } from '../.config/pack-client.js'
import { projectRoot } from './helpers/process.js'

const dirs: string[] = []
afterAll(async () => { for (const d of dirs) await rm(d, { recursive: true, force: true }) })

it('installs from its tarball into a new project, imports, and carries real types', async () => {
  const out = await mkdtemp(join(tmpdir(), 'switchboard-sdk-pack-'))
  const app = await mkdtemp(join(tmpdir(), 'switchboard-sdk-app-'))
  dirs.push(out, app)
  const tarball = packClient(out)
  expect(tarball).toMatch(/switchboard-client-\d+\.\d+\.\d+\.tgz$/)

  await writeFile(join(app, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }))
  execFileSync('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: app, stdio: 'pipe' })

  const exported = execFileSync(process.execPath, ['--input-type=module', '-e',
    "const m = await import('switchboard-client'); console.log(typeof m.createClient, typeof m.ApiError)"], { cwd: app, encoding: 'utf8' })
  expect(exported.trim()).toBe('function function')

  // A wrong type must be an error: were the types lost (any), the
  // expect-error directive below would be unused, which tsc reports too.
  await writeFile(join(app, 'app.ts'), [
    "import { createClient } from 'switchboard-client'",
    "const chat = createClient({ baseUrl: 'http://127.0.0.1:3000' })",
    "chat.realtime.on('event', (e) => {",
    "  if (e.type !== 'message.created') return",
    '  const body: string = e.data.body',
    '  // @ts-expect-error seq is a number, not a boolean',
    '  const seq: boolean = e.data.seq',
    '  void body; void seq',
    '})',
    // The sync cursor's surface (README "Client SDK"): typed from the schemas too.
    "chat.realtime.on('synced', (info) => { const via: 'sync' | 'conversations' = info.via; void via })",
    "chat.realtime.on('conversation', (c) => { const unread: number = c.unreadCount; void unread })",
    "chat.realtime.on('left', (id) => { const left: string = id; void left })",
    "chat.realtime.on('unread', (u) => { const total: number = u.total; void total })",
    'const saved: string | undefined = chat.realtime.cursor',
    "void chat.sync({ since: saved ?? '', limit: 100 }).then((page) => {",
    "  for (const change of page.changes) { const m: 'member' | 'left' = change.membership; void m; void change.events?.[0]?.seq }",
    '})',
    '// @ts-expect-error mode is events or summary',
    "void chat.sync({ mode: 'everything' })",
    ''
  ].join('\n'))
  await writeFile(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, module: 'NodeNext', moduleResolution: 'NodeNext', target: 'ES2022', lib: ['ES2023', 'DOM'], noEmit: true },
    files: ['app.ts']
  }))
  execFileSync(process.execPath, [join(projectRoot, 'node_modules/typescript/bin/tsc'), '-p', app], { cwd: app, stdio: 'pipe' })
}, 360_000)

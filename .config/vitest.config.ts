import { defineConfig } from 'vitest/config'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'

// Files that need a module graph of their own: they count the statements or the heap of their process, or set a
// module-level setting. Every other file shares its worker's modules with the files run there before it
// (isolate: false), which saves importing the app again for each file (about 1.6 s of a core each). The two
// projects share the global setups (test/setup/shared.ts).
const ISOLATED = [
  'test/account-export.test.ts', 'test/auth.test.ts', 'test/conversation-members.test.ts', 'test/conversations.test.ts',
  'test/heap.test.ts', 'test/metrics.test.ts', 'test/safety-blocks.test.ts', 'test/safety-moderation.test.ts',
  'test/upgrade-burst.test.ts'
]

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    globalSetup: ['test/setup/global.ts', 'test/setup/redis.ts', 'test/setup/web.ts', 'test/setup/server-build.ts'],
    setupFiles: ['test/setup/each-file.ts'],
    testTimeout: 30_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Two files at a time even on 2 cores (vitest's default there is one): most
    // of a file's time is spent waiting on servers, processes and sockets, and
    // each file has its own database, so the suite takes about half as long.
    maxWorkers: Math.max(2, availableParallelism()),
    // expect.poll waits 1 s by default: too short for a browser or a server on a
    // loaded 2-core machine. A poll still fails, only later, when the state never comes.
    expect: { poll: { timeout: 10_000 } },
    reporters: ['default'],
    projects: [
      // A project's include and exclude add to the root's: the root has none.
      { extends: true, test: { name: 'isolated', include: ISOLATED } },
      { extends: true, test: { name: 'shared', include: ['test/**/*.test.ts'], exclude: [...ISOLATED, 'test/chaos/**', 'node_modules/**'], isolate: false } }
    ]
  }
})

import { defineConfig } from 'vitest/config'
import { availableParallelism } from 'node:os'
import { fileURLToPath } from 'node:url'

export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/**/*.test.ts'],
    exclude: ['test/chaos/**', 'node_modules/**'],
    globalSetup: ['test/setup/global.ts', 'test/setup/redis.ts', 'test/setup/web.ts', 'test/setup/server-build.ts'],
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
    reporters: ['default']
  }
})

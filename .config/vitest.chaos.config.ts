import { defineConfig } from 'vitest/config'
import { fileURLToPath } from 'node:url'

// Slow fault and soak tests with real processes and signals: `npm run test:chaos`.
export default defineConfig({
  root: fileURLToPath(new URL('..', import.meta.url)),
  test: {
    include: ['test/chaos/**/*.test.ts'],
    globalSetup: ['test/setup/global.ts', 'test/setup/server-build.ts'],
    testTimeout: 180_000,
    hookTimeout: 120_000,
    pool: 'forks',
    fileParallelism: false,
    // As in vitest.config.ts: expect.poll's 1 s default is too short on a loaded machine.
    expect: { poll: { timeout: 10_000 } }
  }
})

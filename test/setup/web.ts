// Builds the web page once for the whole run, before any test server starts:
// a server serves it only if it finds it built, and the browser tests of
// several files would otherwise build it into the same folder at once.
import type { TestProject } from 'vitest/node'
import { buildWeb } from '../../.config/build-web.js'
import { sharedSetup } from './shared.js'

export default function setup (project: TestProject) {
  return sharedSetup(project, 'web', async () => {
    await buildWeb()
    return { provide: {}, stop: async () => {} }
  })
}

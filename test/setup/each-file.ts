// Runs before every test file, also where files share their worker's modules
// (the `shared` project of .config/vitest.config.ts): a file's
// test.override('serverOptions', …) stays on the `test` of
// test/helpers/server.ts, which the next file in that worker would get.
import { test } from '../helpers/server.js'

test.override('serverOptions', {})

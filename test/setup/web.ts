// Builds the web page once for the whole run, before any test server starts:
// a server serves it only if it finds it built, and the browser tests of
// several files would otherwise build it into the same folder at once.
import { buildWeb } from '../../.config/build-web.js'

export default async function setup () {
  await buildWeb()
}

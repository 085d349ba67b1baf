// The client contract travels with the code: served at /docs/contract, v1 kept
// as first written, every event type the server writes named on the page, and
// every link of the README resolving in a clone of the repository.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { EventType } from '../src/schemas/messages.js'
import { projectRoot } from './helpers/process.js'
import { test, type TestServer } from './helpers/server.js'

let server: TestServer
test.beforeAll(({ server: started }) => { server = started })

describe('GET /docs/contract', () => {
  it('serves src/docs/API.md as Markdown: version 1 first, then this project\'s extensions', async () => {
    const res = await fetch(`${server.url}/docs/contract`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/markdown; charset=utf-8')
    const page = await res.text()
    expect(page).toBe(readFileSync(join(projectRoot, 'src/docs/API.md'), 'utf8'))
    expect(page.startsWith('# Chat API contract, version 1\n')).toBe(true)
    const [v1, extensions] = page.split('\n## Extensions made by this project\n')
    expect(extensions).toBeDefined()
    // Every event type the server can write is in the contract, as v1 or as an extension.
    for (const { const: type } of EventType.anyOf) expect(`${v1}${extensions}`, type).toContain(`\`${type}\``)
  })

  it('is linked from the OpenAPI document', async () => {
    const doc = await (await fetch(`${server.url}/docs/json`)).json() as { info: { description: string } }
    expect(doc.info.description).toContain('/docs/contract')
  })
})

it('every relative link of the README resolves inside the repository', () => {
  const readme = readFileSync(join(projectRoot, 'README.md'), 'utf8')
  const links = [...readme.matchAll(/\]\(([^)#\s]+)/g)].map((m) => m[1]!).filter((l) => !/^(https?:|mailto:)/.test(l))
  expect(links.length).toBeGreaterThan(0)
  for (const link of links) {
    expect(link.startsWith('../') || link.startsWith('/'), `${link} points outside the repository`).toBe(false)
    expect(existsSync(join(projectRoot, link)), `${link} does not exist`).toBe(true)
  }
})

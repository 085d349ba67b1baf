// Load generator of the connections scenario: opens idle WebSockets (one per
// user, authenticated for Switchboard) and holds them.
import { readFileSync } from 'node:fs'
import { performance } from 'node:perf_hooks'
import WebSocket from 'ws'
import { serve } from '../harness/rpc.js'
import { inParallel } from './http.js'

const sockets: WebSocket[] = []
let tokens: string[] = []

function open (url: string, mode: 'ours' | 'bare', index: number): Promise<boolean> {
  const wsBase = url.replace(/^http/, 'ws')
  const ws = mode === 'ours'
    ? new WebSocket(`${wsBase}/v1/ws`, { headers: { authorization: `Bearer ${tokens[index]}` }, perMessageDeflate: false })
    : new WebSocket(`${wsBase}/?u=${index}`, { perMessageDeflate: false })
  return new Promise((resolve) => {
    let settled = false
    const done = (ok: boolean) => {
      if (settled) return
      settled = true
      ws.removeAllListeners('unexpected-response')
      if (ok) sockets.push(ws)
      else ws.terminate()
      resolve(ok)
    }
    // Switchboard's first frame is `ready`: the connection is registered then.
    if (mode === 'ours') ws.once('message', () => done(true))
    else ws.once('open', () => done(true))
    ws.once('unexpected-response', () => done(false))
    ws.on('error', () => done(false))
  })
}

serve({
  /** Opens sockets for user indexes [from, to) with `concurrency` handshakes in flight. */
  async open (p: { url: string, mode: 'ours' | 'bare', tokensFile?: string, from: number, to: number, concurrency: number }) {
    if (p.tokensFile !== undefined && tokens.length === 0) tokens = JSON.parse(readFileSync(p.tokensFile, 'utf8')) as string[]
    const started = performance.now()
    let failed = 0
    const indexes = Array.from({ length: p.to - p.from }, (_, i) => p.from + i)
    await inParallel(indexes, p.concurrency, async (i) => { if (!(await open(p.url, p.mode, i))) failed++ })
    return { opened: indexes.length - failed, failed, ms: performance.now() - started }
  },
  count: () => sockets.filter((s) => s.readyState === WebSocket.OPEN).length,
  close () {
    for (const s of sockets) s.terminate()
    sockets.length = 0
  }
})

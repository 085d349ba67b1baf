// A WebSocket test client (the `ws` package) that records every frame and
// lets a test wait for the next one matching a predicate.
import WebSocket from 'ws'

export type Frame = Record<string, any>

export interface TestSocket {
  ws: WebSocket
  frames: Frame[]
  /** Resolves with the first frame (not yet taken) that matches; fails after timeoutMs. */
  next (match?: (f: Frame) => boolean, timeoutMs?: number): Promise<Frame>
  /** Fails if a matching frame arrives within ms from now. */
  none (match: (f: Frame) => boolean, ms?: number): Promise<void>
  send (frame: unknown): void
  closed: Promise<{ code: number, reason: string }>
  close (): Promise<void>
}

export function wsUrl (baseUrl: string) {
  return `${baseUrl.replace(/^http/, 'ws')}/v1/ws`
}

export function connect (baseUrl: string, token: string, opts: { via?: 'header' | 'query', queryName?: string } = {}): Promise<TestSocket> {
  const url = opts.via === 'query' ? `${wsUrl(baseUrl)}?${opts.queryName ?? 'access_token'}=${encodeURIComponent(token)}` : wsUrl(baseUrl)
  const ws = new WebSocket(url, opts.via === 'query' ? {} : { headers: { authorization: `Bearer ${token}` } })
  const frames: Frame[] = []
  let cursor = 0
  const waiters = new Set<() => void>()
  ws.on('message', (data) => {
    frames.push(JSON.parse(data.toString()) as Frame)
    for (const w of waiters) w()
  })
  const closed = new Promise<{ code: number, reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      resolve({ code, reason: reason.toString() })
      for (const w of waiters) w()
    })
  })
  const taken = new Set<number>()
  const find = (match: (f: Frame) => boolean) => {
    for (let i = cursor; i < frames.length; i++) {
      if (!taken.has(i) && match(frames[i]!)) {
        taken.add(i)
        while (taken.has(cursor)) cursor++
        return frames[i]
      }
    }
    return undefined
  }
  const sock: TestSocket = {
    ws,
    frames,
    next (match = () => true, timeoutMs = 5000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const f = find(match)
          if (f !== undefined) {
            waiters.delete(check)
            clearTimeout(timer)
            resolve(f)
          } else if (ws.readyState === WebSocket.CLOSED) {
            waiters.delete(check)
            clearTimeout(timer)
            reject(new Error(`socket closed while waiting; frames: ${JSON.stringify(frames).slice(0, 500)}`))
          }
        }
        const timer = setTimeout(() => {
          waiters.delete(check)
          reject(new Error(`no matching frame in ${timeoutMs} ms; frames: ${JSON.stringify(frames.slice(-10)).slice(0, 800)}`))
        }, timeoutMs)
        waiters.add(check)
        check()
      })
    },
    async none (match, ms = 300) {
      const from = frames.length
      await new Promise((r) => setTimeout(r, ms))
      const f = frames.slice(from).find(match)
      if (f !== undefined) throw new Error(`unexpected frame ${JSON.stringify(f)}`)
    },
    send: (frame) => ws.send(typeof frame === 'string' || Buffer.isBuffer(frame) ? frame : JSON.stringify(frame)),
    closed,
    async close () {
      if (ws.readyState === WebSocket.CLOSED) return
      ws.close()
      await closed
    }
  }
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(sock))
    ws.once('unexpected-response', (_req, res) => reject(Object.assign(new Error(`upgrade refused: ${res.statusCode}`), { statusCode: res.statusCode })))
    ws.once('error', reject)
  })
}

/** Connects and waits for the `ready` frame; the socket is added to `opened` (closed by the test file's afterAll). */
export async function connectReady (baseUrl: string, token: string, opened: TestSocket[]): Promise<TestSocket> {
  const s = await connect(baseUrl, token)
  opened.push(s)
  await s.next((f) => f.type === 'ready')
  return s
}

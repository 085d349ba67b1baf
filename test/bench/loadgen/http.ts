// A lean keep-alive HTTP client for the load generators (node:http; fetch
// costs the generator more CPU per request than the thing it measures).
import { Agent, request } from 'node:http'

export interface HttpResult {
  status: number
  body: string
  /** Seconds of the Retry-After header (NaN without one). */
  retryAfter: number
}

export class HttpClient {
  private agent: Agent
  private readonly host: string
  private readonly port: number
  private readonly maxSockets: number

  constructor (baseUrl: string, maxSockets: number) {
    const url = new URL(baseUrl)
    this.host = url.hostname
    this.port = Number(url.port)
    this.maxSockets = maxSockets
    this.agent = this.newAgent()
  }

  private newAgent (): Agent {
    return new Agent({ keepAlive: true, maxSockets: this.maxSockets, maxFreeSockets: this.maxSockets, scheduling: 'fifo' })
  }

  /** Cuts every connection, idle or not (requests in flight fail): the next requests connect afresh, as after a network change. */
  cut (): void {
    this.agent.destroy()
    this.agent = this.newAgent()
  }

  send (method: string, path: string, headers: Record<string, string>, payload?: string): Promise<HttpResult> {
    return new Promise((resolve, reject) => {
      const h: Record<string, string | number> = { ...headers }
      if (payload !== undefined) {
        h['content-type'] = 'application/json'
        h['content-length'] = Buffer.byteLength(payload)
      }
      const req = request({ host: this.host, port: this.port, path, method, agent: this.agent, headers: h }, (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString(), retryAfter: Number(res.headers['retry-after'] ?? NaN) }))
        res.on('error', reject)
      })
      req.on('error', reject)
      req.end(payload)
    })
  }

  post (path: string, token: string | undefined, body: unknown, extra: Record<string, string> = {}): Promise<HttpResult> {
    const headers: Record<string, string> = { ...extra }
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    return this.send('POST', path, headers, JSON.stringify(body))
  }

  get (path: string, token?: string): Promise<HttpResult> {
    return this.send('GET', path, token === undefined ? {} : { authorization: `Bearer ${token}` })
  }

  close (): void {
    this.agent.destroy()
  }
}

/** Runs `task` over items with at most `limit` in flight. */
export async function inParallel<T> (items: T[], limit: number, task: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0
  const runners = Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++
      await task(items[i]!, i)
    }
  })
  await Promise.all(runners)
}

// Load helpers for fault tests: posters that record what was acknowledged,
// and HTTP requests without keep-alive (each on its own connection, so a
// refused connection and an answered request are never confused).
import { request } from 'node:http'

export interface RawResponse { status: number, body: any }

export function postNoKeepAlive (baseUrl: string, path: string, token: string, payload: unknown): Promise<RawResponse> {
  const url = new URL(path, baseUrl)
  const data = JSON.stringify(payload)
  return new Promise((resolve, reject) => {
    const req = request({
      host: url.hostname,
      port: url.port,
      path: url.pathname,
      method: 'POST',
      agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data), authorization: `Bearer ${token}`, connection: 'close' }
    }, (res) => {
      let text = ''
      res.on('data', (c: Buffer) => { text += c.toString() })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text === '' ? null : JSON.parse(text) }))
      res.on('error', reject)
    })
    req.on('error', reject)
    req.end(data)
  })
}

export interface PostOutcome { clientMessageId: string, body: string, status?: number, message?: any, error?: string }

/** Posts from `senders` in parallel loops until stop() is called; returns every outcome. */
export function startPosting (baseUrl: string, conversationId: string, senders: Array<{ name: string, token: string }>) {
  let running = true
  const outcomes: PostOutcome[] = []
  const loops = senders.map(async (s) => {
    for (let i = 0; running; i++) {
      const outcome: PostOutcome = { clientMessageId: `${s.name}-${i}`, body: `${s.name} message ${i}` }
      outcomes.push(outcome)
      try {
        const res = await postNoKeepAlive(baseUrl, `/v1/conversations/${conversationId}/messages`, s.token, { body: outcome.body, clientMessageId: outcome.clientMessageId })
        outcome.status = res.status
        outcome.message = res.body
      } catch (err) {
        outcome.error = (err as NodeJS.ErrnoException).code ?? (err as Error).message
        await new Promise((r) => setTimeout(r, 20))
      }
    }
  })
  return {
    outcomes,
    acked: () => outcomes.filter((o) => o.status !== undefined && o.status >= 200 && o.status < 300),
    async stop () {
      running = false
      await Promise.all(loops)
      return outcomes
    }
  }
}

// The bare `ws` baseline of the fan-out scenarios: a plain node:http server
// with a `ws` WebSocketServer, no framework, no auth, no database. It accepts
// the same POST /v1/conversations/:id/messages as Switchboard (the sender in
// an `x-user` header), builds the same message.created frame, and writes it
// to every socket of every member, as a hand-written broadcast server would:
// JSON-encoded per socket ('each', the common loop), or once ('once').
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { WebSocketServer, type WebSocket } from 'ws'
import { serve } from '../harness/rpc.js'
import { readTopology } from '../harness/topology.js'

type Encode = 'each' | 'once'

function readBody (req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => resolve(Buffer.concat(chunks).toString()))
    req.on('error', reject)
  })
}

serve({
  async listen (p: { topologyFile?: string, encode?: Encode }) {
    const topology = p.topologyFile === undefined ? undefined : readTopology(p.topologyFile)
    const encode: Encode = p.encode ?? 'each'
    const members = new Map<string, number[]>()
    const seqs = new Map<string, number>()
    if (topology !== undefined) {
      members.set(topology.group.id, topology.group.members)
      for (const d of topology.directs) members.set(d.id, d.members)
    }
    const socketsOf = new Map<number, Set<WebSocket>>()

    const server = createServer((req: IncomingMessage, res: ServerResponse) => {
      const m = /^\/v1\/conversations\/([^/]+)\/messages$/.exec(req.url ?? '')
      if (req.method !== 'POST' || m === null || topology === undefined) {
        res.writeHead(404).end()
        return
      }
      readBody(req).then((text) => {
        const conversationId = m[1]!
        const to = members.get(conversationId)
        const sender = topology.users[Number(req.headers['x-user'])]
        const input = JSON.parse(text) as { body: string, clientMessageId?: string }
        if (to === undefined || sender === undefined) {
          res.writeHead(404).end()
          return
        }
        const seq = (seqs.get(conversationId) ?? 0) + 1
        seqs.set(conversationId, seq)
        const createdAt = new Date().toISOString()
        const message = {
          id: randomUUID(), conversationId, seq, senderId: sender.id, body: input.body.trim(), clientMessageId: input.clientMessageId ?? null,
          replyToId: null, createdAt, editedAt: null, deletedAt: null
        }
        const frame = { type: 'message.created', conversationId, seq, createdAt, data: message }
        const once = encode === 'once' ? JSON.stringify(frame) : ''
        for (const user of to) {
          const set = socketsOf.get(user)
          if (set === undefined) continue
          for (const ws of set) ws.send(encode === 'once' ? once : JSON.stringify(frame))
        }
        const out = JSON.stringify(message)
        res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(out) }).end(out)
      }).catch(() => res.writeHead(400).end())
    })
    server.keepAliveTimeout = 72_000

    const wss = new WebSocketServer({ server, perMessageDeflate: false, clientTracking: false })
    wss.on('connection', (ws, req) => {
      const user = Number(new URL(req.url ?? '/', 'http://x').searchParams.get('u'))
      let set = socketsOf.get(user)
      if (set === undefined) socketsOf.set(user, set = new Set())
      set.add(ws)
      ws.on('close', () => set.delete(ws))
      ws.on('error', () => {})
    })

    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
    return { port: (server.address() as { port: number }).port }
  }
})

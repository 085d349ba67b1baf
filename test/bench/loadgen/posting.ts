// Load generator of the posting scenario: closed loops, each posting over
// REST as its own user into its own direct conversation, counting the
// acknowledged (committed) posts and their latency. It knows several servers
// (Switchboard, the naive peer), each with its own senders, and drives the
// one `start` names.
import { serve } from '../harness/rpc.js'
import { HttpClient } from './http.js'
import { closedLoops } from './loops.js'

interface Sender { token: string, conversationId: string }
interface Target { http: HttpClient, senders: Sender[] }

const targets = new Map<string, Target>()
let current: Target | undefined
const BODY = 'a posting benchmark message of about sixty characters, padded'

const loops = closedLoops(async (loop, i) => {
  const { http, senders } = current!
  const s = senders[loop % senders.length]!
  const res = await http.post(`/v1/conversations/${s.conversationId}/messages`, s.token, { body: BODY, clientMessageId: `p${loop}-${i}-${Date.now()}` })
  return res.status === 201
})

serve({
  init (p: { targets: Record<string, { url: string, senders: Sender[] }>, maxSockets: number }) {
    for (const [name, t] of Object.entries(p.targets)) targets.set(name, { http: new HttpClient(t.url, p.maxSockets), senders: t.senders })
  },
  start (p: { concurrency: number, target: string }) {
    current = targets.get(p.target)
    if (current === undefined) throw new Error(`unknown target ${p.target}`)
    loops.start(p.concurrency)
  },
  peek: () => loops.peek(),
  mark: () => loops.mark(),
  stop: () => loops.stop()
})

// Load generator of the posting scenario: closed loops, each posting over
// REST as its own user into its own direct conversation, counting the
// acknowledged (committed) posts and their latency.
import { serve } from '../harness/rpc.js'
import { HttpClient } from './http.js'
import { closedLoops } from './loops.js'

interface Sender { token: string, conversationId: string }

let http: HttpClient | undefined
let senders: Sender[] = []
const BODY = 'a posting benchmark message of about sixty characters, padded'

const loops = closedLoops(async (loop, i) => {
  const s = senders[loop % senders.length]!
  const res = await http!.post(`/v1/conversations/${s.conversationId}/messages`, s.token, { body: BODY, clientMessageId: `p${loop}-${i}-${Date.now()}` })
  return res.status === 201
})

serve({
  init (p: { url: string, senders: Sender[], maxSockets: number }) {
    http = new HttpClient(p.url, p.maxSockets)
    senders = p.senders
  },
  start (p: { concurrency: number }) { loops.start(p.concurrency) },
  peek: () => loops.peek(),
  mark: () => loops.mark(),
  stop: () => loops.stop()
})

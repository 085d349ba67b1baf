// Load generator of the history scenario: one request at a time (latency,
// not throughput) for a fixed time against one page URL.
import { serve } from '../harness/rpc.js'
import { sleep } from '../harness/processes.js'
import { HttpClient } from './http.js'
import { closedLoops, type LoopMark } from './loops.js'

let http: HttpClient | undefined
let target = { path: '', token: '' }

const loops = closedLoops(async () => {
  const res = await http!.get(target.path, target.token)
  if (res.status !== 200) throw new Error(`GET ${target.path}: ${res.status} ${res.body.slice(0, 200)}`)
  return true
})

serve({
  init (p: { url: string }) { http = new HttpClient(p.url, 4) },
  async run (p: { path: string, token: string, durationMs: number, concurrency: number }): Promise<LoopMark> {
    target = { path: p.path, token: p.token }
    loops.mark()
    loops.start(p.concurrency)
    await sleep(p.durationMs)
    await loops.stop()
    return loops.mark()
  }
})

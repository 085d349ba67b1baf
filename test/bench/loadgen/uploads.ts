// Load generator of the attachments scenario's uploaders: each user uploads
// a file of `bytes` in a loop (create, PUT, complete) until stopped. It runs
// in a process of its own, so that the 50 uploading clients' work does not
// delay the orchestrator's event loop, which times post→push.
import { sleep } from '../harness/processes.js'
import { serve } from '../harness/rpc.js'
import { upload } from './upload-client.js'

let stopping = false
let loops: Array<Promise<void>> = []
let completed = 0
let failure: unknown

serve({
  /**
   * Starts one upload loop per token, the first uploads spread evenly over `spreadMs` (phones that start
   * uploading on their own, not in the same millisecond); resolves at once.
   */
  start (p: { url: string, tokens: string[], conversationId: string, bytes: number, spreadMs: number }) {
    stopping = false
    completed = 0
    failure = undefined
    const payload = Buffer.alloc(p.bytes, 0x62)
    loops = p.tokens.map(async (token, i) => {
      await sleep(i * p.spreadMs / p.tokens.length)
      while (!stopping && failure === undefined) {
        try {
          await upload(p.url, token, p.conversationId, p.bytes, payload, 'one.txt', 'text/plain')
          completed++
        } catch (err) {
          failure = err
        }
      }
    })
  },

  /** Stops the loops after their uploads in flight; the uploads completed since start. */
  async stop () {
    stopping = true
    await Promise.all(loops)
    if (failure !== undefined) throw failure
    return { completed }
  }
})

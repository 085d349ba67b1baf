// The raw-insert baseline of the posting scenario: single-row INSERTs of a
// message-sized row through `pg`, one pool connection per loop, default
// synchronous_commit (each INSERT is its own durable commit). The table has
// the shape of `messages`: uuid key, conversation, seq (unique per
// conversation), sender, body, timestamp.
import pg from 'pg'
import { newId } from '../../../src/domain/ids.js'
import { serve } from '../harness/rpc.js'
import { closedLoops } from '../loadgen/loops.js'

const BODY = 'a posting benchmark message of about sixty characters, padded'

let pool: pg.Pool | undefined
const conversations: string[] = []
const senders: string[] = []
const seqs: number[] = []

const loops = closedLoops(async (loop) => {
  const seq = ++seqs[loop]!
  await pool!.query(
    'INSERT INTO bench_raw_messages (id, conversation_id, seq, sender_id, body, created_at) VALUES ($1, $2, $3, $4, $5, now())',
    [newId(), conversations[loop], seq, senders[loop], BODY])
  return true
})

serve({
  async init (p: { databaseUrl: string, concurrency: number }) {
    pool = new pg.Pool({ connectionString: p.databaseUrl, max: p.concurrency })
    await pool.query(`CREATE TABLE IF NOT EXISTS bench_raw_messages (
      id uuid PRIMARY KEY, conversation_id uuid NOT NULL, seq int NOT NULL, sender_id uuid NOT NULL,
      body text NOT NULL, created_at timestamptz(3) NOT NULL, UNIQUE (conversation_id, seq))`)
    for (let i = 0; i < p.concurrency; i++) {
      conversations[i] = newId()
      senders[i] = newId()
      seqs[i] = 0
    }
    // Open every connection before measuring.
    await Promise.all(Array.from({ length: p.concurrency }, () => pool!.query('SELECT 1')))
  },
  start (p: { concurrency: number }) { loops.start(p.concurrency) },
  peek: () => loops.peek(),
  mark: () => loops.mark(),
  async stop () {
    await loops.stop()
  },
  async close () {
    await pool?.end()
  }
})

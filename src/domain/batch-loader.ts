// Group lookups that arrive together into one statement. A burst of upgrades
// (a reconnect storm: every session missing from the cache at once) would
// otherwise send one statement per request, and each costs the process far
// more CPU than the row it reads. Lookups asked in one turn of the event loop
// go together right after it (a lone request waits for no timer); those that
// arrive while the batches in flight are full wait for one of them to finish
// and go together in the next, as the post batcher does with posts.
// Every lookup is sent after it was asked, so an answer is never older than
// the question (what the revocation fence of the session cache relies on).

export interface BatchLoaderOptions {
  /** Keys per statement. */
  maxBatch?: number
  /** Statements in flight at once. */
  maxInFlight?: number
}

interface Waiting<K, V> { key: K, resolve (v: V): void, reject (err: unknown): void }

/**
 * A function that loads one key, sending the keys asked meanwhile together
 * through `loadMany` (which answers with a value for every key, in order).
 */
export function createBatchLoader<K, V> (loadMany: (keys: K[]) => Promise<V[]>, opts: BatchLoaderOptions = {}): (key: K) => Promise<V> {
  const maxBatch = opts.maxBatch ?? 500
  const maxInFlight = opts.maxInFlight ?? 2
  const queue: Array<Waiting<K, V>> = []
  let inFlight = 0
  let scheduled = false

  async function run (batch: Array<Waiting<K, V>>): Promise<void> {
    try {
      const keys = [...new Set(batch.map((w) => w.key))]
      const values = await loadMany(keys)
      const byKey = new Map(keys.map((k, i) => [k, values[i]!]))
      for (const w of batch) w.resolve(byKey.get(w.key)!)
    } catch (err) {
      for (const w of batch) w.reject(err)
    }
  }

  function pump (): void {
    scheduled = false
    while (inFlight < maxInFlight && queue.length > 0) {
      inFlight++
      void run(queue.splice(0, maxBatch)).finally(() => {
        inFlight--
        pump()
      })
    }
  }

  return (key: K) => new Promise<V>((resolve, reject) => {
    queue.push({ key, resolve, reject })
    if (!scheduled && inFlight < maxInFlight) {
      scheduled = true
      setImmediate(pump)
    }
  })
}

// At most `limit` tasks at a time per key (one by default), the others in
// arrival order, each waiting a bounded time for its turn. A task that could
// not start in time is never run (its caller has its refusal), and the line
// goes on behind it. A key leaves the map when its last task ends: nothing
// stays behind for keys no longer in use.

export type KeyedQueue = <T>(key: string, maxWaitMs: number, task: () => Promise<T>, onTimeout: () => Error) => Promise<T>

interface Line {
  /** Tasks of the key running now (at most the limit). */
  running: number
  /** Starts of the tasks waiting for a turn, in arrival order. */
  waiting: Array<() => void>
}

export function createKeyedQueue (limit = 1): KeyedQueue {
  const lines = new Map<string, Line>()
  return <T>(key: string, maxWaitMs: number, task: () => Promise<T>, onTimeout: () => Error) => {
    let line = lines.get(key)
    if (line === undefined) {
      line = { running: 0, waiting: [] }
      lines.set(key, line)
    }
    const l = line
    // A task that ends hands its turn to the next one waiting, if any.
    const leave = () => {
      const next = l.waiting.shift()
      if (next !== undefined) next()
      else if (--l.running === 0) lines.delete(key)
    }
    if (l.running < limit) {
      l.running++
      return run(task, leave)
    }
    return new Promise<T>((resolve, reject) => {
      const start = () => {
        clearTimeout(timer)
        run(task, leave).then(resolve, reject)
      }
      const timer = setTimeout(() => {
        l.waiting.splice(l.waiting.indexOf(start), 1)
        reject(onTimeout())
      }, maxWaitMs)
      l.waiting.push(start)
    })
  }
}

async function run<T> (task: () => Promise<T>, leave: () => void): Promise<T> {
  try {
    return await task()
  } finally {
    leave()
  }
}

/** A task whose turn did not come in time: to the API, a connection that did not come (P2024, 503 UNAVAILABLE). */
export class TurnTimeout extends Error {
  readonly code = 'P2024'
}

// One queue per owner (a pool: one per app) and purpose.
const queues = new WeakMap<object, Map<string, KeyedQueue>>()

/** The queue named `name` of `owner` (made on first use, with `limit` tasks at a time per key). */
export function queueOf (owner: object, name: string, limit = 1): KeyedQueue {
  let named = queues.get(owner)
  if (named === undefined) queues.set(owner, named = new Map())
  let queue = named.get(name)
  if (queue === undefined) named.set(name, queue = createKeyedQueue(limit))
  return queue
}

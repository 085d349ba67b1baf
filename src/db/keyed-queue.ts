// One task at a time per key, in arrival order, each waiting a bounded time
// for its turn. A task that could not start in time is never run (its caller
// has its refusal), and the line goes on behind it. A key leaves the map when
// its last task ends: nothing stays behind for keys no longer in use.

export type KeyedQueue = <T>(key: string, maxWaitMs: number, task: () => Promise<T>, onTimeout: () => Error) => Promise<T>

export function createKeyedQueue (): KeyedQueue {
  // The end of each key's line: settles when its last task (run or given up) is out of the way.
  const tails = new Map<string, Promise<void>>()
  return <T>(key: string, maxWaitMs: number, task: () => Promise<T>, onTimeout: () => Error) => {
    const before = tails.get(key)
    let leave!: () => void
    const left = new Promise<void>((resolve) => { leave = resolve })
    const tail = before === undefined ? left : before.then(() => left)
    tails.set(key, tail)
    void tail.then(() => { if (tails.get(key) === tail) tails.delete(key) })
    if (before === undefined) return run(task, leave)
    return new Promise<T>((resolve, reject) => {
      let late = false
      const timer = setTimeout(() => {
        late = true
        reject(onTimeout())
      }, maxWaitMs)
      void before.then(() => {
        if (late) return leave()
        clearTimeout(timer)
        run(task, leave).then(resolve, reject)
      })
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

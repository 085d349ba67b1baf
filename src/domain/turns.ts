// Work that takes turns by owner: at most `concurrency` tasks run at once, and
// each owner has at most one task in the shared line; its next one joins the
// line only when the one before has finished. Ten tasks of one user then wait
// behind each other, not ahead of everyone else: another user's task waits at
// most for the ones running and one per other owner already in line.
import pLimit, { type LimitFunction } from 'p-limit'

export type Turns = <T>(owner: string, task: () => Promise<T>) => Promise<T>

export function createTurns (concurrency: number): Turns {
  const line = pLimit(concurrency)
  // Owners with a task running or waiting; an owner leaves when its last one ends (no state left behind).
  const owners = new Map<string, { one: LimitFunction, tasks: number }>()
  return (owner, task) => {
    let own = owners.get(owner)
    if (own === undefined) {
      own = { one: pLimit(1), tasks: 0 }
      owners.set(owner, own)
    }
    const entry = own
    entry.tasks++
    return entry.one(() => line(task)).finally(() => {
      if (--entry.tasks === 0) owners.delete(owner)
    })
  }
}

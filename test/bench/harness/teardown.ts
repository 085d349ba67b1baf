// The end of a run, whichever way it ends (success, failure, timeout,
// SIGINT/SIGTERM): no new child process may start, every tracked one is
// killed by pid, then what the run holds (the database, the temp folder) is
// released, newest first. Every caller gets the same single teardown, so an
// interrupt that races the run's own failure path cannot exit half-way.
import { killAll, refuseSpawning } from './processes.js'

const releases: Array<{ what: string, release: () => Promise<void> }> = []
let done: Promise<void> | undefined

/** Registers something the run holds, to be released at teardown. */
export function atTeardown (what: string, release: () => Promise<void>): void {
  releases.push({ what, release })
}

export function teardown (log: (line: string) => void = () => {}): Promise<void> {
  done ??= (async () => {
    refuseSpawning()
    await killAll()
    for (const { what, release } of releases.reverse()) {
      try {
        await release()
      } catch (err) {
        log(`teardown: could not release ${what}: ${err instanceof Error ? err.message : String(err)}`)
      }
    }
  })()
  return done
}

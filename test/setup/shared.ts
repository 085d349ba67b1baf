// The projects of .config/vitest.config.ts each run the global setups, in one
// main process: they share one of each thing set up (one PostgreSQL, one
// Redis, one build), started by the first project and stopped after the last.
import type { ProvidedContext } from 'vitest'
import type { TestProject } from 'vitest/node'

type Provided = Partial<ProvidedContext>
interface Setup { started: Promise<{ provide: Provided, stop: () => Promise<void> }>, users: number }

const registry: Map<string, Setup> = ((globalThis as { __switchboardSetups?: Map<string, Setup> }).__switchboardSetups ??= new Map())

/** Runs `start` once for all projects, provides its values to `project`, and returns the teardown of this project. */
export async function sharedSetup (project: TestProject, key: string, start: () => Promise<{ provide: Provided, stop: () => Promise<void> }>): Promise<() => Promise<void>> {
  let setup = registry.get(key)
  if (setup === undefined) {
    setup = { started: start(), users: 0 }
    registry.set(key, setup)
  }
  const mine = setup
  mine.users++
  const { provide, stop } = await mine.started
  for (const [name, value] of Object.entries(provide)) project.provide(name as keyof ProvidedContext, value as never)
  return async () => {
    if (--mine.users > 0) return
    registry.delete(key)
    await stop()
  }
}

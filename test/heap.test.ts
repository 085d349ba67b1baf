// src/heap.ts: the process asks V8 for a young-generation collection after
// every YOUNG_COLLECTION_BYTES of upload bytes it takes in, so that the
// socket buffers of a large upload are freed as it streams (the server's
// memory does not grow by tens of megabytes during a 100 MB upload).
import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks'
import { describe, expect, it } from 'vitest'
import { socketBytesReceived, YOUNG_COLLECTION_BYTES } from '../src/heap.js'

/** Young-generation collections seen while `during` runs and a moment after. */
async function minorCollections (during: () => void): Promise<number> {
  let minor = 0
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      if (((entry as PerformanceEntry & { detail?: { kind?: number } }).detail)?.kind === constants.NODE_PERFORMANCE_GC_MINOR) minor++
    }
  })
  observer.observe({ entryTypes: ['gc'] })
  during()
  // The collection is asked for as a task of its own, then reported.
  await new Promise((resolve) => setTimeout(resolve, 200))
  observer.disconnect()
  return minor
}

describe('young collections for socket buffers', () => {
  it('asks for one after every YOUNG_COLLECTION_BYTES received, not before', async () => {
    const chunk = 64 * 1024
    const chunks = YOUNG_COLLECTION_BYTES / chunk
    // Start from a clean count: whatever was counted before is flushed by one full round.
    for (let i = 0; i < chunks; i++) socketBytesReceived(chunk)
    await new Promise((resolve) => setTimeout(resolve, 200))

    // Nearly a round: none asked for (one of the test process's own at most).
    expect(await minorCollections(() => { for (let i = 0; i < chunks - 1; i++) socketBytesReceived(chunk) })).toBeLessThanOrEqual(1)
    // The round's last chunk, then three rounds more: one each.
    expect(await minorCollections(() => { for (let i = 0; i < 3 * chunks + 1; i++) socketBytesReceived(chunk) })).toBeGreaterThanOrEqual(4)
  })
})

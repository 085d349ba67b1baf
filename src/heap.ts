// Two settings of V8's garbage collector for a server process (README
// "Attachments" and "Against the targets", issue 15).
//
// 1. The old generation's growth between full collections. V8 sizes the next
//    limit from how fast its collector is against the program's allocation;
//    a server whose old generation is steady gets about 1.1× its live size,
//    and once that slack is smaller than the young generation, V8 starts
//    marking again right after each full collection. A stream of socket
//    reads (uploads) then drove a full collection every second or two that
//    freed nothing and took 30–50 ms of the event loop in steps of up to
//    16 ms: the posts' p99. 2× the live size leaves room for the young
//    generation and stays within the range V8 itself uses under load (1.1×
//    to 4×). A `--heap-growing-percent` given to node wins.
// 2. Young collections for socket buffers. Each socket read comes in a fresh
//    buffer that only a young-generation collection frees, and V8 starts one
//    for their sake only once about 32 MB of them are held (twice its
//    default semi-space); the little JavaScript an upload allocates does not
//    fill the young generation sooner. A 100 MB upload held 20–30 MB of dead
//    buffers at a time, and the process kept that memory. The local driver
//    asks for a young collection every `YOUNG_COLLECTION_BYTES` it takes in
//    (a scavenge of mostly dead objects: about a millisecond).
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'

export const HEAP_GROWING_PERCENT = 100
export const YOUNG_COLLECTION_BYTES = 16 * 1024 * 1024

const given = (flag: string) => process.execArgv.some((a) => a.replaceAll('_', '-').startsWith(flag))

/** Sets the old generation's growth factor (once, at start-up). */
export function tuneHeap (): void {
  if (!given('--heap-growing-percent')) setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}

type Collect = (options: { type: 'minor', execution: 'async' }) => void
let collect: Collect | null | undefined

/** V8's gc(), without putting it on the global object (null where it cannot be had). */
function collector (): Collect | null {
  if (collect !== undefined) return collect
  try {
    if (!given('--expose-gc')) setFlagsFromString('--expose-gc')
    const gc = runInNewContext('gc') as unknown
    collect = typeof gc === 'function' ? gc as Collect : null
  } catch {
    collect = null
  }
  return collect
}

let received = 0

/** Counts bytes taken in from sockets; every YOUNG_COLLECTION_BYTES, a young collection is asked for. */
export function socketBytesReceived (bytes: number): void {
  received += bytes
  if (received < YOUNG_COLLECTION_BYTES) return
  received = 0
  collector()?.({ type: 'minor', execution: 'async' })
}

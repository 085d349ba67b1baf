// The old generation's growth between full collections (V8), set before the
// server allocates. V8 sizes the next limit from how fast its collector is
// against the program's allocation; a server whose old generation is steady
// gets about 1.1× its live size, and once that slack is smaller than the
// young generation, V8 starts marking again right after each full collection.
// A stream of socket reads (uploads, many pushes) then drives a full
// collection every second or two that frees nothing and takes 30–50 ms of the
// event loop in steps of up to 16 ms: the posts' p99 (README "Against the
// targets", issue 15). 2× the live size leaves room for the young generation
// and keeps the heap within a factor V8 itself uses under load (its range is
// 1.1× to 4×). A `--heap-growing-percent` given to node wins.
import { setFlagsFromString } from 'node:v8'

export const HEAP_GROWING_PERCENT = 100

if (!process.execArgv.some((a) => a.startsWith('--heap-growing-percent') || a.startsWith('--heap_growing_percent'))) {
  setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`)
}

// Prints the functions with the most self time in a V8 .cpuprofile (as
// written by node --cpu-prof), grouped by function and file:line, so that a
// profile of the server under load can be read without a browser.
//   npx tsx test/bench/profile-top.ts FILE.cpuprofile [N] [--samples] [--from S] [--to S] [--timeline S]
// --samples counts samples instead of summing their time: on a busy machine a
// process descheduled inside a system call wakes with its whole wait charged
// to that call's sample, while the count stays close to CPU time.
// --from / --to keep the samples between those seconds after the profile's
// start (one phase of a bench run, such as one storm); --timeline S prints,
// instead of functions, the time sampled outside (idle) per S seconds, which
// tells where the phases are.
import { readFileSync } from 'node:fs'
import { parseArgs } from 'node:util'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number, children?: number[] }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

const { values: flags, positionals } = parseArgs({
  allowPositionals: true,
  options: { samples: { type: 'boolean' }, from: { type: 'string' }, to: { type: 'string' }, timeline: { type: 'string' } }
})
const [file, count] = positionals
if (file === undefined) {
  process.stderr.write('usage: npx tsx test/bench/profile-top.ts FILE.cpuprofile [N] [--samples] [--from S] [--to S] [--timeline S]\n')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const fromUs = Number(flags.from ?? 0) * 1e6
const toUs = flags.to === undefined ? Infinity : Number(flags.to) * 1e6

// Each sample with its time since the profile's start, and its weight (µs; 1,000 per sample with --samples).
const samples: Array<{ id: number, atUs: number, us: number }> = []
let at = 0
profile.samples.forEach((id, i) => {
  const delta = profile.timeDeltas[i] ?? 0
  at += delta
  if (at >= fromUs && at < toUs) samples.push({ id, atUs: at, us: flags.samples === true ? 1000 : delta })
})

if (flags.timeline !== undefined) {
  const bucketUs = Number(flags.timeline) * 1e6
  const busy = new Map<number, number>()
  for (const s of samples) {
    if (byId.get(s.id)!.callFrame.functionName === '(idle)') continue
    const bucket = Math.floor(s.atUs / bucketUs)
    busy.set(bucket, (busy.get(bucket) ?? 0) + s.us)
  }
  const last = Math.max(0, ...busy.keys())
  for (let b = Math.floor(fromUs / bucketUs); b <= last; b++) {
    process.stdout.write(`${(b * bucketUs / 1e6).toFixed(0).padStart(6)} s  ${((busy.get(b) ?? 0) / 1000).toFixed(0).padStart(7)} ms busy\n`)
  }
  process.exit(0)
}

const self = new Map<number, number>()
for (const s of samples) self.set(s.id, (self.get(s.id) ?? 0) + s.us)
const total = [...self.values()].reduce((a, b) => a + b, 0)
const grouped = new Map<string, number>()
for (const [id, us] of self) {
  const f = byId.get(id)!.callFrame
  const where = f.url === '' ? '' : ` ${f.url.replace(/^file:\/\/.*?\/node_modules\//, '~/').replace(/^file:\/\/.*?\/dist\//, 'dist/')}:${f.lineNumber + 1}`
  const key = `${f.functionName || '(anonymous)'}${where}`
  grouped.set(key, (grouped.get(key) ?? 0) + us)
}
const top = [...grouped.entries()].sort((a, b) => b[1] - a[1]).slice(0, Number(count ?? 30))
process.stdout.write(`${file}: ${(total / 1e6).toFixed(2)} s sampled\n`)
for (const [key, us] of top) process.stdout.write(`${(100 * us / total).toFixed(1).padStart(5)}%  ${(us / 1000).toFixed(0).padStart(7)} ms  ${key}\n`)

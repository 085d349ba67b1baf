// Prints the functions with the most self time in a V8 .cpuprofile (as
// written by node --cpu-prof), grouped by function and file:line, so that a
// profile of the server under load can be read without a browser.
//   npx tsx test/bench/profile-top.ts FILE.cpuprofile [N] [--samples]
// --samples counts samples instead of summing their time: on a busy machine a
// process descheduled inside a system call wakes with its whole wait charged
// to that call's sample, while the count stays close to CPU time.
import { readFileSync } from 'node:fs'

interface Node { id: number, callFrame: { functionName: string, url: string, lineNumber: number }, hitCount?: number, children?: number[] }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[], startTime: number, endTime: number }

const bySamples = process.argv.includes('--samples')
const [file, count] = process.argv.slice(2).filter((a) => a !== '--samples')
if (file === undefined) {
  process.stderr.write('usage: npx tsx test/bench/profile-top.ts FILE.cpuprofile [N] [--samples]\n')
  process.exit(2)
}
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile
const byId = new Map(profile.nodes.map((n) => [n.id, n]))
const self = new Map<number, number>()
// A sample counted as 1,000 µs (the default sampling interval) with --samples.
profile.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (bySamples ? 1000 : profile.timeDeltas[i] ?? 0)))

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

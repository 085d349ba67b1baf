// `npm run bench`: starts everything it needs (embedded PostgreSQL, the
// built server in production mode, the baselines, Redis for the Redis
// broker), drives load from separate processes on loopback, prints one table
// and writes the results JSON (test/bench/results/, git-ignored). Whichever
// way it ends (done, failed, SIGINT/SIGTERM) every child process is stopped
// and the temp folder removed before it exits.
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, relative } from 'node:path'
import { runBench } from './bench.js'
import { killAllSync, projectRoot } from './harness/processes.js'
import { teardown } from './harness/teardown.js'
import { parseArgs, USAGE } from './options.js'
import { report } from './report.js'

/** The latest progress line: an interrupt names the phase it stopped. */
let phase = 'starting'
const log = (line: string) => {
  if (!line.startsWith('teardown')) phase = line
  process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${line}\n`)
}

async function main (): Promise<number> {
  const argv = process.argv.slice(2)
  const o = parseArgs(argv)
  if (o === 'help') {
    process.stdout.write(`${USAGE}\n`)
    return 0
  }
  let interrupted = false
  for (const signal of ['SIGINT', 'SIGTERM'] as const) {
    process.on(signal, () => {
      if (interrupted) return
      interrupted = true
      const during = phase
      log(`${signal} during "${during}": stopping every process of the run and removing its temp folder`)
      void teardown(log).finally(() => {
        log(`stopped by ${signal} during "${during}"`)
        process.exit(130)
      })
    })
  }
  process.on('exit', killAllSync)

  const command = `npm run bench${argv.length > 0 ? ` -- ${argv.join(' ')}` : ''}`
  const results = await runBench(o, log, command)
  const { table, sections, targets, notes, machine, warnings, unstable } = report(results)
  const out = o.out ?? join(projectRoot, 'test', 'bench', 'results', `bench-${results.meta.startedAt.replace(/[:.]/g, '-')}.json`)
  await mkdir(dirname(out), { recursive: true })
  await writeFile(out, `${JSON.stringify({ ...results, table, sections, targets, notes, machine, warnings, unstable }, null, 2)}\n`)

  const m = results.meta
  process.stdout.write([
    '',
    `Switchboard benchmark${m.preset === 'full' ? '' : ` (--${m.preset})`}: ${m.machine.cores} × ${m.machine.cpuModel}, ${m.machine.memoryGiB} GiB, Node ${m.node}, ${m.postgres}`,
    `load average before/after: ${m.machine.loadAverageBefore.map((x) => x.toFixed(2)).join(' ')} / ${m.machine.loadAverageAfter.map((x) => x.toFixed(2)).join(' ')}; ` +
      `each figure the median of ${o.reps} repetitions, every repetition in brackets; a target is met when every repetition meets it; ${m.seconds.toFixed(0)} s`,
    ...(warnings.length === 0 ? [] : ['', ...warnings.map((w) => `**${w}**`)]),
    '',
    table,
    '',
    ...sections.flatMap((section) => [section, '']),
    ...notes.map((n) => `- ${n}`),
    ...machine.map((n) => `- ${n}`),
    '',
    `targets met: ${targets.filter((t) => t.met).length} of ${targets.length}` +
      (unstable.length === 0 ? '' : `; ${unstable.length} figure${unstable.length === 1 ? '' : 's'} unstable`),
    `results: ${relative(process.cwd(), out) || out}`,
    ''
  ].join('\n'))
  return 0
}

main().then((code) => process.exit(code), async (err: unknown) => {
  log(`failed: ${err instanceof Error ? err.stack ?? err.message : String(err)}`)
  await teardown(log)
  process.exit(1)
})

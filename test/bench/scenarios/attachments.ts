// Scenario 7, attachments (issue 15), on the local storage driver:
// a. one large upload (100 MB in the full run) streamed through the server:
//    its RSS growth, sampled from /proc while the bytes flow (target ≤ 20 MB);
// b. the thumbnail (and placeholder) of a 12-megapixel JPEG, as completing an
//    upload makes it (domain/media.ts), timed here in this process (p99 ≤ 500 ms);
// c. post→push latency at a steady post rate, alone and while 50 clients
//    upload 1 MB files in a loop (create, PUT, complete): the uploads must not
//    raise it above its target (p99 ≤ 25 ms, the post→push target of scenario 1).
//    The uploaders run in a load-generator process of their own: this
//    process, which times the posts, does nothing else meanwhile.
import { readFileSync } from 'node:fs'
import sharp from 'sharp'
import WebSocket from 'ws'
import { thumbnailOf } from '../../../src/domain/media.js'
import type { BenchContext } from '../harness/context.js'
import { sleep } from '../harness/processes.js'
import { startWorker, type Worker } from '../harness/rpc.js'
import { Seeder } from '../harness/seed.js'
import { startSwitchboard, type ServerUnderTest } from '../harness/server.js'
import { label, samples, scrapeText, sum } from '../harness/metrics.js'
import { figure, medianLatency, summarize, type Figure, type LatencyFigure } from '../harness/stats.js'
import { textStream, upload } from '../loadgen/upload-client.js'
import type { BenchOptions } from '../options.js'

const UPLOADERS = new URL('../loadgen/uploads.ts', import.meta.url)
/**
 * The uploaders' first uploads start spread over this time, and a window opens once all run: fifty clients whose
 * first requests come in the same millisecond are the load generator's start, not fifty phones uploading.
 */
const UPLOADERS_SPREAD_MS = 1000
/** The slowest posts of each post→push window, noted with when they were sent. */
const SLOWEST_NOTED = 5
/** One post of a post→push window: when it was sent, and how long its answer and its push took (ms). */
interface TimedPost { sentAt: number, answerMs?: number, pushMs?: number }

export interface AttachmentsResult {
  largeUploadBytes: number
  /** Server RSS growth during the large upload, MB (peak minus before), per repetition. */
  rssGrowthMb: Figure
  /** Per repetition, where the server's memory grew (after the upload, against before it): RSS, V8's spaces, the mappings. */
  memory: string[]
  uploadSeconds: Figure
  thumbnail: { megapixels: number, latencyMs: LatencyFigure }
  postToPush: {
    rate: number, uploaders: number, uploadBytes: number, alone: LatencyFigure, duringUploads: LatencyFigure, uploadsCompleted: number
    /** Per window, its slowest posts: when each was sent in the window (s), its post→push and its answer (ms); absent in results written before it. */
    slowest?: string[]
  }
}

/** A field of /proc/PID/status given in kB (VmRSS, RssAnon, ...). */
const statusKiB = (pid: number, field: string) => Number(new RegExp(`${field}:\\s+(\\d+)`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN)
const rssKiB = (pid: number) => statusKiB(pid, 'VmRSS')
/** Where a process's memory is (MB): RSS anonymous and file-backed, V8's spaces and external memory (from /metrics); and its young and full collections so far. */
async function memoryOf (pid: number, url: string): Promise<Record<string, number>> {
  const text = await scrapeText(url)
  const out: Record<string, number> = { rssAnonMb: statusKiB(pid, 'RssAnon') / 1024, rssFileMb: statusKiB(pid, 'RssFile') / 1024 }
  for (const x of samples(text, 'nodejs_heap_space_size_total_bytes')) out[label(x.labels, 'space')] = x.value / 1048576
  for (const name of ['external_memory_bytes', 'heap_size_used_bytes']) out[name] = sum(text, `nodejs_${name}`) / 1048576
  for (const x of samples(text, 'nodejs_gc_duration_seconds_count')) out[`gc_${label(x.labels, 'kind')}`] = x.value
  return out
}
/** RSS (KiB) of each mapping of a process, from /proc/PID/smaps. */
function smaps (pid: number): Map<string, number> {
  const out = new Map<string, number>()
  let key = ''
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+-[0-9a-f]+) \S+ \S+ \S+ \S+\s*(.*)$/.exec(line)
    // A mapping by its start and name: the brk heap keeps its start as it grows.
    if (head !== null) { key = `${head[2] === '' ? 'anonymous' : head[2]!} at ${head[1]!.split('-')[0]!}`; continue }
    const rss = /^Rss:\s+(\d+) kB/.exec(line)
    if (rss !== null) out.set(key, Number(rss[1]))
  }
  return out
}
/** The mappings whose RSS changed by half a MB or more (a new one counts whole). */
const smapsDelta = (a: Map<string, number>, b: Map<string, number>) => [...b].map(([k, v]) => [k, v - (a.get(k) ?? 0)] as const)
  .filter(([, d]) => Math.abs(d) >= 512).map(([k, d]) => `${k} ${(d / 1024).toFixed(1)}`).join(', ')
/** What changed between two readings of memoryOf. */
const memoryDelta = (a: Record<string, number>, b: Record<string, number>) => Object.keys(b).map((k) => `${k} ${(b[k]! - (a[k] ?? 0)).toFixed(1)}`).filter((s) => !s.endsWith(' 0.0') && !s.endsWith(' -0.0')).join(', ')

export async function runAttachments (ctx: BenchContext, o: BenchOptions, log: (line: string) => void): Promise<AttachmentsResult> {
  const pick = <T>(full: T, quick: T, smoke: T): T => o.preset === 'full' ? full : o.preset === 'quick' ? quick : smoke
  const largeBytes = pick(100, 50, 10) * 1024 * 1024
  const thumbnails = pick(30, 10, 3)
  const windowMs = pick(5_000, 1_500, 500)
  const rate = pick(100, 50, 20)
  const uploaders = pick(50, 50, 5)
  const uploadBytes = 1024 * 1024

  const databaseUrl = await ctx.createDatabase('bench_attachments')
  const seeder = new Seeder(databaseUrl, ctx.jwtSecret)
  let users, group
  try {
    users = await seeder.users(2 + uploaders, 'a')
    group = await seeder.group(users, users.map((_, i) => i), 'attachments')
  } finally {
    await seeder.close()
  }
  const [sender, receiver] = [users[0]!, users[1]!]

  // b. Thumbnails, in this process, before the server runs.
  const jpeg = await sharp({ create: { width: 4000, height: 3000, channels: 3, background: { r: 128, g: 128, b: 128 }, noise: { type: 'gaussian', mean: 128, sigma: 40 } } }).jpeg({ quality: 90 }).toBuffer()
  await thumbnailOf(jpeg, 320)
  const thumbReps = []
  for (let rep = 0; rep < o.reps; rep++) {
    log(`attachments: thumbnails of a 12-megapixel JPEG, repetition ${rep + 1}/${o.reps}`)
    const watch = await ctx.machine.open({ phase: 'thumbnail 12 MP', rep: rep + 1 })
    const times: number[] = []
    for (let i = 0; i < thumbnails; i++) {
      const t = performance.now()
      await thumbnailOf(jpeg, 320)
      times.push(performance.now() - t)
    }
    await watch.end()
    thumbReps.push(summarize(times))
  }

  let server: ServerUnderTest | undefined
  let uploadersLoadgen: Worker | undefined
  try {
    server = await startSwitchboard(ctx, {
      databaseUrl,
      env: {
        STORAGE_DRIVER: 'local',
        UPLOAD_MAX_FILE_BYTES: String(largeBytes),
        UPLOAD_QUOTA_BYTES: String(1e12),
        UPLOAD_RATE_LIMIT_PER_MINUTE: '100000',
        HTTP_REQUEST_TIMEOUT_MS: '600000'
      }
    })
    const url = server.url

    // a. The large upload, streamed; RSS sampled every 20 ms.
    const growth: number[] = []
    const seconds: number[] = []
    const memory: string[] = []
    await upload(url, sender.token, group.id, 1 << 20, textStream(1 << 20), 'warm.txt', 'text/plain')
    for (let rep = 0; rep < o.reps; rep++) {
      log(`attachments: ${largeBytes / 1048576} MB upload, repetition ${rep + 1}/${o.reps}`)
      await sleep(200)
      const before = rssKiB(server.pid)
      const memBefore = await memoryOf(server.pid, url)
      const mapsBefore = smaps(server.pid)
      let peak = before
      const sampler = setInterval(() => { peak = Math.max(peak, rssKiB(server!.pid)) }, 20)
      const watch = await ctx.machine.open({ phase: 'large upload', rep: rep + 1 })
      const t = performance.now()
      try {
        await upload(url, sender.token, group.id, largeBytes, textStream(largeBytes), 'large.txt', 'text/plain')
      } finally {
        clearInterval(sampler)
      }
      seconds.push((performance.now() - t) / 1000)
      await watch.end()
      growth.push((peak - before) / 1024)
      memory.push(`repetition ${rep + 1}: ${memoryDelta(memBefore, await memoryOf(server.pid, url))}; mappings grown (MB): ${smapsDelta(mapsBefore, smaps(server.pid)) || 'none'}`)
      log(`attachments: ${memory[memory.length - 1]!}`)
    }

    // c. Post→push latency: one receiver; the sender posts at `rate`.
    const ws = new WebSocket(`${url.replace('http', 'ws')}/v1/ws`, { headers: { authorization: `Bearer ${receiver.token}` } })
    // Each post of the window: when it was sent, how long its answer and its push took.
    const posts = new Map<string, TimedPost>()
    ws.on('message', (data) => {
      const f = JSON.parse(String(data)) as { type: string, data?: { body?: string } }
      const post = f.type === 'message.created' ? posts.get(f.data?.body ?? '') : undefined
      if (post !== undefined) post.pushMs = performance.now() - post.sentAt
    })
    await new Promise((resolve, reject) => { ws.once('open', resolve); ws.once('error', reject) })
    let n = 0
    const slowest: string[] = []
    const measure = async (name?: string): Promise<ReturnType<typeof summarize>> => {
      posts.clear()
      const start = performance.now()
      const end = Date.now() + windowMs
      const answers: Array<Promise<unknown>> = []
      while (Date.now() < end) {
        const body = `p${n++}`
        const post: TimedPost = { sentAt: performance.now() }
        posts.set(body, post)
        answers.push(fetch(`${url}/v1/conversations/${group.id}/messages`, {
          method: 'POST', headers: { authorization: `Bearer ${sender.token}`, 'content-type': 'application/json' }, body: JSON.stringify({ body })
        }).then((r) => r.text()).then(() => { post.answerMs = performance.now() - post.sentAt }))
        await sleep(1000 / rate)
      }
      await Promise.all(answers)
      await sleep(300)
      const pushed = [...posts.values()].filter((p) => p.pushMs !== undefined)
      if (name !== undefined) {
        // A stall shows as posts sent one after another whose times fall by the interval between them.
        const worst = [...pushed].sort((a, b) => b.pushMs! - a.pushMs!).slice(0, SLOWEST_NOTED).sort((a, b) => a.sentAt - b.sentAt)
        slowest.push(`${name}: ${worst.map((p) => `+${((p.sentAt - start) / 1000).toFixed(2)} s ${p.pushMs!.toFixed(1)} (answer ${p.answerMs?.toFixed(1) ?? '-'})`).join(', ')}`)
      }
      return summarize(pushed.map((p) => p.pushMs!))
    }
    await measure() // warm-up
    const alone = []
    const during = []
    let completed = 0
    uploadersLoadgen = startWorker(UPLOADERS)
    const uploadersStart = { url, tokens: users.slice(2).map((u) => u.token), conversationId: group.id, bytes: uploadBytes, spreadMs: UPLOADERS_SPREAD_MS }
    // Warm-up of the uploaders, as of the posts: the load generator's first
    // requests (its connections, its code compiled) are not the server's cost.
    await uploadersLoadgen.call('start', uploadersStart)
    await sleep(windowMs / 2)
    await uploadersLoadgen.call('stop')
    for (let rep = 0; rep < o.reps; rep++) {
      log(`attachments: post→push alone, repetition ${rep + 1}/${o.reps}`)
      let watch = await ctx.machine.open({ phase: 'post→push alone', rep: rep + 1 })
      alone.push(await measure(`alone ${rep + 1}`))
      await watch.end()
      log(`attachments: post→push with ${uploaders} uploaders of 1 MB, repetition ${rep + 1}/${o.reps}`)
      await uploadersLoadgen.call('start', uploadersStart)
      await sleep(UPLOADERS_SPREAD_MS + 300)
      watch = await ctx.machine.open({ phase: `post→push with ${uploaders} uploaders`, rep: rep + 1 })
      during.push(await measure(`uploads ${rep + 1}`))
      await watch.end()
      completed += (await uploadersLoadgen.call<{ completed: number }>('stop')).completed
    }
    ws.close()
    return {
      largeUploadBytes: largeBytes,
      rssGrowthMb: figure(growth),
      memory,
      uploadSeconds: figure(seconds),
      thumbnail: { megapixels: 12, latencyMs: medianLatency(thumbReps) },
      postToPush: { rate, uploaders, uploadBytes, alone: medianLatency(alone), duringUploads: medianLatency(during), uploadsCompleted: completed, slowest }
    }
  } catch (err) {
    // What the server logged (its errors and warnings) tells a 500 apart from the bench's own mistake.
    const logged = server?.output().trim() ?? ''
    if (logged !== '' && err instanceof Error) err.message += `\nthe server's last output:\n${logged}`
    throw err
  } finally {
    uploadersLoadgen?.kill()
    await server?.stop()
  }
}

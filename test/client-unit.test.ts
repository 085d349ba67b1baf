// The SDK's pure parts: the exactly-once, in-order buffer and the backoff.
// Also: the SDK bundles for a browser without Node modules or server code.
import { build } from 'esbuild'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { backoffDelay } from '../src/client/backoff.js'
import { SeqTracker } from '../src/client/tracker.js'

interface E { conversationId: string, seq: number }
const ev = (seq: number, conversationId = 'c'): E => ({ conversationId, seq })

function tracker (positions: Record<string, number> = { c: 0 }) {
  const applied: E[] = []
  const t = new SeqTracker<E>((e) => applied.push(e), 4)
  for (const [id, seq] of Object.entries(positions)) t.setPosition(id, seq)
  const seqs = (id = 'c') => applied.filter((e) => e.conversationId === id).map((e) => e.seq)
  return { t, applied, seqs }
}

describe('SeqTracker', () => {
  it('applies in-order pushes and drops duplicates', () => {
    const { t, seqs } = tracker()
    expect(t.push(ev(1))).toBe('applied')
    expect(t.push(ev(2))).toBe('applied')
    expect(t.push(ev(2))).toBe('duplicate')
    expect(t.push(ev(1))).toBe('duplicate')
    expect(seqs()).toEqual([1, 2])
    expect(t.positions()).toEqual({ c: 2 })
  })

  it('holds a push after a gap and asks for a replay, then applies it after the replayed events', () => {
    const { t, seqs } = tracker({ c: 2 })
    expect(t.push(ev(5))).toBe('replay')
    expect(t.beginReplay('c')).toBe(2)
    expect(t.push(ev(6))).toBe('held')
    t.replayed(ev(3))
    t.replayed(ev(4))
    t.replayed(ev(5))
    expect(t.replayed(ev(5))).toBe(false)
    expect(t.endReplay('c')).toBe(false)
    expect(seqs()).toEqual([3, 4, 5, 6])
  })

  it('asks for another round when a gap remains after the replay', () => {
    const { t, seqs } = tracker({ c: 0 })
    t.beginReplay('c')
    t.push(ev(4))
    t.replayed(ev(1))
    t.replayed(ev(2))
    expect(t.endReplay('c')).toBe(true)
    expect(t.beginReplay('c')).toBe(2)
    t.replayed(ev(3))
    t.replayed(ev(4))
    expect(t.endReplay('c')).toBe(false)
    expect(seqs()).toEqual([1, 2, 3, 4])
  })

  it('replays an unknown conversation from its start, jumping to the first visible seq', () => {
    const { t, seqs } = tracker({})
    expect(t.push(ev(7, 'new'))).toBe('replay')
    expect(t.beginReplay('new')).toBe(0)
    t.replayed(ev(5, 'new')) // the user joined at seq 5
    t.replayed(ev(6, 'new'))
    expect(t.endReplay('new')).toBe(false)
    expect(seqs('new')).toEqual([5, 6, 7])
  })

  it('holds everything during holdAll, then drains in order and reports gaps', () => {
    const { t, seqs } = tracker({ a: 1, b: 1 })
    t.holdAll()
    expect(t.push(ev(3, 'a'))).toBe('held')
    expect(t.push(ev(2, 'a'))).toBe('held')
    expect(t.push(ev(4, 'b'))).toBe('held')
    expect(t.push(ev(1, 'x'))).toBe('held')
    expect(seqs('a')).toEqual([])
    expect(t.releaseAll().sort()).toEqual(['b', 'x'])
    expect(seqs('a')).toEqual([2, 3])
  })

  it('applies sync events that follow on or start a new conversation, drops duplicates, and holds past a gap for a replay', () => {
    const { t, seqs } = tracker({ a: 2, b: 5 })
    t.holdAll()
    expect(t.push(ev(5, 'a'))).toBe('held')
    expect(t.synced(ev(2, 'a'))).toBe('duplicate')
    expect(t.synced(ev(3, 'a'))).toBe('applied')
    expect(t.synced(ev(4, 'a'))).toBe('applied')
    expect(t.synced(ev(9, 'b'))).toBe('held') // b has 5: 6-8 are missing
    expect(t.synced(ev(3, 'new'))).toBe('applied') // joined at 3
    expect(t.synced(ev(4, 'new'))).toBe('applied')
    expect(t.releaseAll()).toEqual(['b'])
    expect(seqs('a')).toEqual([3, 4, 5])
    expect(seqs('new')).toEqual([3, 4])
    expect(t.beginReplay('b')).toBe(5)
    for (let s = 6; s <= 9; s++) t.replayed(ev(s, 'b'))
    expect(t.endReplay('b')).toBe(false)
    expect(seqs('b')).toEqual([6, 7, 8, 9])
  })

  it('drops held pushes past its bound and replays them from the log instead', () => {
    const { t, seqs } = tracker({ c: 0 })
    t.beginReplay('c')
    for (let s = 1; s <= 10; s++) t.push(ev(s))
    for (let s = 1; s <= 3; s++) t.replayed(ev(s))
    expect(t.endReplay('c')).toBe(true)
    t.beginReplay('c')
    for (let s = 4; s <= 10; s++) t.replayed(ev(s))
    expect(t.endReplay('c')).toBe(false)
    expect(seqs()).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
  })

  it('keeps held pushes across an aborted replay', () => {
    const { t, seqs } = tracker({ c: 1 })
    expect(t.push(ev(3))).toBe('replay')
    t.beginReplay('c')
    t.abortReplay('c')
    t.beginReplay('c')
    t.replayed(ev(2))
    expect(t.endReplay('c')).toBe(false)
    expect(seqs()).toEqual([2, 3])
  })

  it('delivers every seq exactly once whatever the interleaving of pushes and replay', () => {
    for (let run = 0; run < 200; run++) {
      const { t, seqs } = tracker({ c: 0 })
      const n = 30
      // Pushes arrive in order but some are lost; replays read the full log.
      let replayFrom: number | undefined
      for (let s = 1; s <= n; s++) {
        if (Math.random() < 0.3) continue
        if (t.push(ev(s)) === 'replay' && replayFrom === undefined) replayFrom = t.beginReplay('c')
        if (replayFrom !== undefined && Math.random() < 0.3) {
          for (let r = replayFrom + 1; r <= s; r++) t.replayed(ev(r))
          replayFrom = undefined
          if (t.endReplay('c')) replayFrom = t.beginReplay('c')
        }
      }
      const from = replayFrom ?? t.beginReplay('c')
      for (let r = from + 1; r <= n; r++) t.replayed(ev(r))
      t.endReplay('c')
      expect(seqs()).toEqual(Array.from({ length: n }, (_, i) => i + 1))
    }
  })
})

describe('backoffDelay', () => {
  it('doubles from the initial delay up to the cap', () => {
    const mid = () => 0.5
    expect([0, 1, 2, 3].map((a) => backoffDelay(a, {}, mid))).toEqual([500, 1000, 2000, 4000])
    expect(backoffDelay(20, {}, mid)).toBe(30_000)
  })

  it('spreads each delay by the jitter', () => {
    expect(backoffDelay(1, {}, () => 0)).toBe(500)
    expect(backoffDelay(1, {}, () => 0.999999)).toBe(1500)
    expect(backoffDelay(0, { initialMs: 100, jitter: 0 }, Math.random)).toBe(100)
    const samples = Array.from({ length: 200 }, () => backoffDelay(3))
    expect(new Set(samples).size).toBeGreaterThan(50)
    expect(Math.min(...samples)).toBeGreaterThanOrEqual(2000)
    expect(Math.max(...samples)).toBeLessThanOrEqual(6000)
  })
})

describe('SDK bundle', () => {
  it('bundles for browsers without Node built-ins, server code or TypeBox', async () => {
    const result = await build({
      entryPoints: [fileURLToPath(new URL('../src/client/index.ts', import.meta.url))],
      bundle: true,
      write: false,
      format: 'esm',
      platform: 'neutral',
      metafile: true,
      logLevel: 'silent'
    })
    const inputs = Object.keys(result.metafile.inputs)
    expect(inputs.every((p) => p.startsWith('src/client/'))).toBe(true)
    expect(result.outputFiles[0]!.text).not.toMatch(/from\s*["']node:|require\(/)
  })
})

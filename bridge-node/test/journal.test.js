import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { Journal } from '../src/journal.js'
import { memoryLogger, tmpDir } from './helpers.js'

/** The exact line format publisher.js produces. @param {string} epoch @param {number} seq @param {string} [pad] */
const line = (epoch, seq, pad = '') => JSON.stringify({ v: 1, epoch, seq, ts: 1, event: 'e', data: { pad } })

/** @param {Journal} j @param {string} epoch @param {number} from @param {number} to */
function appendRange(j, epoch, from, to) {
  for (let s = from; s <= to; s++) j.append(line(epoch, s), epoch, s)
}

/** @param {{events?: string[]}} res */
const seqs = (res) => /** @type {string[]} */ (res.events).map((l) => {
  const e = JSON.parse(l)
  return `${e.epoch}:${e.seq}`
})

/** @param {string} epoch @param {number} from @param {number} to */
const range = (epoch, from, to) => Array.from({ length: to - from + 1 }, (_, i) => `${epoch}:${from + i}`)

test('readAfter across segments, from memory and from disk, with paging', (t) => {
  const dir = tmpDir(t)
  // Tiny segments and ring: most reads must come from disk segments.
  const j = new Journal({ dir, segmentBytes: 300, ringSize: 5 })
  appendRange(j, 'A', 1, 50)
  assert.ok(j.stats().segments > 5)
  assert.deepEqual(seqs(j.readAfter({ epoch: 'A', seq: 0 }, 1000)), range('A', 1, 50))
  assert.deepEqual(seqs(j.readAfter({ epoch: 'A', seq: 17 }, 1000)), range('A', 18, 50))
  assert.deepEqual(seqs(j.readAfter(null, 1000)), range('A', 1, 50))
  const page = j.readAfter({ epoch: 'A', seq: 10 }, 7)
  assert.deepEqual(seqs(page), range('A', 11, 17))
  assert.equal(/** @type {any} */ (page).more, true)
  const tail = j.readAfter({ epoch: 'A', seq: 50 }, 10)
  assert.deepEqual(tail, { events: [], more: false })
  // maxBytes caps a reply but always returns at least one event.
  const capped = j.readAfter({ epoch: 'A', seq: 0 }, 1000, line('A', 1).length * 3)
  assert.deepEqual(seqs(capped), range('A', 1, 3))
  assert.equal(/** @type {any} */ (j.readAfter({ epoch: 'A', seq: 0 }, 1000, 1)).events.length, 1)
  j.close()
})

test('survives a restart; epochs are ordered by journal order, not by name', (t) => {
  const dir = tmpDir(t)
  let j = new Journal({ dir, segmentBytes: 400, ringSize: 3 })
  appendRange(j, 'zzz', 1, 12)
  j.close()
  j = new Journal({ dir, segmentBytes: 400, ringSize: 3 })
  assert.deepEqual(j.last(), { epoch: 'zzz', seq: 12 }) // what bridge.started.previous reports
  appendRange(j, 'aaa', 1, 8)
  j.close()
  j = new Journal({ dir, segmentBytes: 400, ringSize: 3 })
  assert.deepEqual(seqs(j.readAfter({ epoch: 'zzz', seq: 9 }, 100)), [...range('zzz', 10, 12), ...range('aaa', 1, 8)])
  assert.deepEqual(seqs(j.readAfter({ epoch: 'zzz', seq: 12 }, 100)), range('aaa', 1, 8))
  assert.deepEqual(j.oldest(), { epoch: 'zzz', seq: 1 })
  assert.equal(j.stats().epochs, 2)
  assert.equal(j.stats().events, 20)
  j.close()
})

test('unknown epoch, evicted tail and seq beyond the last are all position_gone', (t) => {
  const dir = tmpDir(t)
  const j = new Journal({ dir, segmentBytes: 1 << 20 })
  appendRange(j, 'A', 1, 5)
  const gone = { gone: true, oldest: { epoch: 'A', seq: 1 }, last: { epoch: 'A', seq: 5 } }
  assert.deepEqual(j.readAfter({ epoch: 'nope', seq: 1 }, 10), gone)
  assert.deepEqual(j.readAfter({ epoch: 'A', seq: 6 }, 10), gone)
  j.close()
})

test('eviction by event count deletes whole oldest segments -> position_gone', (t) => {
  const dir = tmpDir(t)
  // maxEvents 16 -> segments rotate every 2 events.
  const j = new Journal({ dir, maxEvents: 16, segmentBytes: 1 << 20 })
  appendRange(j, 'A', 1, 40)
  const stats = j.stats()
  assert.ok(stats.events <= 16 && stats.events >= 14, `events ${stats.events}`)
  const oldest = /** @type {{epoch: string, seq: number}} */ (j.oldest())
  assert.equal(oldest.seq, 40 - stats.events + 1)
  assert.equal(fs.readdirSync(dir).length, stats.segments)
  // Right before the oldest retained envelope is still fine; one earlier is gone.
  assert.deepEqual(seqs(j.readAfter({ epoch: 'A', seq: oldest.seq - 1 }, 100)), range('A', oldest.seq, 40))
  const res = j.readAfter({ epoch: 'A', seq: oldest.seq - 2 }, 100)
  assert.deepEqual(res, { gone: true, oldest, last: { epoch: 'A', seq: 40 } })
  j.close()
})

test('eviction by bytes; an epoch evicted entirely is gone', (t) => {
  const dir = tmpDir(t)
  const size = line('A', 1, 'x'.repeat(100)).length + 1
  const j = new Journal({ dir, maxBytes: size * 10, segmentBytes: size * 2 })
  for (let s = 1; s <= 10; s++) j.append(line('A', s, 'x'.repeat(100)), 'A', s)
  for (let s = 1; s <= 10; s++) j.append(line('B', s, 'x'.repeat(100)), 'B', s)
  assert.ok(j.stats().bytes <= size * 10)
  assert.ok('gone' in j.readAfter({ epoch: 'A', seq: 3 }, 100))
  const oldest = /** @type {{epoch: string, seq: number}} */ (j.oldest())
  assert.equal(oldest.epoch, 'B')
  assert.deepEqual(seqs(j.readAfter(null, 100)), range('B', oldest.seq, 10))
  j.close()
})

test('a corrupt line and a truncated tail are skipped, counted and logged; later lines survive', (t) => {
  const dir = tmpDir(t)
  let j = new Journal({ dir })
  appendRange(j, 'A', 1, 6)
  j.close()
  const seg = path.join(dir, 'segment-0000000001.jsonl')
  const lines = fs.readFileSync(seg, 'utf8').split('\n')
  lines[2] = '{"v":1,"epoch":"A","seq":3,"ts":1,"event":"e","da' // cut in the middle
  lines[3] = 'garbage'
  // And a crash that truncated the very last line of the file (no newline).
  fs.writeFileSync(seg, lines.slice(0, 6).join('\n') + '\n' + line('A', 7).slice(0, 20))
  const logger = memoryLogger()
  j = new Journal({ dir, logger })
  assert.equal(j.stats().corrupt, 3)
  const warned = logger.records.filter((r) => r.level === 'warn').map((r) => r.obj)
  assert.deepEqual(warned.map((w) => w.line), [3, 4, 7])
  assert.ok(warned.every((w) => w.file === seg))
  // The next boot's events go to a new segment, never glued to the truncated line.
  appendRange(j, 'B', 1, 2)
  j.close()
  j = new Journal({ dir })
  assert.equal(j.stats().corrupt, 3)
  assert.deepEqual(seqs(j.readAfter({ epoch: 'A', seq: 0 }, 100)), ['A:1', 'A:2', 'A:5', 'A:6', 'B:1', 'B:2'])
  assert.deepEqual(seqs(j.readAfter({ epoch: 'A', seq: 2 }, 100)), ['A:5', 'A:6', 'B:1', 'B:2'])
  j.close()
})

test('the ring serves recent events without the disk', (t) => {
  const dir = tmpDir(t)
  const j = new Journal({ dir, ringSize: 100 })
  appendRange(j, 'A', 1, 10)
  // Remove the segment behind the journal's back: ring-only reads must still work.
  fs.rmSync(path.join(dir, 'segment-0000000001.jsonl'))
  assert.deepEqual(seqs(j.readAfter({ epoch: 'A', seq: 4 }, 100)), range('A', 5, 10))
  j.close()
})

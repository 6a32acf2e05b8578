/**
 * The envelope journal: what lets the orchestrator recover anything PUB/SUB dropped.
 *
 * On disk: `<dir>/segment-<10-digit counter>.jsonl`, one serialized envelope per line.
 * In memory: a ring of the last `ringSize` lines (served without touching the disk) and a
 * small index of "runs" (contiguous seqs of one epoch inside one segment) that maps a
 * position to a place in the journal.
 *
 * Guarantees:
 * - Write-ahead: append() returns after fs.writeSync of the line, so an envelope is on
 *   disk (page cache) before anyone can have seen it; a kill -9 never loses a published
 *   event. fsync only on rotate and close: per-event fsync would cap throughput at the
 *   disk's flush rate and buys nothing against a process crash.
 * - Every boot writes into a NEW segment, so a line truncated by a crash is never glued
 *   to the next boot's first line.
 * - Journal order is file order (segment counter, then line): epochs are ordered by where
 *   they appear, never by comparing their strings.
 * - Bounded by maxEvents and maxBytes; whole oldest segments are deleted, never the one
 *   being written.
 *
 * Positions: (E, S) means "applied up to and including seq S of epoch E". readAfter
 * answers every retained envelope after it in journal order, or {gone} when that cannot
 * be done without a hole (E unknown, something after S evicted, or S beyond E's last seq).
 */
import fs from 'node:fs'
import path from 'node:path'

const SEGMENT_RE = /^segment-(\d{10})\.jsonl$/
// Envelopes are serialized by publisher.js with epoch and seq first, so the position of a
// stored line can be read without parsing the whole line.
const HEAD_RE = /^\{"v":1,"epoch":("(?:[^"\\]|\\.)*"),"seq":(\d+),/

/** @typedef {{epoch: string, seq: number}} Position */
/**
 * @typedef {object} Run  contiguous seqs of one epoch within one segment
 * @property {string} epoch
 * @property {number} firstSeq
 * @property {number} lastSeq
 * @property {number} firstOrd journal ordinal of firstSeq
 */
/**
 * @typedef {object} Segment
 * @property {number} counter
 * @property {string} file
 * @property {number} bytes
 * @property {number} events valid lines
 * @property {number} firstOrd journal ordinal of its first valid line
 * @property {Run[]} runs
 * @property {Set<number>} corruptLines 0-based line indexes skipped at open
 */
/**
 * @typedef {{events: string[], more: boolean} | {gone: true, oldest: Position|null, last: Position|null}} ReadResult
 */

export class Journal {
  /**
   * @param {object} opts
   * @param {string} opts.dir
   * @param {number} [opts.maxEvents]
   * @param {number} [opts.maxBytes]
   * @param {number} [opts.segmentBytes]
   * @param {number} [opts.ringSize]
   * @param {{warn: Function, error: Function, info: Function}} [opts.logger]
   */
  constructor({ dir, maxEvents = 200000, maxBytes = 268435456, segmentBytes = 8388608, ringSize = 20000, logger }) {
    this.dir = dir
    this.maxEvents = maxEvents
    this.maxBytes = maxBytes
    this.segmentBytes = segmentBytes
    // Rotating on event count too keeps eviction by count at a useful granularity
    // (otherwise one segment could hold more than maxEvents and never be evicted).
    this.segmentEvents = Math.max(1, Math.ceil(maxEvents / 8))
    this.logger = logger
    /** @type {Segment[]} */
    this.segments = []
    this.corrupt = 0
    /** ordinal of the next appended line */
    this.nextOrd = 0
    // Ring: fixed-size circular arrays; entry for ordinal o lives at o % ringSize.
    this.ringSize = ringSize
    /** @type {string[]} */
    this.ringLines = new Array(ringSize)
    this.ringStart = 0 // smallest ordinal held in the ring
    /** @type {number|null} */
    this.fd = null
    /** @type {Position|null} */
    this._last = null
    this._open()
  }

  /** Scan existing segments, then start a fresh one for this boot. */
  _open() {
    fs.mkdirSync(this.dir, { recursive: true, mode: 0o700 })
    const counters = fs
      .readdirSync(this.dir)
      .map((f) => SEGMENT_RE.exec(f))
      .filter((m) => m !== null)
      .map((m) => Number(/** @type {RegExpExecArray} */ (m)[1]))
      .sort((a, b) => a - b)
    for (const counter of counters) this._scanSegment(counter)
    // The ring starts empty at boot: older envelopes are served from their segments.
    this.ringStart = this.nextOrd
    this._newSegment((counters.at(-1) ?? 0) + 1)
    this._evict()
  }

  /** @param {number} counter */
  _scanSegment(counter) {
    const file = path.join(this.dir, segmentName(counter))
    const text = fs.readFileSync(file, 'utf8')
    /** @type {Segment} */
    const seg = { counter, file, bytes: Buffer.byteLength(text), events: 0, firstOrd: this.nextOrd, runs: [], corruptLines: new Set() }
    const lines = splitLines(text)
    for (let i = 0; i < lines.length; i++) {
      const pos = parseStoredLine(lines[i])
      if (pos === null) {
        seg.corruptLines.add(i)
        this.corrupt += 1
        this.logger?.warn({ file, line: i + 1 }, 'journal: corrupt or truncated line skipped')
        continue
      }
      this._index(seg, pos.epoch, pos.seq)
    }
    if (seg.events === 0 && seg.corruptLines.size === 0) {
      fs.rmSync(file, { force: true }) // an empty segment from a boot that published nothing
      return
    }
    this.segments.push(seg)
  }

  /** Record one valid line at ordinal nextOrd in seg. @param {Segment} seg @param {string} epoch @param {number} seq */
  _index(seg, epoch, seq) {
    const run = seg.runs.at(-1)
    if (run && run.epoch === epoch && run.lastSeq + 1 === seq) run.lastSeq = seq
    else seg.runs.push({ epoch, firstSeq: seq, lastSeq: seq, firstOrd: this.nextOrd })
    seg.events += 1
    this.nextOrd += 1
    this._last = { epoch, seq }
  }

  /** @param {number} counter */
  _newSegment(counter) {
    const file = path.join(this.dir, segmentName(counter))
    this.fd = fs.openSync(file, 'a', 0o600)
    this.segments.push({ counter, file, bytes: 0, events: 0, firstOrd: this.nextOrd, runs: [], corruptLines: new Set() })
  }

  /**
   * Write-ahead append of one serialized envelope (no trailing newline).
   * @param {string} line
   * @param {string} epoch
   * @param {number} seq
   */
  append(line, epoch, seq) {
    if (this.fd === null) throw new Error('journal is closed')
    let seg = /** @type {Segment} */ (this.segments.at(-1))
    if (seg.events > 0 && (seg.bytes >= this.segmentBytes || seg.events >= this.segmentEvents)) {
      fs.fsyncSync(this.fd)
      fs.closeSync(this.fd)
      this._newSegment(seg.counter + 1)
      seg = /** @type {Segment} */ (this.segments.at(-1))
    }
    const data = line + '\n'
    fs.writeSync(this.fd, data)
    seg.bytes += Buffer.byteLength(data)
    const ord = this.nextOrd
    this._index(seg, epoch, seq)
    this.ringLines[ord % this.ringSize] = line
    if (ord - this.ringStart >= this.ringSize) this.ringStart = ord - this.ringSize + 1
    this._evict()
  }

  /** Delete whole oldest segments while over a bound; never the current one. */
  _evict() {
    while (this.segments.length > 1 && (this._events() > this.maxEvents || this._bytes() > this.maxBytes)) {
      const seg = /** @type {Segment} */ (this.segments.shift())
      fs.rmSync(seg.file, { force: true })
    }
    const first = this._firstOrd()
    if (this.ringStart < first) this.ringStart = Math.min(first, this.nextOrd)
  }

  _events() {
    let n = 0
    for (const s of this.segments) n += s.events
    return n
  }

  _bytes() {
    let n = 0
    for (const s of this.segments) n += s.bytes
    return n
  }

  _firstOrd() {
    return this.segments.length ? this.segments[0].firstOrd : this.nextOrd
  }

  /** @returns {Position|null} oldest retained envelope */
  oldest() {
    for (const seg of this.segments) {
      if (seg.runs.length) return { epoch: seg.runs[0].epoch, seq: seg.runs[0].firstSeq }
    }
    return null
  }

  /** @returns {Position|null} last appended (or, right after open, last found on disk) */
  last() {
    return this._last && { ...this._last }
  }

  stats() {
    const epochs = new Set()
    for (const seg of this.segments) for (const r of seg.runs) epochs.add(r.epoch)
    return { events: this._events(), bytes: this._bytes(), segments: this.segments.length, epochs: epochs.size, corrupt: this.corrupt }
  }

  /**
   * Envelopes after a position, in journal order.
   * @param {Position|null} pos null = from the oldest retained envelope
   * @param {number} limit max events
   * @param {number} [maxBytes] soft cap on the summed line lengths (at least one event is returned)
   * @returns {ReadResult}
   */
  readAfter(pos, limit, maxBytes = Infinity) {
    const start = pos === null ? this._firstOrd() : this._ordAfter(pos)
    if (start === null) return { gone: true, oldest: this.oldest(), last: this.last() }
    /** @type {string[]} */
    const events = []
    let bytes = 0
    let ord = start
    while (ord < this.nextOrd && events.length < limit) {
      const chunk = ord >= this.ringStart ? this._fromRing(ord, limit - events.length) : this._fromDisk(ord, limit - events.length)
      for (const line of chunk) {
        if (events.length > 0 && bytes + line.length > maxBytes) return { events, more: true }
        events.push(line)
        bytes += line.length
      }
      ord += chunk.length
    }
    return { events, more: ord < this.nextOrd }
  }

  /**
   * Ordinal of the first envelope after pos, or null when pos is gone.
   * @param {Position} pos
   * @returns {number|null}
   */
  _ordAfter({ epoch, seq }) {
    /** @type {Run[]} */
    const runs = []
    let nextEpochOrd = null // first ordinal of whatever follows epoch E
    for (const seg of this.segments) {
      for (const r of seg.runs) {
        if (r.epoch === epoch) runs.push(r)
        else if (runs.length && nextEpochOrd === null) nextEpochOrd = r.firstOrd
      }
    }
    if (runs.length === 0) return null // epoch not (or no longer) in the journal
    if (runs[0].firstSeq > seq + 1) return null // something after seq was evicted
    if (seq > /** @type {Run} */ (runs.at(-1)).lastSeq) return null // a position we never published
    for (const r of runs) {
      if (r.lastSeq <= seq) continue
      // First run holding something after seq (a hole from a corrupt line is skipped over).
      return r.firstSeq > seq ? r.firstOrd : r.firstOrd + (seq + 1 - r.firstSeq)
    }
    return nextEpochOrd ?? this.nextOrd
  }

  /** @param {number} ord @param {number} max */
  _fromRing(ord, max) {
    const end = Math.min(this.nextOrd, ord + max)
    const out = []
    for (let o = ord; o < end; o++) out.push(this.ringLines[o % this.ringSize])
    return out
  }

  /**
   * Read valid lines of the segment holding ord, starting at ord (stops at the segment's
   * end or where the ring takes over).
   * @param {number} ord @param {number} max
   */
  _fromDisk(ord, max) {
    const seg = this.segments.find((s) => ord >= s.firstOrd && ord < s.firstOrd + s.events)
    if (!seg) throw new Error(`journal: ordinal ${ord} not in any segment`)
    const lines = splitLines(fs.readFileSync(seg.file, 'utf8'))
    const out = []
    let o = seg.firstOrd
    const end = Math.min(ord + max, this.ringStart)
    for (let i = 0; i < lines.length && o < end; i++) {
      if (seg.corruptLines.has(i)) continue
      if (o >= ord) out.push(lines[i])
      o += 1
    }
    return out
  }

  /** Flush and close (fsync so a machine crash after a clean stop loses nothing). */
  close() {
    if (this.fd === null) return
    fs.fsyncSync(this.fd)
    fs.closeSync(this.fd)
    this.fd = null
  }
}

/** @param {number} counter */
function segmentName(counter) {
  return `segment-${String(counter).padStart(10, '0')}.jsonl`
}

/**
 * Lines of a segment; a final piece without newline is kept (it may be a complete line
 * from a crash between write and newline, or a truncated one that fails to parse).
 * @param {string} text
 */
function splitLines(text) {
  const lines = text.split('\n')
  if (lines.at(-1) === '') lines.pop()
  return lines
}

/**
 * Position of a line the journal served (valid already: only its head is read).
 * @param {string} line
 * @returns {Position|null}
 */
export function linePosition(line) {
  const m = HEAD_RE.exec(line)
  return m && { epoch: JSON.parse(m[1]), seq: Number(m[2]) }
}

/**
 * Position of a stored line, or null when the line is corrupt or truncated.
 * @param {string} line
 * @returns {Position|null}
 */
function parseStoredLine(line) {
  if (!HEAD_RE.test(line)) return null
  try {
    JSON.parse(line) // full validation: a truncated tail must not be served later
  } catch {
    return null
  }
  return linePosition(line)
}

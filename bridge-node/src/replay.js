/**
 * BRIDGE_REPLAY: feed a capture file through the same publishing path as live events.
 *
 * The file is streamed line by line (captures can be far larger than memory). Each line is
 * `{"event","data","ts"?}` with data already in wire encoding, so it is published as is.
 * A bad line becomes a `bridge.capture_error` event (subscribers see exactly where the
 * capture was damaged) and replay continues.
 */
import fs from 'node:fs'
import readline from 'node:readline'
import { setImmediate as yieldToLoop } from 'node:timers/promises'
import { setTimeout as sleep } from 'node:timers/promises'

// At rate 0 the loop yields after this many events so heartbeats, command replies and
// the PUB drain loop keep running during a large replay.
const YIELD_EVERY = 256

export class Replayer {
  /**
   * @param {object} opts
   * @param {string} opts.file
   * @param {number} opts.rate events per second; 0 = as fast as possible
   * @param {(event: string, data: unknown) => number} opts.publish
   * @param {{info: Function, warn: Function}} opts.logger
   */
  constructor({ file, rate, publish, logger }) {
    this.file = file
    this.rate = rate
    this.publish = publish
    this.logger = logger
    this.stopped = false
  }

  /**
   * Replay the whole file, then publish bridge.replay_finished.
   * @returns {Promise<{events: number, skipped: number}>}
   */
  async run() {
    let events = 0
    let skipped = 0
    let lineNo = 0
    const started = performance.now()
    const input = fs.createReadStream(this.file, { encoding: 'utf8', highWaterMark: 1 << 20 })
    const lines = readline.createInterface({ input, crlfDelay: Infinity })
    try {
      for await (const line of lines) {
        if (this.stopped) break
        lineNo += 1
        if (line.trim() === '') continue
        const parsed = parseCaptureLine(line)
        if ('error' in parsed) {
          skipped += 1
          this.logger.warn({ file: this.file, line: lineNo, error: parsed.error }, 'replay: bad capture line skipped')
          this.publish('bridge.capture_error', { file: this.file, line: lineNo, error: parsed.error })
        } else {
          this.publish(parsed.event, parsed.data)
          events += 1
        }
        const handled = events + skipped
        if (this.rate > 0) {
          // Pace against the start time, not per event, so timer granularity does not drift.
          const due = started + (handled * 1000) / this.rate
          const ahead = due - performance.now()
          if (ahead >= 1) await sleep(ahead)
          else if (handled % YIELD_EVERY === 0) await yieldToLoop()
        } else if (handled % YIELD_EVERY === 0) {
          await yieldToLoop()
        }
      }
    } finally {
      lines.close()
      input.destroy()
    }
    if (!this.stopped) {
      this.publish('bridge.replay_finished', { file: this.file, events, skipped })
      this.logger.info({ file: this.file, events, skipped, ms: Math.round(performance.now() - started) }, 'replay finished')
    }
    return { events, skipped }
  }

  stop() {
    this.stopped = true
  }
}

/**
 * @param {string} line
 * @returns {{event: string, data: unknown} | {error: string}}
 */
export function parseCaptureLine(line) {
  let obj
  try {
    obj = JSON.parse(line)
  } catch (err) {
    return { error: `invalid JSON: ${/** @type {Error} */ (err).message}` }
  }
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return { error: 'line is not a JSON object' }
  if (typeof obj.event !== 'string' || obj.event === '') return { error: 'missing "event" string' }
  if (!('data' in obj)) return { error: 'missing "data"' }
  return { event: obj.event, data: obj.data }
}

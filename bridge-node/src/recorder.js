/**
 * BRIDGE_RECORD: appends every raw Baileys event to a capture file (JSON Lines,
 * `{"event","data","ts"}`, data in wire encoding) that BRIDGE_REPLAY can feed back later.
 * Synchronous appends keep capture order identical to publish order.
 */
import fs from 'node:fs'
import path from 'node:path'

export class Recorder {
  /** @param {string} file */
  constructor(file) {
    fs.mkdirSync(path.dirname(path.resolve(file)), { recursive: true })
    this.file = file
    /** @type {number|null} */
    this.fd = fs.openSync(file, 'a', 0o600)
  }

  /**
   * @param {string} event
   * @param {unknown} data already wire-encoded
   */
  record(event, data) {
    if (this.fd === null) return
    fs.writeSync(this.fd, JSON.stringify({ event, data: data ?? null, ts: Date.now() }) + '\n')
  }

  close() {
    if (this.fd === null) return
    fs.closeSync(this.fd)
    this.fd = null
  }
}

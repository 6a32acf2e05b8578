/**
 * A FIFO in front of a zeromq 6 socket.
 *
 * zeromq 6 allows only one send() in flight per socket (a second one rejects with EBUSY),
 * and callers on the hot path (event publishing, command replies) must never await a
 * send. So frames are queued synchronously and a single drain loop feeds the socket.
 * The queue is bounded: PUB drops at its high-water mark anyway, and for the event
 * stream the journal covers whatever is dropped.
 */

/** @typedef {string | Buffer | Array<string | Buffer>} Frame */

export class SendQueue {
  /**
   * @param {{send(msg: Frame): Promise<void>, closed: boolean}} socket
   * @param {object} [opts]
   * @param {number} [opts.maxQueued] frames held beyond this are dropped (counted in .dropped)
   * @param {{warn: Function}} [opts.logger]
   */
  constructor(socket, { maxQueued = 100000, logger } = {}) {
    this.socket = socket
    this.maxQueued = maxQueued
    this.logger = logger
    /** @type {Frame[]} */
    this.queue = []
    this.draining = false
    this.dropped = 0
    /** @type {Promise<void>} resolves when the current drain loop ends */
    this.idle = Promise.resolve()
  }

  /** Queue a frame; never blocks, never throws. @param {Frame} frame */
  send(frame) {
    if (this.socket.closed) return
    if (this.queue.length >= this.maxQueued) {
      this.dropped += 1
      return
    }
    this.queue.push(frame)
    if (!this.draining) this.idle = this._drain()
  }

  async _drain() {
    this.draining = true
    try {
      while (this.queue.length > 0) {
        // Swap the whole batch out: Array#shift on a large queue is O(n) per frame.
        const batch = this.queue
        this.queue = []
        for (const frame of batch) {
          if (this.socket.closed) return
          try {
            await this.socket.send(frame)
          } catch (err) {
            this.dropped += 1
            this.logger?.warn({ err }, 'zmq send failed; frame dropped')
          }
        }
      }
    } finally {
      this.draining = false
    }
  }
}

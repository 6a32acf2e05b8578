/**
 * Capped exponential backoff with "equal jitter" (no I/O): with c = min(max, min * 2^n),
 * the delay before retry n is drawn from [c/2, c] and is never under min. The jitter keeps
 * bridges that lost the same server from retrying in lockstep, the lower half keeps the
 * delays growing (no tight loop even with unlucky draws), and the cap keeps a long outage
 * from stretching the recovery.
 */
export class Backoff {
  /**
   * @param {object} [opts]
   * @param {number} [opts.minMs]
   * @param {number} [opts.maxMs]
   * @param {() => number} [opts.random] in [0, 1); injectable so tests can pin it
   */
  constructor({ minMs = 500, maxMs = 10000, random = Math.random } = {}) {
    this.minMs = minMs
    this.maxMs = maxMs
    this.random = random
    this.attempt = 0
  }

  /** The delay before the next retry; each call grows the ceiling until maxMs. */
  next() {
    const ceiling = Math.min(this.maxMs, this.minMs * 2 ** Math.min(this.attempt, 30))
    this.attempt += 1
    return Math.round(Math.max(this.minMs, ceiling / 2 + (this.random() * ceiling) / 2))
  }

  /** After a success: the next failure starts from minMs again. */
  reset() {
    this.attempt = 0
  }
}

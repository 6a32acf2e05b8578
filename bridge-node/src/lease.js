/**
 * A session lease in JetStream's key-value store, with fencing (issue #15, part B).
 *
 * Bucket `<prefix>-leases` (max_age = the TTL, history 1), key = session, value
 * `{"host","pid","epoch","since"}`. Acquire is kv.create (fails while someone holds the key);
 * renewal is kv.update(key, value, lastRevision) every TTL/3, a compare-and-set, so a holder
 * that was replaced can never renew over its successor. The server forgets a key that is not
 * renewed within the TTL (max_age), which is how a standby takes over after a kill -9.
 *
 * Fencing: `term` is the revision of our last successful create/update; it grows with every
 * write to the key, so every successor's term is higher than any term we ever had (the
 * orchestrator drops envelopes with a lower term than it has seen). Locally the holder
 * keeps a monotonic deadline, last renewal + TTL - 1 s, counted from when the renewal was
 * SENT: the server stamps its write later than that, so it cannot expire the key before our
 * deadline. `held()` compares with performance.now() at every call, so a holder whose event
 * loop (or whole process) was paused sees it has lost on the first instruction after waking,
 * before any timer or renewal runs.
 */
import os from 'node:os'
import { Kvm } from '@nats-io/kv'
import { JetStreamApiCodes, JetStreamApiError } from '@nats-io/jetstream'

/** The margin by which we stop before the server may expire our key. */
export const DEADLINE_MARGIN_MS = 1000

/** @typedef {'cas'|'deadline'|'released'} LostReason */
/** @typedef {{host: string, pid: number, epoch: string, since: number}} LeaseValue */

/**
 * Open (creating if missing) the lease bucket and return its effective TTL.
 *
 * The bucket may have been created by another host with another TTL; the server expires keys
 * by the BUCKET's max_age, so that is the TTL our deadline must follow (a longer configured
 * TTL would let us think we hold a key the server already forgot).
 * @param {import('@nats-io/transport-node').NatsConnection} nc
 * @param {string} prefix
 * @param {number} ttlMs
 * @param {{warn: Function}} logger
 * @returns {Promise<{kv: import('@nats-io/kv').KV, ttlMs: number}>}
 */
export async function openLeaseBucket(nc, prefix, ttlMs, logger) {
  const kv = await new Kvm(nc).create(`${prefix}-leases`, { ttl: ttlMs, history: 1 })
  const bucketTtl = (await kv.status()).ttl
  if (!bucketTtl) throw new Error(`lease bucket ${prefix}-leases has no max_age: a dead holder would never expire`)
  if (bucketTtl !== ttlMs) {
    logger.warn({ bucket: `${prefix}-leases`, configuredMs: ttlMs, bucketMs: bucketTtl }, 'lease: the bucket was created with another TTL; following the bucket')
  }
  return { kv, ttlMs: bucketTtl }
}

/** True for the server's "wrong last sequence" answer to a compare-and-set. @param {unknown} err */
export function isCasConflict(err) {
  return (
    err instanceof JetStreamApiError &&
    (err.code === JetStreamApiCodes.StreamWrongLastSequence || err.code === JetStreamApiCodes.StreamWrongLastSequenceUnknown)
  )
}

export class Lease {
  /**
   * @param {object} opts
   * @param {import('@nats-io/kv').KV} opts.kv the `<prefix>-leases` bucket
   * @param {string} opts.key the session
   * @param {number} opts.ttlMs the bucket's max_age (openLeaseBucket)
   * @param {string} opts.epoch the epoch this holder will publish under
   * @param {(reason: LostReason) => void} [opts.onLost] called once, when the lease is lost
   * @param {{info: Function, warn: Function, error: Function}} opts.logger
   */
  constructor({ kv, key, ttlMs, epoch, onLost = () => {}, logger }) {
    if (ttlMs <= DEADLINE_MARGIN_MS * 2) throw new RangeError(`lease TTL ${ttlMs} ms is too short (> ${DEADLINE_MARGIN_MS * 2} ms)`)
    this.kv = kv
    this.key = key
    this.ttlMs = ttlMs
    this.onLost = onLost
    this.logger = logger
    /** @type {LeaseValue} */
    this.value = { host: os.hostname(), pid: process.pid, epoch, since: 0 }
    /** The fencing term: revision of our last successful create/update; 0 = never held. */
    this.term = 0
    /** performance.now() after which we no longer hold, whatever the server says. */
    this.deadline = 0
    /** @type {LostReason|null} */
    this.lost = null
    /** @type {NodeJS.Timeout|null} */
    this.renewTimer = null
    /** @type {NodeJS.Timeout|null} */
    this.deadlineTimer = null
    this.stopped = false
  }

  /** True while we hold the lease and our local deadline has not passed. */
  held() {
    if (this.term === 0 || this.lost) return false
    if (performance.now() >= this.deadline) {
      this._lose('deadline')
      return false
    }
    return true
  }

  /**
   * Wait until kv.create succeeds (polling every TTL/10: a key that expires by max_age sends
   * no notification to watchers), then keep renewing.
   * @param {{signal?: AbortSignal}} [opts] abort to stop waiting (shutdown while standby)
   * @returns {Promise<number>} the term
   */
  async acquire({ signal } = {}) {
    const pollMs = Math.max(50, Math.floor(this.ttlMs / 10))
    let waiting = false
    for (;;) {
      signal?.throwIfAborted()
      const sent = performance.now()
      this.value.since = Date.now()
      try {
        const rev = await this.kv.create(this.key, JSON.stringify(this.value))
        this._renewed(rev, sent)
        this.logger.info({ key: this.key, term: rev }, 'lease: acquired')
        return rev
      } catch (err) {
        if (!isCasConflict(err)) this.logger.warn({ key: this.key, err: String(err) }, 'lease: acquire attempt failed')
        else if (!waiting) {
          waiting = true
          this.logger.info({ key: this.key, holder: await this._holder() }, 'lease: held by another host; standing by')
        }
      }
      await pause(pollMs, signal)
    }
  }

  /** Who holds the key now (for the log), or null. */
  async _holder() {
    try {
      const e = await this.kv.get(this.key)
      return e && e.operation === 'PUT' ? e.json() : null
    } catch {
      return null
    }
  }

  /** @param {number} rev @param {number} sentAt performance.now() when the write was sent */
  _renewed(rev, sentAt) {
    this.term = rev
    this.deadline = sentAt + this.ttlMs - DEADLINE_MARGIN_MS
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer)
    // Fires late if the loop is blocked; held() covers that case.
    this.deadlineTimer = setTimeout(() => this.held(), Math.max(0, this.deadline - performance.now()))
    this._schedule(Math.floor(this.ttlMs / 3))
  }

  /** @param {number} ms */
  _schedule(ms) {
    if (this.renewTimer) clearTimeout(this.renewTimer)
    this.renewTimer = setTimeout(() => void this._renew(), ms)
  }

  async _renew() {
    if (!this.held()) return
    const sent = performance.now()
    try {
      // Bounded so a hung request cannot outlive the deadline unnoticed.
      const timeout = Math.max(100, Math.min(Math.floor(this.ttlMs / 3), this.deadline - sent))
      const rev = await this.kv.update(this.key, JSON.stringify(this.value), this.term, timeout)
      if (this.lost || this.stopped) return
      // A renewal that was sent before the deadline but answered after it does not revive us.
      if (performance.now() >= this.deadline) return void this.held()
      this._renewed(rev, sent)
    } catch (err) {
      if (this.lost || this.stopped) return
      if (isCasConflict(err)) {
        const entry = await this.kv.get(this.key).catch(() => null)
        if (this.lost || this.stopped) return
        // A renewal that timed out here but was written there: the value is ours alone (pid,
        // epoch, since), so take its revision and renew at once. The deadline stays that of
        // the last renewal answered in time.
        if (entry?.operation === 'PUT' && entry.string() === JSON.stringify(this.value)) {
          this.term = entry.revision
          this._schedule(0)
          return
        }
        this._lose('cas')
        this.logger.error({ key: this.key, holder: entry?.operation === 'PUT' ? entry.json() : null }, 'lease: renewal refused, another host holds the session')
        return
      }
      // NATS unreachable or slow: retry until the deadline decides.
      this.logger.warn({ key: this.key, err: String(err) }, 'lease: renewal failed; retrying')
      this._schedule(Math.max(50, Math.floor(this.ttlMs / 10)))
    }
  }

  /** @param {LostReason} reason */
  _lose(reason) {
    if (this.lost) return
    this.lost = reason
    this._stopTimers()
    if (reason !== 'released') this.logger.error({ key: this.key, term: this.term, reason }, 'lease: lost')
    try {
      this.onLost(reason)
    } catch (err) {
      this.logger.error({ err: String(err) }, 'lease: onLost threw')
    }
  }

  _stopTimers() {
    if (this.renewTimer) clearTimeout(this.renewTimer)
    if (this.deadlineTimer) clearTimeout(this.deadlineTimer)
    this.renewTimer = this.deadlineTimer = null
  }

  /**
   * Clean shutdown: delete the key if it is still ours (CAS on our term), so a standby takes
   * over at its next poll instead of after the TTL. Never throws; onLost is not called.
   */
  async release() {
    this.stopped = true
    this._stopTimers()
    const wasHeld = this.term !== 0 && !this.lost && performance.now() < this.deadline
    this.lost ??= 'released'
    if (!wasHeld) return
    try {
      await this.kv.delete(this.key, { previousSeq: this.term })
      this.logger.info({ key: this.key, term: this.term }, 'lease: released')
    } catch (err) {
      this.logger.warn({ key: this.key, err: String(err) }, 'lease: release failed; the key expires by its TTL')
    }
  }
}

/** Sleep, cut short by an abort. @param {number} ms @param {AbortSignal} [signal] */
function pause(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer)
      signal?.removeEventListener('abort', done)
      resolve(undefined)
    }
    const timer = setTimeout(done, ms)
    signal?.addEventListener('abort', done, { once: true })
  })
}

/**
 * The Publisher's Sink in NATS mode: every journaled envelope goes to JetStream, heartbeats
 * to core NATS (issue #15).
 *
 * The journal is the source of truth and this sink only a cursor over it: `durable` is the
 * last position (in journal order) that JetStream acknowledged with every position before it.
 * Envelopes after it are published pipelined (up to WINDOW in flight, never one round trip
 * per event) from an in-memory queue fed by `send`. That queue is bounded (BRIDGE_NATS_BUFFER):
 * past the bound envelopes are read back from the journal when their turn comes, so nothing
 * is dropped, only held on disk. Any failure (a disconnect, a timeout, a JetStream error)
 * rewinds to `durable` and re-publishes from the journal; JetStream's de-duplication on
 * `Nats-Msg-Id: <epoch>:<seq>` absorbs the repeats, and on every (re)connect the stream's
 * last stored id moves `durable` forward past what was stored but not acknowledged, so
 * nothing is stored twice even after an outage longer than the duplicate window.
 *
 * On the first connect, when the stream's last envelope for this session belongs to an
 * earlier epoch that this host's journal still holds, that epoch's unpublished tail goes
 * first: a bridge killed before JetStream acknowledged its last events publishes them on
 * its next boot.
 *
 * An envelope over the server's max_payload goes to the object store first (nats-large.js);
 * its stub is published only once the object is complete, and nothing after it is published
 * before the stub, so the order holds. A failed put rewinds like a failed publish.
 *
 * Never throws into the Publisher and never logs per event: an outage is logged once with
 * the count waiting, and so is the recovery.
 */
import { headers } from '@nats-io/transport-node'
import { Backoff } from './backoff.js'
import { linePosition } from './journal.js'
import { LargeObjects, OBJECT_HEADER, isLarge, objectName, stubEnvelope } from './nats-large.js'
import { ensureStream, lastPosition } from './nats-stream.js'

/** @typedef {import('./journal.js').Position} Position */
/** @typedef {{epoch: string, seq: number, line: string}} Item */

// Enough to keep a JetStream server busy without holding more than a few MB of requests.
const WINDOW = 1024
// Lines read back from the journal per refill.
const REFILL = 1000
const PUBLISH_TIMEOUT_MS = 10000

export class NatsSink {
  /**
   * @param {object} opts
   * @param {import('./journal.js').Journal} opts.journal
   * @param {string} opts.epoch this boot's epoch (the Publisher's)
   * @param {ReturnType<import('./nats-stream.js').streamConfig>} opts.stream the stream's settings
   * @param {{events: string, heartbeat: string}} opts.subjects
   * @param {{bucket: string, session: string}} opts.large where envelopes over max_payload go
   * @param {number} opts.bufferMax envelopes held in memory at most
   * @param {() => string} [opts.lease] the Wa-Lease header (the fencing term); "0" without a lease
   * @param {() => boolean} [opts.fenced] true once this host lost its session: nothing more goes out
   * @param {{info: Function, warn: Function, error: Function}} opts.logger
   * @param {Backoff} [opts.retry] delays between attempts after a failure
   */
  constructor({ journal, epoch, stream, subjects, large, bufferMax, lease = () => '0', fenced = () => false, logger, retry = new Backoff() }) {
    this.journal = journal
    this.epoch = epoch
    this.stream = stream
    this.subjects = subjects
    this.large = large
    this.bufferMax = bufferMax
    this.lease = lease
    this.fenced = fenced
    this.logger = logger
    this.retry = retry
    /** @type {Position} last acknowledged position (with everything before it) */
    this.durable = { epoch, seq: 0 }
    /** @type {Position} last position handed to JetStream */
    this.sent = this.durable
    /** @type {Item[]} envelopes after `sent`, contiguous */
    this.queue = []
    /** the journal holds envelopes after the queue's tail (the queue was full, or rewound) */
    this.spilled = false
    /** @type {{pos: Position, done: boolean}[]} publishes awaiting their ack, in order */
    this.inflight = []
    /** bumped on every rewind: acks and failures of an older generation are ignored */
    this.gen = 0
    /** this epoch's last seq given to send() */
    this.lastSeq = 0
    /** envelopes the journal evicted before JetStream had them (a very long outage) */
    this.lost = 0
    /** @type {import('@nats-io/transport-node').NatsConnection|null} */
    this.nc = null
    /** @type {import('@nats-io/jetstream').JetStreamClient|null} */
    this.js = null
    /** @type {import('@nats-io/jetstream').JetStreamManager|null} */
    this.jsm = null
    /** @type {LargeObjects|null} the object store bucket on this connection */
    this.objects = null
    /** a large envelope's object is being stored: nothing after it is published meanwhile */
    this.putting = false
    this.connected = false
    /** the stream is ensured and `durable` reconciled since the last (re)connect */
    this.ready = false
    this.resuming = false
    this.booted = false
    this.failing = false
    this.full = false
    this.stopped = false
    /** @type {NodeJS.Timeout|null} */
    this.timer = null
  }

  /** What `state` reports. */
  state() {
    const durableSeq = this.durable.epoch === this.epoch ? this.durable.seq : 0
    return { durableSeq, buffered: this.lastSeq - durableSeq, natsConnected: this.connected, lost: this.lost }
  }

  /**
   * Sink.send: an envelope just journaled. Synchronous and never throws.
   * @param {string} line @param {number} [seq] its seq (the Publisher passes it)
   */
  send(line, seq) {
    const s = seq ?? /** @type {Position} */ (linePosition(line)).seq
    this.lastSeq = s
    // While spilled, the journal serves this envelope in its turn.
    if (this.spilled) {
      // nothing to hold in memory
    } else if (this.queue.length < this.bufferMax) {
      this.queue.push({ epoch: this.epoch, seq: s, line })
    } else {
      this.spilled = true
      if (!this.full) {
        this.full = true
        this.logger.warn({ bufferMax: this.bufferMax, buffered: this.state().buffered }, 'NATS buffer full: further envelopes wait in the journal only')
      }
    }
    this.kick()
  }

  /**
   * Sink.heartbeat: core NATS, not stored; skipped while disconnected (a late heartbeat
   * proves nothing).
   * @param {string} frame
   */
  heartbeat(frame) {
    if (!this.connected || this.stopped || !this.nc || this.fenced()) return
    try {
      this.nc.publish(this.subjects.heartbeat, frame, { headers: this.#headers() })
    } catch (err) {
      this.logger.warn({ err: String(err) }, 'heartbeat publish failed')
    }
  }

  /**
   * A connection is up (first connect or a reconnect): ensure the stream, reconcile, publish.
   * @param {import('@nats-io/transport-node').NatsConnection} nc
   * @param {import('@nats-io/jetstream').JetStreamClient} js
   * @param {import('@nats-io/jetstream').JetStreamManager} jsm
   */
  attach(nc, js, jsm) {
    this.nc = nc
    this.js = js
    this.jsm = jsm
    this.objects = new LargeObjects({ js, bucket: this.large.bucket, stream: this.stream, timeoutMs: PUBLISH_TIMEOUT_MS })
    this.connected = true
    void this.resume()
  }

  /** The connection dropped: rewind now, so the reconnect re-publishes at once. */
  detach() {
    this.connected = false
    this.ready = false
    this.#rewind()
    this.#outage('NATS connection lost')
  }

  /** Stop publishing at once (the lease was lost); the journal keeps everything. */
  stop() {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    this.#rewind()
  }

  /** Publish again (the lease was acquired). */
  start() {
    this.stopped = false
    if (this.connected) void this.resume()
  }

  async resume() {
    if (this.resuming || !this.jsm || this.stopped || !this.connected) return
    this.resuming = true
    try {
      await ensureStream(this.jsm, this.stream, this.logger)
      const last = await lastPosition(this.jsm, this.stream.name, this.subjects.events)
      this.#reconcile(last)
      this.ready = true
      this.kick()
    } catch (err) {
      this.#outage('JetStream not ready', err)
      this.#retryLater()
    } finally {
      this.resuming = false
    }
  }

  /**
   * Move `durable` to what the stream already holds. Safe because one connection's publishes
   * are stored in the order they were sent, so the last stored one has all ours before it.
   * @param {Position|null} last
   */
  #reconcile(last) {
    const boot = !this.booted
    this.booted = true
    if (last === null) return
    if (last.epoch === this.durable.epoch) {
      if (last.seq <= this.durable.seq) return
      this.durable = last
    } else if (boot && last.epoch !== this.epoch && !('gone' in this.journal.readAfter(last, 1))) {
      this.durable = last
      this.logger.info({ from: last }, 'publishing the previous epoch\'s events JetStream lacks')
    } else {
      return
    }
    this.#rewind()
  }

  /** Fill the window. Synchronous; a no-op unless connected, ready and not waiting to retry. */
  kick() {
    if (!this.ready || !this.connected || this.stopped || this.timer || !this.js) return
    const maxPayload = this.nc?.info?.max_payload
    // `stopped` too: a fenced publish stops the sink in the middle of this loop.
    while (this.inflight.length < WINDOW && !this.putting && !this.stopped) {
      if (this.queue.length === 0 && !(this.spilled && this.#refill())) break
      const item = /** @type {Item} */ (this.queue.shift())
      if (isLarge(Buffer.byteLength(item.line), maxPayload)) this.#publishLarge(item)
      else this.#publish(item)
    }
  }

  /** Read the next lines after the queue's tail from the journal. @returns {boolean} any */
  #refill() {
    const from = this.queue.at(-1) ?? this.sent
    let res = this.journal.readAfter(from, REFILL)
    if ('gone' in res) {
      if (from.epoch === this.epoch && from.seq === 0) {
        res = { events: [], more: false } // nothing journaled in this epoch yet
      } else {
        // The journal evicted envelopes JetStream never acknowledged: say so loudly, count them
        // (when the epoch allows), and go on from the oldest retained one.
        res = /** @type {{events: string[], more: boolean}} */ (this.journal.readAfter(null, REFILL))
        const next = res.events.length ? linePosition(res.events[0]) : null
        const lost = next && next.epoch === from.epoch ? next.seq - from.seq - 1 : null
        if (lost) this.lost += lost
        this.logger.error({ from, next, lost }, 'the journal no longer holds envelopes JetStream has not acknowledged: they are lost')
      }
    }
    for (const line of res.events) {
      const pos = /** @type {Position} */ (linePosition(line))
      this.queue.push({ ...pos, line })
    }
    this.spilled = res.more
    if (!res.more) this.full = false
    return res.events.length > 0
  }

  /** @param {Item} item */
  #publish(item) {
    this.#send(item, this.#track(item), item.line, this.#headers())
  }

  /**
   * The object first, then its stub at the envelope's place; `putting` holds back what follows.
   * @param {Item} item
   */
  #publishLarge(item) {
    if (this.fenced()) {
      this.stop()
      return
    }
    const entry = this.#track(item)
    const gen = this.gen
    const name = objectName(this.large.session, item.epoch, item.seq)
    const objects = /** @type {LargeObjects} */ (this.objects)
    this.putting = true
    objects.put(name, Buffer.from(item.line)).then(
      () => {
        if (gen !== this.gen) return
        this.putting = false
        const h = this.#headers()
        h.set(OBJECT_HEADER, name)
        this.#send(item, entry, stubEnvelope(item.line), h)
        this.kick()
      },
      (err) => this.#failed(gen, err),
    )
  }

  /** Count an envelope as handed to JetStream, awaiting its ack in order. @param {Item} item */
  #track(item) {
    const pos = { epoch: item.epoch, seq: item.seq }
    this.sent = pos
    const entry = { pos, done: false }
    this.inflight.push(entry)
    return entry
  }

  /**
   * @param {Item} item @param {{pos: Position, done: boolean}} entry
   * @param {string} body @param {import('@nats-io/transport-node').MsgHdrs} h
   */
  #send(item, entry, body, h) {
    // Checked at every publish, on the monotonic clock: a host woken from a pause past its
    // lease's deadline sends nothing, even before its lease module has said so.
    if (this.fenced()) {
      this.stop()
      return
    }
    const js = /** @type {import('@nats-io/jetstream').JetStreamClient} */ (this.js)
    const gen = this.gen
    js.publish(this.subjects.events, body, { msgID: `${item.epoch}:${item.seq}`, headers: h, timeout: PUBLISH_TIMEOUT_MS }).then(
      () => this.#acked(entry, gen),
      (err) => this.#failed(gen, err),
    )
  }

  #headers() {
    const h = headers()
    h.set('Wa-Lease', this.lease())
    return h
  }

  /** @param {{pos: Position, done: boolean}} entry @param {number} gen */
  #acked(entry, gen) {
    if (gen !== this.gen) return
    entry.done = true
    while (this.inflight.length && this.inflight[0].done) this.durable = /** @type {{pos: Position}} */ (this.inflight.shift()).pos
    if (this.failing) {
      this.failing = false
      this.retry.reset()
      this.logger.info({ durable: this.durable, buffered: this.state().buffered }, 'JetStream publishing recovered')
    }
    this.kick()
  }

  /** @param {number} gen @param {unknown} err */
  #failed(gen, err) {
    if (gen !== this.gen) return
    // The retry goes through resume(): the stream may have been deleted, and what was stored
    // without an ack is skipped rather than sent again.
    this.ready = false
    this.#rewind()
    this.#outage('JetStream publish failed', err)
    this.#retryLater()
  }

  /** Forget what is in flight or queued; the journal serves it again from `durable`. */
  #rewind() {
    this.gen += 1
    this.putting = false
    this.inflight = []
    this.queue = []
    this.spilled = true
    this.sent = this.durable
  }

  /** Log an outage once, until publishing recovers. @param {string} what @param {unknown} [err] */
  #outage(what, err) {
    if (this.failing) return
    this.failing = true
    this.logger.warn({ err: err === undefined ? undefined : String(/** @type {any} */ (err)?.message ?? err), buffered: this.state().buffered, durable: this.durable }, `${what}: events wait in the journal until JetStream acknowledges them`)
  }

  #retryLater() {
    if (this.timer || this.stopped) return
    this.timer = setTimeout(() => {
      this.timer = null
      void this.resume()
    }, this.retry.next())
  }

  /** Stop timers (shutdown). */
  close() {
    this.stopped = true
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }
}

/**
 * The event stream: owns the epoch, the seq counter, the PUB socket and the heartbeat.
 *
 * Every event goes: serialize once -> journal (write-ahead) -> PUB. The seq starts at 1 in
 * every epoch and grows by exactly 1 per journaled event, so a subscriber detects any loss
 * as a seq gap and recovers it with the `replay` command. Heartbeats repeat the last seq
 * without consuming one and are not journaled: they only prove liveness and tell a
 * subscriber how far the stream has gone.
 */
import crypto from 'node:crypto'
import zmq from 'zeromq'
import { SendQueue } from './send-queue.js'

/**
 * A fresh boot id. The base36 millisecond prefix keeps epochs readable and roughly
 * time-ordered for humans; nothing relies on that order (journal order is authoritative).
 */
export function newEpoch() {
  return `${Date.now().toString(36).padStart(9, '0')}-${crypto.randomBytes(4).toString('hex')}`
}

/**
 * Where envelopes go after the journal. `seq` is the envelope's (heartbeats are not
 * envelopes of their own seq); a sink with `heartbeat` gets heartbeats there instead of `send`.
 * @typedef {{send(frame: string, seq?: number): void, heartbeat?(frame: string): void}} Sink
 */
/** @typedef {{connection: string, mode: 'live'|'replay', lastFrameAgeMs?: number|null, bridgeId?: string, session?: string}} Status */

export class Publisher {
  /**
   * @param {object} opts
   * @param {{append(line: string, epoch: string, seq: number): void}} opts.journal
   * @param {Sink} opts.sink
   * @param {string} [opts.epoch]
   * @param {number} [opts.heartbeatMs]
   * @param {ReadonlySet<number>} [opts.dropSeqs] test switch: journaled but not sent
   * @param {() => Status} [opts.status] connection state for heartbeats
   */
  constructor({ journal, sink, epoch = newEpoch(), heartbeatMs = 1000, dropSeqs = new Set(), status = () => ({ connection: 'idle', mode: 'live' }) }) {
    this.journal = journal
    this.sink = sink
    this.epoch = epoch
    this.seq = 0
    this.heartbeatMs = heartbeatMs
    this.dropSeqs = dropSeqs
    this.status = status
    /** @type {NodeJS.Timeout|null} */
    this.timer = null
  }

  /**
   * Journal and publish one event. Synchronous: the caller never waits on the network.
   * Throws (without consuming a seq) only if the envelope cannot be serialized or journaled.
   * @param {string} event
   * @param {unknown} data ALREADY wire-encoded (codec.encode), JSON-safe
   * @returns {number} the seq assigned
   */
  publish(event, data) {
    const seq = this.seq + 1
    // Key order is part of the contract (journal.js reads epoch and seq from the line head).
    const line = JSON.stringify({ v: 1, epoch: this.epoch, seq, ts: Date.now(), event, data: data ?? null })
    this.journal.append(line, this.epoch, seq)
    this.seq = seq
    if (!this.dropSeqs.has(seq)) this.sink.send(line, seq)
    return seq
  }

  /** Send one heartbeat now. */
  heartbeat() {
    const frame = JSON.stringify({ v: 1, epoch: this.epoch, seq: this.seq, ts: Date.now(), event: 'bridge.heartbeat', data: this.status() })
    if (this.sink.heartbeat) this.sink.heartbeat(frame)
    else this.sink.send(frame)
  }

  startHeartbeat() {
    this.stopHeartbeat()
    this.timer = setInterval(() => this.heartbeat(), this.heartbeatMs)
  }

  stopHeartbeat() {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
  }
}

/**
 * Bind a zmq PUB socket and wrap it as a Sink.
 * @param {object} opts
 * @param {string} opts.endpoint
 * @param {number} opts.hwm sendHighWaterMark (also bounds the JS-side queue)
 * @param {{warn: Function}} [opts.logger]
 * @param {Record<string, unknown>} [opts.curve] CURVE server options (curve.js)
 * @returns {Promise<Sink & {socket: zmq.Publisher, queue: SendQueue, close(): void}>}
 */
export async function bindPubSink({ endpoint, hwm, logger, curve = {} }) {
  const socket = new zmq.Publisher({ sendHighWaterMark: hwm, linger: 0, ...curve })
  try {
    await socket.bind(endpoint)
  } catch (err) {
    socket.close()
    throw err
  }
  const queue = new SendQueue(socket, { maxQueued: hwm, logger })
  return {
    socket,
    queue,
    send: (frame) => queue.send(frame),
    close: () => socket.close(),
  }
}

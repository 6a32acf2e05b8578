import assert from 'node:assert/strict'
import path from 'node:path'
import { test } from 'node:test'
import zmq from 'zeromq'
import { Journal } from '../src/journal.js'
import { Publisher, bindPubSink, newEpoch } from '../src/publisher.js'
import { collect, sleep, tmpDir, waitFor } from './helpers.js'

/** A sink that keeps what it was given. */
class MemorySink {
  constructor() {
    /** @type {string[]} */
    this.frames = []
  }
  /** @param {string} f */
  send(f) {
    this.frames.push(f)
  }
  get envelopes() {
    return this.frames.map((f) => JSON.parse(f))
  }
}

test('epoch format: base36 time, dash, 8 hex chars; unique per boot', () => {
  const a = newEpoch()
  assert.match(a, /^[0-9a-z]{9}-[0-9a-f]{8}$/)
  assert.notEqual(a, newEpoch())
})

test('seq is strictly +1 from 1; envelope keys in contract order; journaled before sent', (t) => {
  const journal = new Journal({ dir: tmpDir(t) })
  const sink = new MemorySink()
  const order = []
  const spyJournal = {
    /** @param {string} l @param {string} e @param {number} s */
    append: (l, e, s) => {
      order.push(`journal:${s}`)
      journal.append(l, e, s)
    },
  }
  const p = new Publisher({ journal: spyJournal, sink: { send: (f) => (order.push(`send:${JSON.parse(f).seq}`), sink.send(f)) }, epoch: 'E1' })
  for (let i = 0; i < 5; i++) assert.equal(p.publish('messages.upsert', { i }), i + 1)
  assert.deepEqual(sink.envelopes.map((e) => e.seq), [1, 2, 3, 4, 5])
  assert.deepEqual(Object.keys(sink.envelopes[0]), ['v', 'epoch', 'seq', 'ts', 'event', 'data'])
  assert.deepEqual(order.slice(0, 4), ['journal:1', 'send:1', 'journal:2', 'send:2'])
  // The journal holds exactly the published bytes.
  assert.deepEqual(/** @type {any} */ (journal.readAfter({ epoch: 'E1', seq: 0 }, 10)).events, sink.frames)
  journal.close()
})

test('a failed journal write consumes no seq and sends nothing', () => {
  const sink = new MemorySink()
  let fail = true
  const p = new Publisher({
    journal: {
      append: () => {
        if (fail) throw new Error('ENOSPC')
      },
    },
    sink,
    epoch: 'E',
  })
  assert.throws(() => p.publish('x', {}), /ENOSPC/)
  fail = false
  assert.equal(p.publish('x', {}), 1)
  assert.deepEqual(sink.envelopes.map((e) => e.seq), [1])
})

test('heartbeat carries the last seq without consuming one and is not journaled', (t) => {
  const journal = new Journal({ dir: tmpDir(t) })
  const sink = new MemorySink()
  const p = new Publisher({ journal, sink, epoch: 'E', status: () => ({ connection: 'open', mode: 'live' }) })
  p.heartbeat()
  p.publish('a', 1)
  p.publish('b', 2)
  p.heartbeat()
  assert.equal(p.publish('c', 3), 3)
  const hb = sink.envelopes.filter((e) => e.event === 'bridge.heartbeat')
  assert.deepEqual(hb.map((e) => e.seq), [0, 2])
  assert.deepEqual(hb[1].data, { connection: 'open', mode: 'live' })
  assert.equal(journal.stats().events, 3)
  journal.close()
})

test('heartbeat timer fires periodically', async (t) => {
  const sink = new MemorySink()
  const p = new Publisher({ journal: { append() {} }, sink, heartbeatMs: 20 })
  p.startHeartbeat()
  t.after(() => p.stopHeartbeat())
  await waitFor(() => sink.frames.length >= 3, 'three heartbeats', 10000)
  p.stopHeartbeat()
  const beats = sink.frames.length
  await sleep(60)
  assert.equal(sink.frames.length, beats, 'no beat after stopHeartbeat()')
})

test('drop switch: listed seqs are journaled but not sent', (t) => {
  const journal = new Journal({ dir: tmpDir(t) })
  const sink = new MemorySink()
  const p = new Publisher({ journal, sink, epoch: 'E', dropSeqs: new Set([2, 4]) })
  for (let i = 0; i < 5; i++) p.publish('e', i)
  assert.deepEqual(sink.envelopes.map((e) => e.seq), [1, 3, 5])
  const all = /** @type {any} */ (journal.readAfter({ epoch: 'E', seq: 0 }, 10)).events.map((/** @type {string} */ l) => JSON.parse(l).seq)
  assert.deepEqual(all, [1, 2, 3, 4, 5])
  journal.close()
})

test('zmq sink: a burst published without awaiting arrives complete and in order', async (t) => {
  const dir = tmpDir(t)
  const endpoint = `ipc://${path.join(dir, 'pub.sock')}`
  const sink = await bindPubSink({ endpoint, hwm: 100000 })
  const sub = new zmq.Subscriber({ receiveTimeout: 100 })
  t.after(() => {
    sub.close()
    sink.close()
  })
  sub.connect(endpoint)
  sub.subscribe()
  const journal = new Journal({ dir: path.join(dir, 'j') })
  const p = new Publisher({ journal, sink, epoch: 'E' })
  // Wait for the subscription to reach the PUB (slow joiner), using heartbeats as probes.
  for (let i = 0; i < 100; i++) {
    p.heartbeat()
    try {
      await collect(sub, () => true, { heartbeats: true, timeoutMs: 100 })
      break
    } catch {
      // not subscribed yet
    }
  }
  const N = 5000
  for (let i = 0; i < N; i++) p.publish('e', { i }) // synchronous burst: must not hit EBUSY
  const got = await collect(sub, (e) => e.seq === N)
  assert.deepEqual(got.map((e) => e.seq), Array.from({ length: N }, (_, i) => i + 1))
  assert.equal(sink.queue.dropped, 0)
  journal.close()
})

/** The pure parts of NATS mode: backoff, the stream's settings and their update, message ids. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { nanos } from '@nats-io/transport-node'
import { Backoff } from '../src/backoff.js'
import { parseMsgId, streamConfig, streamUpdate, subjects } from '../src/nats-stream.js'

test('backoff: delays grow (never shrink) from 0.5 s to a 10 s cap, jittered, and restart after reset', () => {
  for (const r of [0, 0.5, 0.999]) {
    const b = new Backoff({ minMs: 500, maxMs: 10000, random: () => r })
    const delays = Array.from({ length: 10 }, () => b.next())
    assert.deepEqual(delays, [...delays].sort((x, y) => x - y))
    assert.ok(delays.every((d) => d >= 500 && d <= 10000), String(delays))
    assert.ok(delays.at(-1) >= 5000)
    b.reset()
    assert.equal(b.next(), 500)
  }
  const spread = new Set(Array.from({ length: 50 }, () => Object.assign(new Backoff(), { attempt: 3 }).next()))
  assert.ok(spread.size > 5, 'two bridges do not retry in lockstep')
})

test('stream settings: the contract (subjects, file storage, limits, discard old, 120 s dedup, direct get)', () => {
  const c = streamConfig({ stream: 'WA_EVENTS', prefix: 'wa', maxAgeS: 604800, maxBytes: 1073741824, replicas: 3 })
  assert.deepEqual(c, {
    name: 'WA_EVENTS',
    subjects: ['wa.*.events'],
    storage: 'file',
    retention: 'limits',
    max_age: nanos(604800 * 1000),
    max_bytes: 1073741824,
    num_replicas: 3,
    discard: 'old',
    duplicate_window: nanos(120 * 1000),
    allow_direct: true,
  })
  // JetStream refuses a duplicate window longer than max_age.
  assert.equal(streamConfig({ stream: 'S', prefix: 'p', maxAgeS: 60, maxBytes: 1, replicas: 1 }).duplicate_window, nanos(60000))
  assert.deepEqual(subjects('wa', 'desk-1'), { events: 'wa.desk-1.events', heartbeat: 'wa.desk-1.heartbeat', cmd: 'wa.desk-1.cmd' })
})

test('stream update: nothing when the settings match; otherwise ours, with the other subjects kept', () => {
  const wanted = streamConfig({ stream: 'S', prefix: 'wa', maxAgeS: 600, maxBytes: 1000, replicas: 1 })
  assert.equal(streamUpdate({ ...wanted, max_msgs: -1 }, wanted), null)
  assert.equal(streamUpdate({ ...wanted, subjects: ['other.>', 'wa.*.events'] }, wanted), null)
  const update = streamUpdate({ ...wanted, subjects: ['other.>'], max_age: 1, allow_direct: false, sealed: false }, wanted)
  assert.deepEqual(update, { ...wanted, subjects: ['other.>', 'wa.*.events'], sealed: false })
})

test('Nats-Msg-Id: <epoch>:<seq> parses back; anything else is no position', () => {
  assert.deepEqual(parseMsgId('0mxb43prf-2b96be51:42'), { epoch: '0mxb43prf-2b96be51', seq: 42 })
  for (const bad of ['', '42', ':1', 'e:0', 'e:x', 'e:1.5']) assert.equal(parseMsgId(bad), null, bad)
})

/**
 * End to end with real processes: `node src/main.js` in replay mode, a zmq Subscriber and
 * a DEALER client, across a restart on the same data directory.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import zmq from 'zeromq'
import { ROOT, collect, commandClient, spawnBridge, tmpDir } from './helpers.js'

const N = 20000

/**
 * Subscribe before the bridge binds (ZeroMQ reconnects), so normally nothing is missed;
 * whatever the slow-joiner window still loses at the very start is fetched with `replay`,
 * exactly as the orchestrator does.
 * @param {string} endpoint
 */
function subscriber(endpoint) {
  const sub = new zmq.Subscriber({ receiveTimeout: 200, reconnectInterval: 10, receiveHighWaterMark: 0 })
  sub.connect(endpoint)
  sub.subscribe()
  return sub
}

/**
 * Envelopes received until the stream reached `seq` (seen on an event or a heartbeat, so
 * this ends even when the subscriber joined after the last event).
 * @param {zmq.Subscriber} sub @param {number} seq
 */
async function receiveUntil(sub, seq) {
  const got = await collect(sub, (e) => e.seq >= seq, { heartbeats: true })
  return got.filter((e) => e.event !== 'bridge.heartbeat')
}

/** @param {any[]} envs */
const seqsOf = (envs) => envs.map((e) => e.seq)

test('replay mode end to end: sequencing, state, replay, restart, drop switch, SIGTERM', async (t) => {
  const dir = tmpDir(t)
  const capture = path.join(dir, 'cap.jsonl')
  execFileSync(process.execPath, ['scripts/make-capture.js', '--out', capture, '--events', String(N), '--seed', '7'], { cwd: ROOT })
  assert.equal(fs.readFileSync(capture, 'utf8').trimEnd().split('\n').length, N)
  const env = {
    BRIDGE_PUB: `ipc://${path.join(dir, 'pub')}`,
    BRIDGE_ROUTER: `ipc://${path.join(dir, 'router')}`,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: capture,
    BRIDGE_HEARTBEAT_MS: '100',
  }

  // ---- first boot ----
  let sub = subscriber(env.BRIDGE_PUB)
  let client = commandClient(env.BRIDGE_ROUTER)
  let bridge = spawnBridge(env)
  t.after(() => {
    sub.close()
    client.close()
    bridge.child.kill('SIGKILL')
  })
  const live = await receiveUntil(sub, N + 2)
  assert.ok(live.length > N / 2, `subscriber joined very late: ${live.length} envelopes`)
  const epoch1 = live[0].epoch
  const first = live[0].seq
  // What the subscriber got is gap-free up to the end...
  assert.deepEqual(seqsOf(live), Array.from({ length: N + 2 - first + 1 }, (_, i) => first + i))
  assert.ok(live.every((e) => e.epoch === epoch1 && e.v === 1))
  // ...and `replay` from the start returns all N+2, identical where they overlap.
  const all = []
  let pos = { epoch: epoch1, seq: 0 }
  for (;;) {
    const r = await client.call('replay', { ...pos, limit: 1000 })
    assert.equal(r.ok, true, JSON.stringify(r.error))
    all.push(...r.result.events)
    if (!r.result.more) break
    pos = { epoch: epoch1, seq: all.at(-1).seq }
  }
  assert.deepEqual(seqsOf(all), Array.from({ length: N + 2 }, (_, i) => i + 1))
  assert.deepEqual(all.slice(first - 1), live)
  assert.equal(all[0].event, 'bridge.started')
  assert.equal(all[0].data.mode, 'replay')
  assert.equal(all[0].data.previous, null)
  assert.deepEqual(Object.keys(all[0].data.versions), ['bridge', 'baileys', 'node'])
  assert.equal(all[1].event, 'chats.upsert')
  assert.equal(all[2].event, 'contacts.upsert')
  assert.deepEqual(all.at(-1).data, { file: capture, events: N, skipped: 0 })
  // Replay from a middle position equals what was published from there.
  const mid = await client.call('replay', { epoch: epoch1, seq: 1234, limit: 10 })
  assert.deepEqual(mid.result.events, all.slice(1234, 1244))

  // The bridge stays up after the replay: heartbeats and state.
  const hb = await collect(sub, (e) => e.event === 'bridge.heartbeat', { heartbeats: true, timeoutMs: 3000 })
  const bridgeId = fs.readFileSync(path.join(env.BRIDGE_DATA_DIR, 'bridge-id'), 'utf8').trim()
  assert.deepEqual(
    { seq: hb.at(-1).seq, data: hb.at(-1).data },
    { seq: N + 2, data: { bridgeId, session: 'default', connection: 'idle', mode: 'replay', lastFrameAgeMs: null } },
  )
  const st = await client.call('state')
  assert.equal(st.result.epoch, epoch1)
  assert.equal(st.result.seq, N + 2)
  assert.equal(st.result.mode, 'replay')
  assert.equal(st.result.journal.events, N + 2)
  assert.equal((await client.call('connect')).error.code, 'replay_mode')
  // The docker healthcheck answers 0 against a live bridge.
  execFileSync(process.execPath, ['src/healthcheck.js'], { cwd: ROOT, env: { ...process.env, BRIDGE_ROUTER: env.BRIDGE_ROUTER } })

  const stopped = await bridge.stop()
  assert.equal(stopped.code, 0, bridge.output())
  assert.equal(stopped.cutShort, false, 'SIGTERM finished its work before the deadline')
  sub.close()
  client.close()

  // ---- second boot on the same data dir: new epoch, a bad capture line, a dropped seq ----
  const capture2 = path.join(dir, 'cap2.jsonl')
  const lines = fs.readFileSync(capture, 'utf8').split('\n').slice(0, 20)
  lines.splice(5, 0, '{"event": "messages.upsert", "data": ') // truncated line
  fs.writeFileSync(capture2, lines.join('\n') + '\n')
  sub = subscriber(env.BRIDGE_PUB)
  client = commandClient(env.BRIDGE_ROUTER)
  // Paced at 100 events/s so the subscriber has joined long before seq 20 (~200 ms in).
  bridge = spawnBridge({ ...env, BRIDGE_REPLAY: capture2, BRIDGE_REPLAY_RATE: '100', BRIDGE_TEST_DROP_SEQS: '20' })
  const live2 = await receiveUntil(sub, 23)
  const epoch2 = live2.at(-1).epoch
  assert.notEqual(epoch2, epoch1)
  assert.deepEqual(seqsOf(live2).filter((s) => s >= 19), [19, 21, 22, 23], 'seq 20 must be withheld from PUB')
  const tail = await client.call('replay', { epoch: epoch1, seq: N, limit: 100 })
  const events = tail.result.events
  // The old epoch's tail, then the whole new epoch (including the withheld seq 4).
  assert.deepEqual(events.slice(0, 2).map((/** @type {any} */ e) => [e.epoch, e.seq]), [[epoch1, N + 1], [epoch1, N + 2]])
  assert.deepEqual(seqsOf(events.slice(2)), Array.from({ length: 23 }, (_, i) => i + 1))
  assert.ok(events.slice(2).every((/** @type {any} */ e) => e.epoch === epoch2))
  assert.deepEqual(live2, events.slice(2).filter((/** @type {any} */ e) => e.seq >= live2[0].seq && e.seq !== 20))
  assert.deepEqual(events[2].data.previous, { epoch: epoch1, seq: N + 2 })
  const capErr = events.find((/** @type {any} */ e) => e.event === 'bridge.capture_error')
  assert.equal(capErr.data.line, 6)
  assert.equal(capErr.data.file, capture2)
  assert.deepEqual(events.at(-1).data, { file: capture2, events: 20, skipped: 1 })
  assert.match(bridge.output(), /BRIDGE_TEST_DROP_SEQS/)
  // A position older than anything retained is reported, not papered over.
  const gone = await client.call('replay', { epoch: 'not-an-epoch', seq: 1 })
  assert.equal(gone.error.code, 'position_gone')
  assert.deepEqual(gone.error.oldest, { epoch: epoch1, seq: 1 })
  assert.deepEqual(gone.error.last, { epoch: epoch2, seq: 23 })
  const stopped2 = await bridge.stop()
  assert.equal(stopped2.code, 0)
})

test('an endpoint in use makes the bridge exit 1; invalid config exits 2', async (t) => {
  const dir = tmpDir(t)
  const capture = path.join(dir, 'cap.jsonl')
  fs.writeFileSync(capture, '')
  // Hold a random TCP port (ipc endpoints can be silently re-bound by another process).
  const holder = new zmq.Publisher()
  await holder.bind('tcp://127.0.0.1:*')
  t.after(() => holder.close())
  const env = {
    BRIDGE_PUB: /** @type {string} */ (holder.lastEndpoint),
    BRIDGE_ROUTER: `ipc://${path.join(dir, 'router')}`,
    BRIDGE_REPLAY: capture,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
  }
  const b = spawnBridge(env)
  t.after(() => b.child.kill('SIGKILL'))
  assert.equal((await b.exited).code, 1, b.output())
  assert.match(b.output(), /cannot bind the PUB endpoint/)
  const bad = spawnBridge({ ...env, BRIDGE_HEARTBEAT_MS: 'soon' })
  t.after(() => bad.child.kill('SIGKILL'))
  assert.equal((await bad.exited).code, 2)
  assert.match(bad.output(), /BRIDGE_HEARTBEAT_MS/)
})

test('the healthcheck exits 1 when nothing answers', (t) => {
  const t0 = Date.now()
  const dead = `ipc://${path.join(tmpDir(t), 'nobody')}`
  assert.throws(
    () => execFileSync(process.execPath, ['src/healthcheck.js'], { cwd: ROOT, env: { ...process.env, BRIDGE_ROUTER: dead }, stdio: 'pipe' }),
    (/** @type {any} */ err) => err.status === 1,
  )
  assert.ok(Date.now() - t0 < 6000)
})

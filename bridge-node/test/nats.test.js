/**
 * NATS mode end to end (issue #15): `node src/main.js` in replay mode with BRIDGE_NATS_URL,
 * against a nats-server of the test's own (free port, temporary store), read back with the
 * official client. Each test names its own stream and prefix.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import net from 'node:net'
import path from 'node:path'
import { test } from 'node:test'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { Objm } from '@nats-io/obj'
import { connect, nanos } from '@nats-io/transport-node'
import { streamConfig } from '../src/nats-stream.js'
import { ROOT, spawnBridge, tmpDir, waitFor } from './helpers.js'
import { NatsServer, freePort, startNatsServer, uniqueNames } from './nats-server.js'

/** @param {string} dir @param {number} events @param {string} [seed] */
function makeCapture(dir, events, seed = '7') {
  const file = path.join(dir, 'cap.jsonl')
  execFileSync(process.execPath, ['scripts/make-capture.js', '--out', file, '--events', String(events), '--seed', seed], { cwd: ROOT })
  return file
}

/** Every line the bridge journaled, in journal order (the truth JetStream must match). @param {string} dataDir */
function journalLines(dataDir) {
  const dir = path.join(dataDir, 'journal')
  return fs
    .readdirSync(dir)
    .sort()
    .flatMap((f) => fs.readFileSync(path.join(dir, f), 'utf8').split('\n').filter(Boolean))
}

/**
 * The event of the journal's last whole line; undefined while that line is still being written
 * (a multi-MiB line is read half-written on a busy machine). @param {string} dataDir
 */
function lastJournalEvent(dataDir) {
  const text = fs.readdirSync(path.join(dataDir, 'journal')).sort().map((f) => fs.readFileSync(path.join(dataDir, 'journal', f), 'utf8')).join('')
  if (!text.endsWith('\n')) return undefined
  return JSON.parse(text.trimEnd().split('\n').at(-1) ?? '{}').event
}

/** The bridge's JSON log lines with this message. @param {string} output @param {string} msg */
function logs(output, msg) {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l))
    .filter((r) => r.msg === msg)
}

/** @param {import('@nats-io/transport-node').NatsConnection} nc @param {string} stream */
async function streamMessages(nc, stream) {
  const jsm = await jetstreamManager(nc)
  const total = (await jsm.streams.info(stream)).state.messages
  /** @type {{seq: number, subject: string, id: string|undefined, lease: string|undefined, object: string|undefined, body: string}[]} */
  const out = []
  if (total === 0) return out
  const consumer = await jetstream(nc).consumers.get(stream) // ordered, ephemeral
  const messages = await consumer.consume()
  for await (const m of messages) {
    const object = m.headers?.has('Wa-Object') ? m.headers.get('Wa-Object') : undefined
    out.push({ seq: m.seq, subject: m.subject, id: m.headers?.get('Nats-Msg-Id'), lease: m.headers?.get('Wa-Lease'), object, body: m.string() })
    if (out.length >= total) break
  }
  return out
}

/** @param {import('@nats-io/transport-node').NatsConnection} nc @param {string} stream */
async function messageCount(nc, stream) {
  try {
    return (await (await jetstreamManager(nc)).streams.info(stream)).state.messages
  } catch {
    return -1 // not created yet
  }
}

/** @param {import('@nats-io/transport-node').NatsConnection} nc @param {string} subject @param {string} method @param {unknown} [params] */
async function call(nc, subject, method, params) {
  const reply = await nc.request(subject, JSON.stringify({ id: `t-${method}`, method, params }), { timeout: 10000 })
  return JSON.parse(reply.string())
}

/**
 * The bridge's state once it has JetStream's ack for event `seq`. The stream can hold an
 * event before its ack reaches the bridge, so a count of the stream is not enough.
 * @param {import('@nats-io/transport-node').NatsConnection} nc @param {string} cmd @param {number} seq @param {string} what
 */
async function durableState(nc, cmd, seq, what) {
  /** @type {any} */
  let st
  await waitFor(async () => {
    st = await call(nc, cmd, 'state').catch(() => null)
    return st?.result?.durableSeq === seq
  }, what)
  return st
}

/** The contract's settings, as a live stream reports them. @param {{stream: string, prefix: string}} names */
function expectedConfig(names) {
  const { name, subjects, storage, retention, max_age, max_bytes, num_replicas, discard, duplicate_window, allow_direct } = streamConfig({
    ...names,
    maxAgeS: 604800,
    maxBytes: 1073741824,
    replicas: 1,
  })
  return { name, subjects, storage, retention, max_age, max_bytes, num_replicas, discard, duplicate_window, allow_direct }
}

/** @param {Record<string, any>} config @param {Record<string, any>} expected */
function pick(config, expected) {
  return Object.fromEntries(Object.keys(expected).map((k) => [k, config[k]]))
}

/**
 * What a reader does with a large envelope's stub: check it (the envelope without its data, at
 * the object's name) and put the object's bytes in its place.
 * @param {import('@nats-io/transport-node').NatsConnection} nc @param {string} prefix
 * @param {Awaited<ReturnType<typeof streamMessages>>} got
 */
async function resolveObjects(nc, prefix, got) {
  const store = await new Objm(nc).open(`${prefix}-large`)
  return Promise.all(
    got.map(async (m) => {
      if (m.object === undefined) return m
      const stub = JSON.parse(m.body)
      assert.equal(m.object, `default.${stub.epoch}.${stub.seq}`)
      assert.equal(m.body, JSON.stringify({ v: 1, epoch: stub.epoch, seq: stub.seq, ts: stub.ts, event: stub.event, data: null }))
      const bytes = await store.getBlob(m.object)
      assert.ok(bytes, `object ${m.object} is stored`)
      return { ...m, body: Buffer.from(bytes).toString('utf8') }
    }),
  )
}

/**
 * The stream holds exactly the journal, once each and in order: subject, Nats-Msg-Id and
 * Wa-Lease headers, the bytes of every envelope.
 * @param {Awaited<ReturnType<typeof streamMessages>>} got @param {string[]} journal @param {string} prefix
 */
function assertStreamIsJournal(got, journal, prefix) {
  assert.equal(got.length, journal.length, 'one stream message per journaled envelope')
  got.forEach((m, i) => {
    const e = JSON.parse(journal[i])
    assert.equal(m.body, journal[i], `stream seq ${m.seq} is journal line ${i}`)
    assert.equal(m.subject, `${prefix}.default.events`)
    assert.equal(m.id, `${e.epoch}:${e.seq}`)
    assert.match(m.lease, /^[1-9][0-9]*$/, 'the holder\'s lease term')
  })
}

test('NATS mode: a replayed capture lands in JetStream once each, in order, with the contract headers; the stream has the contract settings; heartbeats; no ZeroMQ bound', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const names = uniqueNames()
  const dir = tmpDir(t)
  const N = 3000
  const env = {
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: makeCapture(dir, N),
    BRIDGE_PUB: `ipc://${path.join(dir, 'pub')}`,
    BRIDGE_ROUTER: `ipc://${path.join(dir, 'router')}`,
    BRIDGE_HEARTBEAT_MS: '100',
    BRIDGE_LOG_LEVEL: 'info',
  }
  const nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  const heartbeats = nc.subscribe(`${names.prefix}.default.heartbeat`)
  const bridge = spawnBridge(env)
  t.after(() => bridge.child.kill('SIGKILL'))

  await waitFor(async () => (await messageCount(nc, names.stream)) >= N + 2, `${N + 2} messages in the stream`)
  const info = await (await jetstreamManager(nc)).streams.info(names.stream)
  const expected = expectedConfig(names)
  assert.deepEqual(pick(info.config, expected), expected)
  assert.equal(expected.duplicate_window, nanos(120000))

  const got = await streamMessages(nc, names.stream)
  const journal = journalLines(env.BRIDGE_DATA_DIR)
  assert.equal(journal.length, N + 2)
  assertStreamIsJournal(got, journal, names.prefix)
  assert.equal(JSON.parse(journal[0]).event, 'bridge.started')
  assert.equal(JSON.parse(journal[N + 1]).event, 'bridge.replay_finished')

  // Heartbeats: core NATS, the same envelope as on ZeroMQ, with the lease header.
  for await (const m of heartbeats) {
    const hb = JSON.parse(m.string())
    if (hb.seq < N + 2) continue
    assert.equal(hb.event, 'bridge.heartbeat')
    // Who it is too (identity.js): on NATS the subjects name the session, and this says so.
    const bridgeId = fs.readFileSync(path.join(env.BRIDGE_DATA_DIR, 'bridge-id'), 'utf8').trim()
    assert.deepEqual(hb.data, { bridgeId, session: 'default', connection: 'idle', mode: 'replay', lastFrameAgeMs: null })
    assert.match(m.headers?.get('Wa-Lease') ?? '', /^[1-9][0-9]*$/)
    break
  }
  assert.equal(await messageCount(nc, names.stream), N + 2, 'heartbeats are not stored')
  assert.ok(!fs.existsSync(path.join(dir, 'pub')) && !fs.existsSync(path.join(dir, 'router')), 'no ZeroMQ socket is bound in NATS mode')
  assert.match(bridge.output(), new RegExp(`"nats":"${server.url}"`))

  const stopped = await bridge.stop()
  assert.equal(stopped.code, 0, bridge.output())
  assert.equal(stopped.cutShort, false, 'SIGTERM finished its work before the deadline')
})

test('NATS mode: commands over request/reply answer as over ZeroMQ (state with durableSeq, error codes, replay)', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const names = uniqueNames()
  const dir = tmpDir(t)
  const N = 200
  const env = {
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_SESSION: 'desk-1',
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: makeCapture(dir, N),
  }
  const bridge = spawnBridge(env)
  t.after(() => bridge.child.kill('SIGKILL'))
  const nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  const cmd = `${names.prefix}.desk-1.cmd`

  const st = await durableState(nc, cmd, N + 2, 'state: every event durable')
  assert.equal(st.id, 't-state')
  assert.equal(st.ok, true)
  assert.deepEqual({ seq: st.result.seq, durableSeq: st.result.durableSeq, buffered: st.result.buffered, natsConnected: st.result.natsConnected, mode: st.result.mode }, { seq: N + 2, durableSeq: N + 2, buffered: 0, natsConnected: true, mode: 'replay' })

  assert.deepEqual(await call(nc, cmd, 'noSuchMethod'), { id: 't-noSuchMethod', ok: false, error: { code: 'unknown_method', message: 'unknown method "noSuchMethod"' } })
  assert.equal((await call(nc, cmd, 'connect')).error.code, 'replay_mode')
  assert.equal((await call(nc, cmd, 'sendMessage', 'not-an-array')).error.code, 'bad_request')
  const bad = await nc.request(cmd, 'not json', { timeout: 10000 })
  assert.deepEqual(JSON.parse(bad.string()).error.code, 'bad_request')
  const replay = await call(nc, cmd, 'replay', { epoch: st.result.epoch, seq: 10, limit: 5 })
  assert.deepEqual(replay.result.events.map((/** @type {any} */ e) => e.seq), [11, 12, 13, 14, 15])
  // A large page is cut to fit the NATS max_payload (`more` says so) instead of failing.
  const all = await call(nc, cmd, 'replay', { epoch: st.result.epoch, seq: 0, limit: 10000 })
  assert.equal(all.ok, true)
  assert.ok(all.result.events.length > 0)
  assert.equal(all.result.more, all.result.events.length < N + 2)
  assert.equal((await bridge.stop()).code, 0)
})

test('NATS unreachable at start: the URL is logged, retries back off (no tight loop), everything is published once NATS comes', async (t) => {
  const dir = tmpDir(t)
  // A listener on the port NATS will have: it counts the bridge's connection attempts.
  const port = await freePort()
  /** @type {number[]} */
  const attempts = []
  const listener = net.createServer((socket) => {
    attempts.push(Date.now())
    socket.destroy()
  })
  await new Promise((resolve) => listener.listen(port, '127.0.0.1', () => resolve(undefined)))
  t.after(() => listener.close())
  const names = uniqueNames()
  const N = 500
  const url = `nats://127.0.0.1:${port}`
  const env = {
    BRIDGE_NATS_URL: url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: makeCapture(dir, N),
    BRIDGE_NATS_BUFFER: '100', // smaller than the capture: the rest waits in the journal only
    BRIDGE_LOG_LEVEL: 'info',
  }
  const bridge = spawnBridge(env)
  t.after(() => bridge.child.kill('SIGKILL'))
  await waitFor(() => attempts.length >= 4, '4 connection attempts')
  const spanMs = attempts[3] - attempts[0]
  // Delays of at least 0.5, 0.5 and 1 s: a tight loop would make hundreds of attempts.
  assert.ok(spanMs >= 1800, `4 attempts within ${spanMs} ms`)
  const retries = logs(bridge.output(), 'NATS unreachable; retrying')
  assert.ok(retries.length >= 3, bridge.output())
  assert.ok(retries.every((r) => r.url === url))
  const delays = retries.map((r) => r.retryInMs)
  assert.deepEqual(delays, [...delays].sort((a, b) => a - b), `delays grow: ${delays}`)
  assert.ok(delays.every((d) => d >= 500 && d <= 10000), `delays within 0.5-10 s: ${delays}`)
  // Without NATS there is no lease: the host waits as a standby, journals nothing, and lives.
  assert.ok(!fs.existsSync(path.join(env.BRIDGE_DATA_DIR, 'journal')), 'a standby journals nothing')
  assert.equal(bridge.child.exitCode, null)

  await new Promise((resolve) => listener.close(() => resolve(undefined)))
  const server = new NatsServer(fs.mkdtempSync(path.join(dir, 'nats-')), port)
  t.after(() => server.stop())
  await server.start()
  const nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  await waitFor(async () => (await messageCount(nc, names.stream)) >= N + 2, 'everything published')
  assertStreamIsJournal(await streamMessages(nc, names.stream), journalLines(env.BRIDGE_DATA_DIR), names.prefix)
  const st = await durableState(nc, `${names.prefix}.default.cmd`, N + 2, 'every ack back at the bridge')
  assert.equal(st.result.buffered, 0)
  assert.equal((await bridge.stop()).code, 0)
})

test('NATS restarts mid-traffic (file storage, same store): nothing lost, nothing duplicated, the bridge recovers by itself', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const names = uniqueNames()
  const dir = tmpDir(t)
  const N = 6000
  const env = {
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: makeCapture(dir, N),
    BRIDGE_REPLAY_RATE: '1000',
    BRIDGE_LOG_LEVEL: 'info',
  }
  const bridge = spawnBridge(env)
  t.after(() => bridge.child.kill('SIGKILL'))
  let nc = await connect({ servers: server.url })
  await waitFor(async () => (await messageCount(nc, names.stream)) >= 1000, '1000 events in the stream')
  await nc.close()

  await server.stop()
  // While NATS is away the bridge keeps journaling (and does not crash).
  const before = journalLines(env.BRIDGE_DATA_DIR).length
  await waitFor(() => journalLines(env.BRIDGE_DATA_DIR).length >= before + 500, '500 more events journaled during the outage')
  assert.equal(bridge.child.exitCode, null)
  await server.start()

  nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  const cmd = `${names.prefix}.default.cmd`
  const st = await durableState(nc, cmd, N + 2, 'every event durable after the restart')
  assert.deepEqual([st.result.buffered, st.result.natsConnected], [0, true])
  assertStreamIsJournal(await streamMessages(nc, names.stream), journalLines(env.BRIDGE_DATA_DIR), names.prefix)

  // The outage is logged once (not per event); the buffered count went up, then back to 0.
  const out = bridge.output()
  const outages = out.split('\n').filter((l) => l.includes('events wait in the journal until JetStream acknowledges them'))
  assert.equal(outages.length, 1, out)
  const restored = logs(out, 'NATS connection restored')
  assert.equal(restored.length, 1, out)
  assert.ok(restored[0].buffered >= 500, `buffered at reconnect: ${restored[0].buffered}`)
  assert.equal(logs(out, 'JetStream publishing recovered').length, 1, out)
  assert.equal((await bridge.stop()).code, 0)
})

test('a stream that exists with other settings is updated to the contract (its other subjects kept)', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const names = uniqueNames()
  const nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  const jsm = await jetstreamManager(nc)
  await jsm.streams.add({
    name: names.stream,
    subjects: [`${names.prefix}-other.>`],
    max_age: nanos(3600 * 1000),
    max_bytes: 1000000,
    duplicate_window: nanos(10000),
    allow_direct: false,
  })
  const dir = tmpDir(t)
  const env = {
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: makeCapture(dir, 10),
    BRIDGE_LOG_LEVEL: 'info',
  }
  const bridge = spawnBridge(env)
  t.after(() => bridge.child.kill('SIGKILL'))
  await waitFor(async () => (await messageCount(nc, names.stream)) >= 12, 'the capture in the stream')
  const { config } = await jsm.streams.info(names.stream)
  const expected = expectedConfig(names)
  assert.deepEqual(pick(config, expected), { ...expected, subjects: [`${names.prefix}-other.>`, `${names.prefix}.*.events`] })
  assert.equal(logs(bridge.output(), 'JetStream stream updated to our settings').length, 1)
  assert.equal((await bridge.stop()).code, 0)
})

test('NATS settings: invalid values exit 2 with the variable named and no credentials quoted', async (t) => {
  const dir = tmpDir(t)
  const base = { BRIDGE_DATA_DIR: path.join(dir, 'data'), BRIDGE_REPLAY: path.join(dir, 'none.jsonl') }
  for (const [name, value] of [
    ['BRIDGE_NATS_PREFIX', 'wa.events'],
    ['BRIDGE_SESSION', 'a b'],
    ['BRIDGE_NATS_URL', 'http://user:s3cret@host:4222'],
    ['BRIDGE_NATS_REPLICAS', '7'],
  ]) {
    const b = spawnBridge({ ...base, BRIDGE_NATS_URL: 'nats://127.0.0.1:1', [name]: value })
    t.after(() => b.child.kill('SIGKILL'))
    assert.equal((await b.exited).code, 2, b.output())
    assert.match(b.output(), new RegExp(name))
    assert.doesNotMatch(b.output(), /s3cret/)
  }
})

test('a bridge killed (-9) before JetStream acknowledged its last events publishes them on its next boot, before its new epoch', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const names = uniqueNames()
  const dir = tmpDir(t)
  const env = {
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: makeCapture(dir, 3000),
    BRIDGE_REPLAY_RATE: '1000',
  }
  const first = spawnBridge(env)
  t.after(() => first.child.kill('SIGKILL'))
  let nc = await connect({ servers: server.url })
  await waitFor(async () => (await messageCount(nc, names.stream)) >= 300, 'the first epoch partly published')
  await nc.close()
  await server.stop()
  const before = journalLines(env.BRIDGE_DATA_DIR).length
  await waitFor(() => journalLines(env.BRIDGE_DATA_DIR).length >= before + 300, 'more journaled while NATS is away')
  first.child.kill('SIGKILL')
  await first.exited
  await server.start()

  const second = spawnBridge({ ...env, BRIDGE_REPLAY: makeCapture(dir, 50, '8'), BRIDGE_REPLAY_RATE: '0' })
  t.after(() => second.child.kill('SIGKILL'))
  nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  const journal = () => journalLines(env.BRIDGE_DATA_DIR)
  await waitFor(async () => JSON.parse(journal().at(-1) ?? '{}').event === 'bridge.replay_finished', 'the second boot replayed')
  await waitFor(async () => (await messageCount(nc, names.stream)) >= journal().length, 'both epochs in the stream')
  const lines = journal()
  assert.equal(new Set(lines.map((l) => JSON.parse(l).epoch)).size, 2)
  assertStreamIsJournal(await streamMessages(nc, names.stream), lines, names.prefix)
  assert.equal((await second.stop()).code, 0)
})


/** The journal line of the envelope at this seq. @param {string[]} lines @param {number} seq */
function lineAt(lines, seq) {
  return /** @type {string} */ (lines.find((l) => JSON.parse(l).seq === seq))
}

test('an envelope over max_payload (a 5 MiB history sync) goes to the object store, its stub to the stream at its place; the bucket has the stream settings', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const names = uniqueNames()
  const dir = tmpDir(t)
  // Real-shaped: chats, contacts, one history sync of ~5 MiB, then live messages.
  const capture = path.join(dir, 'cap.jsonl')
  execFileSync(process.execPath, ['scripts/make-capture.js', '--out', capture, '--events', '8', '--history', '12500', '--seed', '3'], { cwd: ROOT })
  const env = {
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: capture,
  }
  const bridge = spawnBridge(env)
  t.after(() => bridge.child.kill('SIGKILL'))
  const nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  await waitFor(async () => (await messageCount(nc, names.stream)) >= 10, 'the capture in the stream')
  const lines = journalLines(env.BRIDGE_DATA_DIR)
  assert.equal(lines.length, 10)
  const history = lineAt(lines, 4) // after bridge.started, chats.upsert, contacts.upsert
  assert.equal(JSON.parse(history).event, 'messaging-history.set')
  assert.ok(Buffer.byteLength(history) > 5 * 1024 * 1024, `history sync of ${Buffer.byteLength(history)} bytes`)

  const got = await streamMessages(nc, names.stream)
  assert.deepEqual(
    got.map((m) => m.object),
    got.map((m) => (JSON.parse(m.body).seq === 4 ? `default.${JSON.parse(m.body).epoch}.4` : undefined)),
    'only the large envelope is a stub',
  )
  const stub = got[3]
  assert.equal(stub.id, `${JSON.parse(history).epoch}:4`)
  assert.match(String(stub.lease), /^[1-9][0-9]*$/, 'the holder\'s lease term')
  assert.equal(JSON.parse(stub.body).data, null)
  // The object holds the journal line byte for byte.
  const store = await new Objm(nc).open(`${names.prefix}-large`)
  const bytes = /** @type {Uint8Array} */ (await store.getBlob(/** @type {string} */ (stub.object)))
  assert.equal(Buffer.compare(Buffer.from(bytes), Buffer.from(history)), 0)
  // With the object in place of its stub, the stream is the journal: the order is kept.
  assertStreamIsJournal(await resolveObjects(nc, names.prefix, got), lines, names.prefix)

  const bucket = (await (await jetstreamManager(nc)).streams.info(`OBJ_${names.prefix}-large`)).config
  const events = expectedConfig(names)
  assert.deepEqual([bucket.storage, bucket.max_age, bucket.num_replicas], [events.storage, events.max_age, events.num_replicas])
  const st = await durableState(nc, `${names.prefix}.default.cmd`, 10, 'every ack back at the bridge')
  assert.equal(st.result.buffered, 0)
  assert.equal((await bridge.stop()).code, 0)
})

test('NATS restarts while a large envelope is being stored: nothing lost, order kept, the objects hold the journal lines', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const names = uniqueNames()
  const dir = tmpDir(t)
  // Small events around three large ones (5, 3 and 2 MiB), paced so the restart finds traffic.
  /** @type {{event: string, data: unknown}[]} */
  const events = []
  for (const mib of [5, 3, 2]) {
    for (let i = 0; i < 20; i++) events.push({ event: 'chats.upsert', data: [{ id: `${mib}-${i}@s.whatsapp.net` }] })
    events.push({ event: 'messaging-history.set', data: { chats: [], blob: crypto.randomBytes(mib * 768 * 1024).toString('base64') } })
  }
  for (let i = 0; i < 20; i++) events.push({ event: 'chats.upsert', data: [{ id: `end-${i}@s.whatsapp.net` }] })
  const capture = path.join(dir, 'cap.jsonl')
  fs.writeFileSync(capture, events.map((e) => JSON.stringify(e)).join('\n') + '\n')
  const env = {
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: capture,
    BRIDGE_REPLAY_RATE: '200',
    BRIDGE_LOG_LEVEL: 'info',
    // The holder outlives the outage however loaded the machine (fenced once its lease expires).
    BRIDGE_LEASE_TTL_MS: '120000',
  }
  // Watch the object store's chunks arrive: the first one means a put is under way.
  const watcher = await connect({ servers: server.url, maxReconnectAttempts: 0 })
  let chunks = 0
  /** @type {Promise<void>|null} */
  let stopping = null
  watcher.subscribe(`$O.${names.prefix}-large.C.>`, {
    callback: () => {
      chunks += 1
      stopping ??= server.stop()
    },
  })
  await watcher.flush()
  t.after(() => watcher.close())
  const bridge = spawnBridge(env)
  t.after(() => bridge.child.kill('SIGKILL'))
  await waitFor(() => stopping !== null, 'a large put under way')
  await stopping
  // The first object is 5 MiB of base64, 41 chunks of 128 KiB: the restart cut its put short
  // (the largest first, so a slow stop on a busy machine still finds the put under way).
  assert.ok(chunks < 40, `${chunks} chunks stored before the restart`)
  await waitFor(() => lastJournalEvent(env.BRIDGE_DATA_DIR) === 'bridge.replay_finished', 'the capture journaled while NATS is away')
  assert.equal(bridge.child.exitCode, null)
  await server.start()

  const nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  const N = events.length + 2
  await durableState(nc, `${names.prefix}.default.cmd`, N, 'every event durable after the restart')
  const lines = journalLines(env.BRIDGE_DATA_DIR)
  const got = await streamMessages(nc, names.stream)
  assert.equal(got.filter((m) => m.object !== undefined).length, 3)
  assertStreamIsJournal(await resolveObjects(nc, names.prefix, got), lines, names.prefix)
  assert.equal((await bridge.stop()).code, 0)
})

/**
 * Bridge processes in NATS mode (`node src/main.js` with BRIDGE_NATS_URL) against a
 * nats-server of the test's own: a standby waits for the session lease; a clean stop hands
 * over at once; a host whose lease is taken, or that was paused past its deadline, is fenced
 * off: it publishes nothing more and exits with code 3. No WhatsApp here (auto-connect off);
 * tests/wa-sim/failover.test.js covers the takeover of a logged-in number.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { after, before, test } from 'node:test'
import { connect } from '@nats-io/transport-node'
import { Kvm } from '@nats-io/kv'
import { spawnBridge, tmpDir, waitFor } from './helpers.js'
import { startNatsServer, uniqueNames } from './nats-server.js'

const TTL_MS = 3000

/** @type {import('./nats-server.js').NatsServer} */
let server
before(async () => {
  server = await startNatsServer()
})
after(async () => {
  await server?.close()
})

/**
 * A bridge host in NATS mode with data of its own. `events` are the envelopes (heartbeats too)
 * this host published on the session's subjects, told apart from other hosts' by its epoch.
 * @param {import('node:test').TestContext} t @param {{stream: string, prefix: string}} names
 */
function host(t, names) {
  const dir = tmpDir(t)
  /** @type {any[]} */
  const seen = []
  const watching = connect({ servers: server.url }).then((nc) => {
    nc.subscribe(`${names.prefix}.desk.>`, {
      callback: (_err, msg) => seen.push({ ...JSON.parse(msg.string()), receivedAt: performance.now() }),
    })
    return nc
  })
  const bridge = spawnBridge({
    BRIDGE_LOG_LEVEL: 'info',
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_AUTO_CONNECT: 'false',
    BRIDGE_HEARTBEAT_MS: '100',
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_SESSION: 'desk',
    BRIDGE_LEASE_TTL_MS: String(TTL_MS),
  })
  t.after(async () => {
    await (await watching).close()
    if (bridge.child.exitCode === null && bridge.child.signalCode === null) bridge.child.kill('SIGKILL')
    return bridge.exited
  })
  const epoch = () => bridge.output().match(/"epoch":"([^"]+)".*"msg":"bridge started"/)?.[1]
  return {
    ...bridge,
    ready: watching,
    get events() {
      const mine = epoch()
      return mine ? seen.filter((e) => e.epoch === mine) : []
    },
  }
}

/** @param {{output: () => string}} h */
const started = (h) => h.output().includes('"msg":"bridge started"')
/** @param {{output: () => string}} h */
const standingBy = (h) => h.output().includes('standing by')

test('a standby waits for the lease; the holder stopped by SIGTERM hands over at once; a standby stops cleanly', async (t) => {
  const names = uniqueNames()
  const a = host(t, names)
  await waitFor(() => started(a), 'the first host to start')
  const b = host(t, names)
  await waitFor(() => standingBy(b), 'the second host to stand by')
  assert.equal(started(b), false)
  assert.equal(b.events.length, 0, 'a standby publishes nothing')

  const t0 = performance.now()
  assert.equal((await a.stop()).code, 0)
  await waitFor(() => started(b), 'the second host to take over')
  const handoverMs = performance.now() - t0
  t.diagnostic(`handover after SIGTERM: ${Math.round(handoverMs)} ms (TTL ${TTL_MS} ms)`)
  assert.ok(handoverMs < TTL_MS, `handover took ${handoverMs} ms`)
  assert.match(a.output(), /lease: released/)

  const c = host(t, names)
  await waitFor(() => standingBy(c), 'a third host to stand by')
  const stopped = await c.stop()
  assert.equal(stopped.code, 0)
  assert.equal(stopped.cutShort, false, 'a standby stops before the deadline')
})

test('a host whose lease another host took is fenced off: exit 3, told why', async (t) => {
  const names = uniqueNames()
  const a = host(t, names)
  await waitFor(() => started(a), 'the host to start')
  const nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  const kv = await new Kvm(nc).open(`${names.prefix}-leases`)
  await kv.put('desk', JSON.stringify({ host: 'intruder', pid: 1, epoch: 'x', since: Date.now() }))
  const { code } = await a.exited
  assert.equal(code, 3)
  assert.match(a.output(), /"why":"session lease lost \(cas\)"/)
})

test('a host paused past its deadline (SIGSTOP) publishes nothing on waking and exits 3', async (t) => {
  const names = uniqueNames()
  const a = host(t, names)
  await waitFor(() => started(a) && a.events.length > 0, 'the first host to publish')
  const b = host(t, names)
  await waitFor(() => standingBy(b), 'the second host to stand by')
  a.child.kill('SIGSTOP')
  await waitFor(() => started(b), 'the second host to take over', TTL_MS + 10000)
  const wokeAt = performance.now()
  a.child.kill('SIGCONT')
  const { code } = await a.exited
  assert.equal(code, 3)
  assert.match(a.output(), /"why":"session lease lost \(deadline\)"/)
  // The successor's heartbeats (100 ms apart) reach their subscriber: so would a late frame of
  // the paused host by now.
  const seen = b.events.length
  await waitFor(() => b.events.length >= seen + 3, 'the successor to publish')
  assert.deepEqual(
    a.events.filter((e) => e.receivedAt > wokeAt).map((e) => e.event),
    [],
    'the paused host sent nothing after waking',
  )
})

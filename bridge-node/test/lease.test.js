/**
 * Session leases against a real nats-server of the test's own (JetStream KV): the race, the
 * takeover after the holder stops renewing, a paused holder (SIGSTOP), CAS conflicts, release.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { after, before, test } from 'node:test'
import { connect } from '@nats-io/transport-node'
import { Lease, openLeaseBucket } from '../src/lease.js'
import { ROOT, memoryLogger, waitFor } from './helpers.js'
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
 * A lease on its own connection (a host of its own), closed after the test.
 * @param {import('node:test').TestContext} t @param {string} prefix @param {string} epoch
 */
async function host(t, prefix, epoch, ttlMs = TTL_MS) {
  const nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  const logger = memoryLogger()
  const { kv, ttlMs: ttl } = await openLeaseBucket(nc, prefix, ttlMs, logger)
  /** @type {string[]} */
  const lost = []
  const lease = new Lease({ kv, key: 'default', ttlMs: ttl, epoch, logger, onLost: (r) => lost.push(r) })
  t.after(() => lease.release())
  return { nc, kv, lease, lost, logger }
}

test('two hosts race: exactly one wins; the other takes over within TTL + 1 s once the winner stops renewing', async (t) => {
  const { prefix } = uniqueNames()
  const a = await host(t, prefix, 'epoch-a')
  const b = await host(t, prefix, 'epoch-b')
  const ac = new AbortController()
  t.after(() => ac.abort())
  const winner = await Promise.any([a.lease.acquire({ signal: ac.signal }).then(() => a), b.lease.acquire({ signal: ac.signal }).then(() => b)])
  const loser = winner === a ? b : a
  // Let the loser poll a few times and the winner renew past one TTL: still exactly one holder.
  await new Promise((r) => setTimeout(r, TTL_MS + 500))
  assert.equal(winner.lease.held(), true)
  assert.equal(loser.lease.held(), false)
  assert.ok(winner.lease.term > 1, 'the winner renewed')
  const entry = await winner.kv.get('default')
  assert.equal(entry?.json().epoch, winner.lease.value.epoch)

  // The winner's host dies (its connection drops, nothing more is renewed).
  const lastTerm = winner.lease.term
  const stoppedAt = performance.now()
  winner.lease._stopTimers()
  await winner.nc.close()
  await waitFor(() => loser.lease.held(), 'the takeover', TTL_MS + 5000)
  const takeoverMs = performance.now() - stoppedAt
  t.diagnostic(`takeover after the holder stopped renewing: ${Math.round(takeoverMs)} ms (TTL ${TTL_MS} ms)`)
  assert.ok(takeoverMs <= TTL_MS + 1000, `takeover took ${takeoverMs} ms`)
  assert.ok(loser.lease.term > lastTerm, 'the successor has a higher term')
  assert.equal(winner.lease.held(), false, 'the old holder no longer holds (its deadline passed)')
  assert.deepEqual(winner.lost, ['deadline'])
})

test('a renewal refused by compare-and-set loses the lease at once (onLost once, held() false)', async (t) => {
  const { prefix } = uniqueNames()
  const a = await host(t, prefix, 'epoch-a')
  await a.lease.acquire()
  // Someone else writes the key (a split brain the CAS must catch).
  await a.kv.put('default', JSON.stringify({ host: 'intruder', pid: 1, epoch: 'x', since: Date.now() }))
  await waitFor(() => a.lost.length > 0, 'onLost', TTL_MS)
  assert.deepEqual(a.lost, ['cas'])
  assert.equal(a.lease.held(), false)
  assert.equal((await a.kv.get('default'))?.json().host, 'intruder', 'the loser did not overwrite the holder')
  await new Promise((r) => setTimeout(r, TTL_MS / 3 + 200))
  assert.deepEqual(a.lost, ['cas'], 'onLost is called once')
})

test('a renewal that timed out but was written is recognised as ours: no loss, the term follows', async (t) => {
  const { prefix } = uniqueNames()
  const a = await host(t, prefix, 'epoch-a')
  const first = await a.lease.acquire()
  // What the server holds after an update whose answer never reached us: our value, a newer revision.
  const written = await a.kv.update('default', JSON.stringify(a.lease.value), first)
  await waitFor(() => a.lease.term > written, 'a renewal after the adopted revision', TTL_MS * 2)
  assert.deepEqual(a.lost, [])
  assert.equal(a.lease.held(), true)
})

test('release hands over at once, not after the TTL; terms grow', async (t) => {
  const { prefix } = uniqueNames()
  const a = await host(t, prefix, 'epoch-a')
  const b = await host(t, prefix, 'epoch-b')
  const termA = await a.lease.acquire()
  const waiting = b.lease.acquire()
  await new Promise((r) => setTimeout(r, TTL_MS / 5))
  assert.equal(b.lease.held(), false)
  const t0 = performance.now()
  await a.lease.release()
  const termB = await waiting
  const handoverMs = performance.now() - t0
  t.diagnostic(`handover after release: ${Math.round(handoverMs)} ms`)
  assert.ok(handoverMs < TTL_MS / 2, `handover took ${handoverMs} ms`)
  assert.ok(termB > termA)
  assert.equal(a.lease.held(), false)
  assert.deepEqual(a.lost, [], 'a release is not a loss')
  // Releasing what we no longer hold deletes nothing.
  await a.lease.release()
  assert.equal((await b.kv.get('default'))?.json().epoch, 'epoch-b')
})

test('the lease follows the TTL of an existing bucket, not a different configured one', async (t) => {
  const { prefix } = uniqueNames()
  await host(t, prefix, 'epoch-a', TTL_MS)
  const b = await host(t, prefix, 'epoch-b', TTL_MS * 3)
  assert.equal(b.lease.ttlMs, TTL_MS)
  assert.ok(b.logger.records.some((r) => r.level === 'warn' && r.obj.bucketMs === TTL_MS))
})

// A holder process that prints what happens to its lease, as JSON lines, and exits with 3
// when it loses it (as the bridge does).
const HOLDER = `
import { connect } from '@nats-io/transport-node'
import { Lease, openLeaseBucket } from './src/lease.js'
const out = (o) => process.stdout.write(JSON.stringify(o) + '\\n')
const logger = { info() {}, warn() {}, error() {} }
const nc = await connect({ servers: process.env.URL })
const { kv, ttlMs } = await openLeaseBucket(nc, process.env.PREFIX, Number(process.env.TTL), logger)
const lease = new Lease({ kv, key: 'default', ttlMs, epoch: 'child', logger, onLost: (reason) => {
  out({ lost: reason, held: lease.held() })
  process.exit(3)
} })
out({ acquired: await lease.acquire() })
`

test('a paused holder (SIGSTOP) sees held() false on waking, calls onLost and never renews over its successor', async (t) => {
  const { prefix } = uniqueNames()
  const child = spawn(process.execPath, ['--input-type=module', '-e', HOLDER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', URL: server.url, PREFIX: prefix, TTL: String(TTL_MS) },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const exited = new Promise((resolve) => child.on('close', (code) => resolve(code))) // its last line read
  t.after(() => child.kill('SIGKILL'))
  /** @type {any[]} */
  const lines = []
  let buf = ''
  child.stdout.on('data', (d) => {
    buf += d
    let i
    while ((i = buf.indexOf('\n')) >= 0) {
      lines.push(JSON.parse(buf.slice(0, i)))
      buf = buf.slice(i + 1)
    }
  })
  await waitFor(() => lines.length > 0, 'the child to acquire', 15000)
  assert.ok(lines[0].acquired > 0)

  const b = await host(t, prefix, 'epoch-b')
  const waiting = b.lease.acquire()
  child.kill('SIGSTOP')
  const stoppedAt = performance.now()
  const termB = await waiting
  const takeoverMs = performance.now() - stoppedAt
  t.diagnostic(`takeover from a paused holder: ${Math.round(takeoverMs)} ms (TTL ${TTL_MS} ms)`)
  assert.ok(takeoverMs <= TTL_MS + 1000, `takeover took ${takeoverMs} ms`)
  child.kill('SIGCONT')
  assert.equal(await exited, 3)
  assert.deepEqual(lines.slice(1), [{ lost: 'deadline', held: false }])
  assert.ok(termB > lines[0].acquired)
  assert.equal(b.lease.held(), true)
  assert.equal((await b.kv.get('default'))?.json().epoch, 'epoch-b', 'the woken holder did not overwrite its successor')
})

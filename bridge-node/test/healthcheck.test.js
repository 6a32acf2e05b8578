/**
 * The Docker healthcheck in NATS mode (issue #15): the bridge's status file (status-file.js)
 * and `node src/healthcheck.js` against a real bridge process and a nats-server of the test's own.
 */
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { STALE_MS, StatusFile, judge, statusPath } from '../src/status-file.js'
import { ROOT, memoryLogger, spawnBridge, tmpDir, waitFor } from './helpers.js'
import { startNatsServer, uniqueNames } from './nats-server.js'

/** Run the healthcheck as Docker does. @param {Record<string, string>} env */
function health(env) {
  const r = spawnSync(process.execPath, ['src/healthcheck.js'], { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 30000 })
  return { code: r.status, stderr: r.stderr }
}

test('status: healthy when fresh and NATS connected, whatever the role; stale, disconnected, absent or garbled is unhealthy', () => {
  const now = 1_800_000_000_000
  const at = (/** @type {Record<string, unknown>} */ s) => JSON.stringify(s)
  for (const role of ['holder', 'standby', 'starting']) assert.equal(judge(at({ natsConnected: true, role, at: now - 1000 }), now).healthy, true, role)
  assert.deepEqual(judge(at({ natsConnected: false, role: 'standby', at: now }), now), { healthy: false, reason: 'NATS not connected (role standby)' })
  assert.deepEqual(judge(at({ natsConnected: true, role: 'holder', at: now - STALE_MS }), now), { healthy: false, reason: 'status file is stale (10 s old)' })
  assert.equal(judge(at({ natsConnected: true, role: 'holder' }), now).healthy, false)
  assert.equal(judge(null, now).healthy, false)
  assert.equal(judge('{"natsConn', now).healthy, false)
})

test('status file: written at once and about once a second, atomically; setRole writes the new role; stop removes it', async (t) => {
  const dir = tmpDir(t)
  const file = statusPath(dir)
  let connected = false
  const status = new StatusFile({ file, natsConnected: () => connected, intervalMs: 50, logger: memoryLogger() })
  t.after(() => status.stop())
  status.start()
  const read = () => JSON.parse(fs.readFileSync(file, 'utf8'))
  assert.deepEqual({ ...read(), at: 0 }, { natsConnected: false, role: 'holder', at: 0 })
  connected = true
  await waitFor(() => read().natsConnected === true, 'the next write', 10000, 100)
  status.setRole('standby')
  assert.equal(read().role, 'standby')
  assert.ok(Date.now() - read().at < STALE_MS)
  assert.throws(() => status.setRole(/** @type {any} */ ('leader')), /unknown role/)
  assert.deepEqual(fs.readdirSync(dir), ['status.json'], 'no temporary file left behind')
  status.stop()
  assert.equal(fs.existsSync(file), false)
})

test('healthcheck in NATS mode against a real bridge: healthy; NATS stopped: unhealthy, then healthy again once it is back; bridge killed: unhealthy within 10 s', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const names = uniqueNames()
  const dir = tmpDir(t)
  const capture = path.join(dir, 'cap.jsonl')
  fs.writeFileSync(capture, JSON.stringify({ event: 'chats.upsert', data: [] }) + '\n')
  const env = {
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: capture,
    // The holder outlives the NATS outage however loaded the machine (it is fenced off once
    // its lease expires unrenewed, 10 s by default).
    BRIDGE_LEASE_TTL_MS: '120000',
  }
  const bridge = spawnBridge(env)
  t.after(() => bridge.child.kill('SIGKILL'))
  // Generous timeouts: other suites load the machine.
  const status = () => JSON.parse(fs.readFileSync(statusPath(env.BRIDGE_DATA_DIR), 'utf8'))
  // A standby is healthy too: wait until this host holds the session.
  await waitFor(() => health(env).code === 0 && status().role === 'holder', 'healthy, holding the session', 60000, 100)
  assert.equal(status().natsConnected, true)

  await server.stop()
  // Bounded by the waits themselves: the bridge notices at once, the bound leaves room for a
  // busy machine.
  await waitFor(() => health(env).code === 1, 'unhealthy with NATS stopped', 15000, 100)
  assert.match(health(env).stderr, /unhealthy: NATS not connected \(role holder\)/)
  await server.start()
  await waitFor(() => health(env).code === 0, 'healthy again with NATS back', 60000, 100)

  bridge.child.kill('SIGKILL')
  await bridge.exited
  await waitFor(() => health(env).code === 1, 'unhealthy with the bridge gone', STALE_MS + 10000, 100)
  assert.match(health(env).stderr, /status file is stale/)
})

test('healthcheck in NATS mode: a clean stop removes the status file (unhealthy at once)', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const names = uniqueNames()
  const dir = tmpDir(t)
  const env = {
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: path.join(dir, 'none.jsonl'),
  }
  fs.writeFileSync(env.BRIDGE_REPLAY, '')
  const bridge = spawnBridge(env)
  t.after(() => bridge.child.kill('SIGKILL'))
  await waitFor(() => health(env).code === 0, 'healthy', 60000, 100)
  assert.equal((await bridge.stop()).code, 0)
  const after = health(env)
  assert.deepEqual([after.code, after.stderr.trim()], [1, 'unhealthy: no status file (the bridge is not running in NATS mode?)'])
})

test('healthcheck in NATS mode: a standby host (it answers no commands) is healthy as "standby", and "holder" once it takes over', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const names = uniqueNames()
  /** @param {string} name */
  const hostEnv = (name) => ({
    BRIDGE_NATS_URL: server.url,
    BRIDGE_NATS_STREAM: names.stream,
    BRIDGE_NATS_PREFIX: names.prefix,
    BRIDGE_SESSION: 'desk',
    BRIDGE_LEASE_TTL_MS: '3000',
    BRIDGE_AUTO_CONNECT: 'false',
    BRIDGE_DATA_DIR: path.join(tmpDir(t), name),
  })
  const role = (/** @type {{BRIDGE_DATA_DIR: string}} */ env) => {
    try {
      return JSON.parse(fs.readFileSync(statusPath(env.BRIDGE_DATA_DIR), 'utf8')).role
    } catch {
      return null
    }
  }
  const envA = hostEnv('a')
  const a = spawnBridge(envA)
  t.after(() => a.child.kill('SIGKILL'))
  await waitFor(() => role(envA) === 'holder', 'the first host to hold the session', 60000, 100)
  const envB = hostEnv('b')
  const b = spawnBridge(envB)
  t.after(() => b.child.kill('SIGKILL'))
  await waitFor(() => role(envB) === 'standby', 'the second host to stand by', 60000, 100)
  assert.deepEqual([health(envA).code, health(envB).code], [0, 0])

  assert.equal((await a.stop()).code, 0)
  await waitFor(() => role(envB) === 'holder', 'the standby to take over', 60000, 100)
  assert.equal(health(envB).code, 0)
  assert.equal(health(envA).code, 1)
  assert.equal((await b.stop()).code, 0)
})

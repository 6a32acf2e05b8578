/**
 * Every way the simulator ends an online session reaches the bridge as a close with the
 * DisconnectReason stock Baileys assigns to it (lastDisconnect.error.$error.statusCode).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { is, pairAndLogin, startBridge, startSim, statusCode, tmpDir, waitUntil } from './helpers.js'

/**
 * Pair, log in, have the sim end the session with `reason`, return the close envelope.
 * @param {import('node:test').TestContext} t
 * @param {number} reason
 * @param {Record<string, string>} [env]
 */
async function onlineThenDisconnect(t, reason, env) {
  const sim = await startSim(t)
  const bridge = await startBridge(t, { dir: tmpDir(t), waUrl: sim.ws, env })
  const { jid } = await pairAndLogin(sim, bridge)
  const res = await sim.post('/disconnect', { reason })
  assert.equal(res.status, 200, JSON.stringify(res.body))
  assert.deepEqual(res.body.jids, [jid])
  const close = await bridge.next(is.close, { what: `close ${reason}`, timeoutMs: 20000 })
  return { sim, bridge, jid, close }
}

describe('server-side disconnects', { concurrency: true }, () => {
  for (const reason of [515, 440, 428, 500, 503]) {
    test(`${reason}: close ${reason}, the device stays linked, connect -> open again`, async (t) => {
      const { sim, bridge, jid, close } = await onlineThenDisconnect(t, reason)
      assert.equal(statusCode(close), reason, JSON.stringify(close.data))
      assert.equal((await bridge.call('state')).result.connection, 'close')
      await waitUntil(async () => (await sim.state()).phase === 'idle', 'sim idle')
      const st = await sim.state()
      assert.deepEqual(st.paired, [jid])
      assert.equal(st.accepted, 2, 'registration + login only: the bridge does not reconnect by itself')
      await bridge.call('connect')
      const next = await bridge.next((e) => is.open(e) || is.close(e), { what: 'reopen' })
      assert.equal(next.data.connection, 'open', JSON.stringify(next.data))
      assert.equal((await sim.state()).logins, 2)
    })
  }

  test('401 device_removed: close 401, device forgotten, connect -> 401 again; forget + wipe + connect -> new qr', async (t) => {
    const { sim, bridge, close } = await onlineThenDisconnect(t, 401)
    assert.equal(statusCode(close), 401, JSON.stringify(close.data))
    assert.deepEqual((await sim.state()).paired, [])

    await bridge.call('connect')
    const again = await bridge.next((e) => is.open(e) || is.close(e), { what: 'second close' })
    assert.equal(statusCode(again), 401, JSON.stringify(again.data))
    assert.equal((await sim.state()).logins, 1, 'the re-login was refused')

    assert.equal((await sim.post('/forget')).status, 200)
    const wiped = await bridge.call('logout', { wipe: true })
    assert.deepEqual(wiped.result, { wiped: true })
    await bridge.call('connect')
    const qr = await bridge.next((e) => is.qr(e) || is.open(e) || is.close(e), { what: 'new qr' })
    assert.equal(typeof qr.data.qr, 'string', JSON.stringify(qr.data))
    assert.equal((await sim.state()).registrations, 2)
  })

  test('408: a silent server is dropped by the keep-alive (BRIDGE_KEEPALIVE_MS=1000)', async (t) => {
    // The close comes within onlineThenDisconnect's 20 s wait after the silence began (the
    // keep-alive is 1 s): timing the pairing before it too would only measure the machine.
    const { sim, bridge, close } = await onlineThenDisconnect(t, 408, { BRIDGE_KEEPALIVE_MS: '1000' })
    assert.equal(statusCode(close), 408, JSON.stringify(close.data))
    // Only that session went silent: the next one is served.
    await bridge.call('connect')
    const next = await bridge.next((e) => is.open(e) || is.close(e), { what: 'reopen' })
    assert.equal(next.data.connection, 'open', JSON.stringify(next.data))
    assert.equal((await sim.state()).silent, false)
  })

  test('/silence on -> keep-alive close 408; off -> connect -> open', async (t) => {
    const sim = await startSim(t)
    const bridge = await startBridge(t, { dir: tmpDir(t), waUrl: sim.ws, env: { BRIDGE_KEEPALIVE_MS: '1000' } })
    await pairAndLogin(sim, bridge)
    assert.deepEqual((await sim.post('/silence', { on: true })).body, { silent: true })
    const pings = (await sim.state()).pings
    const close = await bridge.next(is.close, { what: 'close 408', timeoutMs: 20000 })
    assert.equal(statusCode(close), 408, JSON.stringify(close.data))
    assert.equal((await sim.state()).pings, pings, 'no ping answered while silent')
    assert.deepEqual((await sim.post('/silence', { on: false })).body, { silent: false })
    await bridge.call('connect')
    const next = await bridge.next((e) => is.open(e) || is.close(e), { what: 'reopen' })
    assert.equal(next.data.connection, 'open', JSON.stringify(next.data))
  })
})

describe('logouts', { concurrency: true }, () => {
  test("the bridge's logout while online: the sim unlinks the device", async (t) => {
    const sim = await startSim(t)
    const bridge = await startBridge(t, { dir: tmpDir(t), waUrl: sim.ws })
    const { jid } = await pairAndLogin(sim, bridge)
    assert.deepEqual((await sim.state()).paired, [jid])
    const out = await bridge.call('logout', { wipe: false })
    assert.equal(out.ok, true, JSON.stringify(out))
    const close = await bridge.next(is.close, { what: 'close after logout' })
    assert.equal(statusCode(close), 401, JSON.stringify(close.data))
    await waitUntil(async () => (await sim.state()).removals === 1, 'sim to see the removal')
    assert.deepEqual((await sim.state()).paired, [])
    // Creds were kept (wipe: false) but the device is gone: login refused.
    await bridge.call('connect')
    const again = await bridge.next((e) => is.open(e) || is.close(e), { what: 'refused login' })
    assert.equal(statusCode(again), 401, JSON.stringify(again.data))
  })

  test('/logout-from-phone while online: close 401 and the device is forgotten', async (t) => {
    const sim = await startSim(t)
    const bridge = await startBridge(t, { dir: tmpDir(t), waUrl: sim.ws })
    const { jid } = await pairAndLogin(sim, bridge)
    const res = await sim.post('/logout-from-phone')
    assert.deepEqual(res.body, { removed: [jid] })
    const close = await bridge.next(is.close, { what: 'close 401' })
    assert.equal(statusCode(close), 401, JSON.stringify(close.data))
    assert.deepEqual((await sim.state()).paired, [])
  })
})

/**
 * End to end with real processes: the bridge (stock Baileys) pairs with the simulator by
 * QR, restarts on 515, logs in, and logs in again after a bridge restart with saved creds.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { test } from 'node:test'
import { PHONE, is, pairAndLogin, startBridge, startSim, statusCode, tmpDir, waitUntil } from './helpers.js'

test('fresh bridge: qr -> scan -> close 515 -> connect -> open with me = the sim phone', async (t) => {
  const dir = tmpDir(t)
  const sim = await startSim(t)
  const bridge = await startBridge(t, { dir, waUrl: sim.ws })

  assert.deepEqual((await bridge.call('connect')).result, { already: false })
  const qrEnv = await bridge.next(is.qr, { what: 'qr' })
  const qr = qrEnv.data.qr
  assert.match(qr, /^https:\/\/wa\.me\/settings\/linked_devices#2@[^,]+,[^,]+,[^,]+,[^,]+,[^,]+$/)
  assert.equal((await sim.state()).phase, 'qr')

  const scan = await sim.post('/scan', { qr })
  assert.equal(scan.status, 200, JSON.stringify(scan.body))
  assert.match(scan.body.jid, new RegExp(`^${PHONE}:\\d+@s\\.whatsapp\\.net$`))
  const restart = await bridge.next(is.close, { what: 'close 515' })
  assert.equal(statusCode(restart), 515)
  // The pairing creds reached the bridge before the close (key material stays inside it).
  const paired = bridge.events.find((e) => e.event === 'creds.update' && e.data?.me)
  assert.ok(paired, 'creds.update with me')
  assert.equal(paired.data.me.id, scan.body.jid)
  assert.equal(paired.data.platform, 'smba')
  assert.equal(JSON.stringify(paired.data).includes('private'), false)

  assert.deepEqual((await bridge.call('connect')).result, { already: false })
  await bridge.next(is.open, { what: 'open' })
  const st = (await bridge.call('state')).result
  assert.equal(st.connection, 'open')
  assert.equal(st.me.id, scan.body.jid)
  assert.ok(st.me.id.startsWith(`${PHONE}:`))

  const simState = await sim.state()
  assert.equal(simState.phase, 'online')
  assert.equal(simState.online, true)
  assert.deepEqual(simState.paired, [scan.body.jid])
  assert.equal(simState.lastQr, qr)
  assert.equal(simState.registrations, 1)
  assert.equal(simState.logins, 1)
  assert.equal(simState.connections, 1)
  // Baileys' post-login iqs were all answered (pre-keys uploaded and counted, etc.).
  for (const xmlns of ['encrypt', 'passive', 'abt', 'blocklist', 'privacy']) assert.ok(simState.iqs[xmlns] >= 1, xmlns)
  // A QR can be scanned only while its connection shows it.
  assert.equal((await sim.post('/scan', { qr })).status, 409)
})

test('restarted bridge logs in with saved creds (no qr) and stays open, answering pings', async (t) => {
  const dir = tmpDir(t)
  const sim = await startSim(t)
  const first = await startBridge(t, { dir, waUrl: sim.ws })
  const { jid } = await pairAndLogin(sim, first)
  assert.equal(await first.stop(), 0)
  await waitUntil(async () => (await sim.state()).connections === 0, 'sim to see the bridge go')

  const second = await startBridge(t, { dir, waUrl: sim.ws, env: { BRIDGE_KEEPALIVE_MS: '500' } })
  assert.deepEqual((await second.call('connect')).result, { already: false })
  const open = await second.next((e) => is.open(e) || is.close(e) || is.qr(e), { what: 'open' })
  assert.equal(open.data.connection, 'open', JSON.stringify(open.data))
  assert.equal((await second.call('state')).result.me.id, jid)
  const st = await sim.state()
  assert.equal(st.registrations, 1)
  assert.equal(st.logins, 2)

  // Stays open across several keep-alive rounds (each ping answered).
  const pings = st.pings
  await waitUntil(async () => (await sim.state()).pings >= pings + 4, 'keep-alive pings', 10000)
  assert.equal((await second.call('state')).result.connection, 'open')
  assert.equal(second.events.filter(is.close).length, 0)
})

test('a simulator restarted on its --state file still accepts the linked device', async (t) => {
  const dir = tmpDir(t)
  const stateFile = path.join(dir, 'sim.json')
  const sim1 = await startSim(t, ['--state', stateFile])
  const bridge1 = await startBridge(t, { dir, waUrl: sim1.ws })
  const { jid } = await pairAndLogin(sim1, bridge1)
  assert.equal(await bridge1.stop(), 0)
  assert.equal(await sim1.stop(), 0)

  const sim2 = await startSim(t, ['--state', stateFile])
  assert.deepEqual((await sim2.state()).paired, [jid])
  const bridge2 = await startBridge(t, { dir, waUrl: sim2.ws })
  await bridge2.call('connect')
  const open = await bridge2.next((e) => is.open(e) || is.close(e), { what: 'open' })
  assert.equal(open.data.connection, 'open', JSON.stringify(open.data))
})

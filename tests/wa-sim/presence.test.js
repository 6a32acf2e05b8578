/**
 * Presence and typing through the real bridge (stock Baileys): what the device announces
 * (markOnlineOnConnect, sendPresenceUpdate, presenceSubscribe) is recorded by the simulator,
 * a subscribe is answered with the contact's presence, and a contact's chat state becomes
 * Baileys' `presence.update`.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { parse } from './lib/presence.js'
import { pairAndLogin, startBridge, startSim, tmpDir, waitUntil } from './helpers.js'

const ANA = '5511911110001'
const ANA_JID = `${ANA}@s.whatsapp.net`

/**
 * @param {import('node:test').TestContext} t
 * @param {{name?: string|null, env?: Record<string, string>}} [o]
 */
async function online(t, { name = 'Helpdesk', env = {} } = {}) {
  const sim = await startSim(t)
  if (name !== null) assert.equal((await sim.post('/account', { name })).status, 200)
  const bridge = await startBridge(t, { dir: tmpDir(t), waUrl: sim.ws, env })
  const { jid } = await pairAndLogin(sim, bridge)
  assert.equal((await sim.post('/contacts', { phone: ANA, name: 'Ana' })).status, 200)
  return { sim, bridge, jid }
}

/** @param {{get: Function}} sim @returns {Promise<any[]>} */
const presences = async (sim) => (await sim.get('/presences')).body

/** @param {any} bridge @param {string} method @param {unknown[]} params */
async function call(bridge, method, params) {
  const reply = await bridge.call(method, params)
  assert.equal(reply.ok, true, JSON.stringify(reply))
}

test('parse: presence, subscribe and chat states as Baileys writes them', () => {
  assert.deepEqual(parse({ tag: 'presence', attrs: { name: 'Desk', type: 'available' } }, 'd', 1), { t: 1, from: 'd', kind: 'presence', to: null, state: 'available', name: 'Desk' })
  assert.deepEqual(parse({ tag: 'presence', attrs: { to: ANA_JID, id: '1', type: 'subscribe' } }, 'd', 1), { t: 1, from: 'd', kind: 'subscribe', to: ANA_JID, state: 'subscribe' })
  const chatstate = (/** @type {any} */ child) => parse({ tag: 'chatstate', attrs: { from: 'me', to: ANA_JID }, content: [child] }, 'd', 2)
  assert.equal(chatstate({ tag: 'composing', attrs: {} })?.state, 'composing')
  assert.equal(chatstate({ tag: 'composing', attrs: { media: 'audio' } })?.state, 'recording')
  assert.equal(chatstate({ tag: 'paused', attrs: {} })?.state, 'paused')
  assert.equal(parse({ tag: 'presence', attrs: { name: 'Desk' } }, 'd', 1)?.state, null)
  assert.equal(parse({ tag: 'chatstate', attrs: {} }, 'd', 3), null)
  assert.equal(parse({ tag: 'iq', attrs: {} }, 'd', 3), null)
})

test('markOnlineOnConnect off (the default): the device announces unavailable, never available', async (t) => {
  const { sim, jid } = await online(t)
  await waitUntil(async () => (await presences(sim)).some((p) => p.kind === 'presence' && p.state), 'the presence announced on connect')
  const announced = (await presences(sim)).filter((p) => p.kind === 'presence' && p.state)
  assert.deepEqual(announced.map((p) => [p.from, p.state, p.name]), [[jid, 'unavailable', 'Helpdesk']])
})

test('BRIDGE_MARK_ONLINE_ON_CONNECT=true: the device announces available on connect', async (t) => {
  const { sim, jid } = await online(t, { env: { BRIDGE_MARK_ONLINE_ON_CONNECT: 'true' } })
  await waitUntil(async () => (await presences(sim)).some((p) => p.kind === 'presence' && p.state), 'the presence announced on connect')
  const announced = (await presences(sim)).filter((p) => p.kind === 'presence' && p.state)
  assert.deepEqual(announced.map((p) => [p.from, p.state]), [[jid, 'available']])
})

test('subscribe is answered with the contact presence; composing/recording/paused are recorded', async (t) => {
  const { sim, bridge, jid } = await online(t)
  await call(bridge, 'presenceSubscribe', [ANA_JID])
  const answer = await bridge.next((e) => e.event === 'presence.update' && e.data.id === ANA_JID, { what: 'the subscribe answer' })
  assert.equal(answer.data.presences[ANA_JID].lastKnownPresence, 'unavailable')
  assert.equal(typeof answer.data.presences[ANA_JID].lastSeen, 'number')
  for (const state of ['composing', 'recording', 'paused']) await call(bridge, 'sendPresenceUpdate', [state, ANA_JID])
  await waitUntil(async () => (await presences(sim)).filter((p) => p.kind === 'chatstate').length === 3, 'three chat states')
  const recorded = (await presences(sim)).filter((p) => p.kind !== 'presence')
  assert.deepEqual(
    recorded.map((p) => [p.from, p.kind, p.to, p.state]),
    [
      [jid, 'subscribe', ANA_JID, 'subscribe'],
      [jid, 'chatstate', ANA_JID, 'composing'],
      [jid, 'chatstate', ANA_JID, 'recording'],
      [jid, 'chatstate', ANA_JID, 'paused'],
    ],
  )
  assert.ok(recorded.every((p) => typeof p.t === 'number' && p.t > 0))
})

test('POST /typing: a contact composing, recording and pausing reaches Baileys as presence.update', async (t) => {
  const { sim, bridge } = await online(t)
  const expected = { composing: 'composing', recording: 'recording', paused: 'available' }
  for (const [state, seen] of Object.entries(expected)) {
    const res = await sim.post('/typing', { from: ANA, state })
    assert.equal(res.status, 200, JSON.stringify(res.body))
    assert.equal(res.body.devices.length, 1)
    const e = await bridge.next((x) => x.event === 'presence.update' && x.data.id === ANA_JID, { what: `presence ${state}` })
    assert.deepEqual(e.data.presences, { [ANA_JID]: { lastKnownPresence: seen } })
  }
  const group = (await sim.post('/groups', { subject: 'Suporte', participants: [ANA] })).body
  assert.equal((await sim.post('/typing', { from: ANA, to: group.jid, state: 'composing' })).status, 200)
  const e = await bridge.next((x) => x.event === 'presence.update' && x.data.id === group.jid, { what: 'group presence' })
  assert.deepEqual(e.data.presences, { [ANA_JID]: { lastKnownPresence: 'composing' } })
})

test('POST /typing and /account refusals', async (t) => {
  const sim = await startSim(t)
  const expect = async (/** @type {string} */ route, /** @type {unknown} */ body, /** @type {number} */ status, /** @type {string} */ code) => {
    const r = await sim.post(route, body)
    assert.equal(r.status, status, JSON.stringify(r.body))
    assert.equal(r.body.error.code, code)
  }
  await expect('/typing', { from: ANA }, 400, 'unknown_contact')
  await sim.post('/contacts', { phone: ANA })
  await expect('/typing', { from: ANA, state: 'dancing' }, 400, 'bad_params')
  await expect('/typing', { from: ANA, to: '1@g.us' }, 400, 'unknown_group')
  await expect('/typing', { from: ANA }, 409, 'not_online')
  await expect('/account', { name: 5 }, 400, 'bad_params')
  assert.deepEqual((await sim.post('/account', { name: null })).body, { name: null })
  assert.deepEqual((await sim.get('/presences')).body, [])
})

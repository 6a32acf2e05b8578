/**
 * Calls through the real bridge (stock Baileys): the simulator places a call the way a
 * caller's server signals it to a linked device, Baileys' handleCall turns each `<call>`
 * stanza into a `call` event, acks it, and `rejectCall` (a bridge command) comes back to the
 * simulator as `<call><reject/></call>`, answered with the server's ack.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ok, online, startSim, waitUntil } from './helpers.js'

/** Every `call` item the bridge published for `id`, in order. @param {{events: any[]}} bridge @param {string} id */
const callEvents = (bridge, id) => bridge.events.filter((e) => e.event === 'call').flatMap((e) => e.data).filter((c) => c.id === id)

/** @param {{events: any[], output: () => string}} bridge @param {string} id @param {string[]} statuses */
async function waitStatuses(bridge, id, statuses) {
  try {
    await waitUntil(() => callEvents(bridge, id).length >= statuses.length, `call events ${statuses.join(', ')} of ${id}`)
  } catch (err) {
    throw new Error(`${/** @type {Error} */ (err).message}; seen: ${JSON.stringify(callEvents(bridge, id))}\n${bridge.output()}`)
  }
  const seen = callEvents(bridge, id)
  assert.deepEqual(seen.map((c) => c.status), statuses)
  return seen
}

/** @param {{get: Function}} sim @param {string} id */
const simCall = async (sim, id) => (await sim.get('/calls')).body.find((/** @type {any} */ c) => c.id === id)

describe('calls through the real bridge', { concurrency: true }, () => {
  test('a voice call nobody answers: offer then timeout, both acked by Baileys', async (t) => {
    const { sim, bridge, jid } = await online(t)
    const ana = await ok(sim, '/contacts', { phone: '5511988880001', name: 'Ana' })
    const placed = await ok(sim, '/call', { from: ana.phone, then: 'timeout' })
    assert.deepEqual(placed.steps, ['offer', 'timeout'])
    assert.deepEqual(placed.devices, [jid])
    const [offer, timeout] = await waitStatuses(bridge, placed.id, ['offer', 'timeout'])
    assert.equal(offer.chatId, ana.jid)
    assert.equal(offer.from, ana.jid)
    assert.equal(offer.isVideo, false)
    assert.equal(offer.isGroup, false)
    assert.equal(offer.offline, false)
    assert.equal(typeof offer.date.$date, 'number')
    // Baileys copies the offer's kind onto the later events of the same call.
    assert.equal(timeout.isVideo, false)
    assert.equal(timeout.isGroup, false)
    await waitUntil(async () => (await simCall(sim, placed.id)).acks.length === 2, 'acks of both stanzas')
    assert.deepEqual((await simCall(sim, placed.id)).acks.map((/** @type {any} */ a) => a.step), ['offer', 'timeout'])
  })

  test('a group video call answered on the phone, then hung up: offer, accept, terminate', async (t) => {
    const { sim, bridge } = await online(t)
    const ana = await ok(sim, '/contacts', { phone: '5511988880002', name: 'Ana' })
    const bob = await ok(sim, '/contacts', { phone: '5511988880003', name: 'Bob' })
    const group = await ok(sim, '/groups', { subject: 'Team', participants: [ana.phone, bob.phone] })
    const placed = await ok(sim, '/call', { from: bob.jid, video: true, group: group.jid, then: ['accept', 'terminate'] })
    const [offer, accept, end] = await waitStatuses(bridge, placed.id, ['offer', 'accept', 'terminate'])
    assert.equal(offer.isVideo, true)
    assert.equal(offer.isGroup, true)
    assert.equal(offer.groupJid, group.jid)
    assert.equal(offer.from, bob.jid)
    assert.deepEqual([accept.isVideo, accept.isGroup], [true, true])
    // The accept ended Baileys' memory of the offer (callOfferCache.del), so the terminate
    // carries the kind only when Baileys handled it before the accept's delete finished.
    assert.equal(end.from, bob.jid)
  })

  test('rejectCall: the simulator records the reject for that call id and acks it; bad arguments are refused', async (t) => {
    const { sim, bridge, jid } = await online(t)
    const ana = await ok(sim, '/contacts', { phone: '5511988880004', name: 'Ana' })
    const placed = await ok(sim, '/call', { from: ana.phone })
    const [offer] = await waitStatuses(bridge, placed.id, ['offer'])
    const reply = await bridge.call('rejectCall', [offer.id, offer.from])
    assert.equal(reply.ok, true, JSON.stringify(reply))
    // Baileys announces nothing for its own reject: the bridge does.
    const announced = await bridge.next((e) => e.event === 'bridge.call_rejected', { what: 'bridge.call_rejected' })
    assert.deepEqual({ ...announced.data, timestamp: undefined }, { id: placed.id, from: ana.jid, timestamp: undefined })
    assert.equal(typeof announced.data.timestamp, 'number')
    const call = await simCall(sim, placed.id)
    assert.equal(call.rejects.length, 1)
    assert.deepEqual({ ...call.rejects[0], id: undefined, to: undefined }, { device: jid, callCreator: ana.jid, count: '0', id: undefined, to: undefined })
    assert.equal(call.rejects[0].to, ana.jid)
    for (const params of [[offer.id], [offer.id, 'not-a-jid'], ['', ana.jid], [offer.id, ana.jid, 'extra']]) {
      assert.equal((await bridge.call('rejectCall', params)).error?.code, 'bad_params', JSON.stringify(params))
    }
    assert.equal((await sim.get('/calls')).body.flatMap((/** @type {any} */ c) => c.rejects).length, 1)
  })

  test('POST /call refuses what it cannot place', async (t) => {
    const sim = await startSim(t)
    const ana = await ok(sim, '/contacts', { phone: '5511988880005' })
    const cases = [
      [{ from: '5511000000000' }, 'unknown_contact'],
      [{ from: ana.phone, video: 'yes' }, 'bad_params'],
      [{ from: ana.phone, then: 'explode' }, 'bad_params'],
      [{ from: ana.phone, group: '120363000000000000@g.us' }, 'unknown_group'],
    ]
    for (const [body, code] of cases) {
      const res = await sim.post('/call', body)
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.equal(res.body.error.code, code, JSON.stringify(body))
    }
  })
})

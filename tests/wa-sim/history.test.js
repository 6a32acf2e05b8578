/**
 * History syncs as the bridge's BRIDGE_HISTORY asks for them, through the real bridge: what
 * the device requested at registration (GET /state `registration`), and what the phone's
 * /history sends (progress, dated messages, group conversations).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ok, online, waitUntil } from './helpers.js'

const DAY = 86400

/**
 * The first messaging-history.set satisfying `pred`.
 * @param {{events: any[]}} bridge @param {(h: any) => boolean} pred @param {string} what
 */
async function historySet(bridge, pred, what) {
  /** @type {any} */
  let found
  await waitUntil(() => (found = bridge.events.find((e) => e.event === 'messaging-history.set' && pred(e.data))?.data), what)
  return found
}

describe('history', { concurrency: true }, () => {
  test('BRIDGE_HISTORY=full: the device asks for the full history, and FULL chunks reach the bridge', async (t) => {
    const { sim, bridge } = await online(t, { env: { BRIDGE_HISTORY: 'full' } })
    const reg = (await sim.state()).registration
    assert.equal(reg.requireFullSync, true)
    assert.equal(reg.historySyncConfig.storageQuotaMb, 10240)
    await ok(sim, '/history', { conversations: 1, messages: 2, syncType: 'FULL' })
    const full = await historySet(bridge, (h) => h.syncType === 2 && h.messages.length === 2, 'a FULL chunk')
    assert.equal(full.chats.length, 1)
  })

  test('recent (the default): no full-history request, FULL chunks refused, RECENT ones taken', async (t) => {
    const { sim, bridge } = await online(t)
    const reg = (await sim.state()).registration
    assert.equal(reg.requireFullSync, false)
    assert.ok(reg.historySyncConfig, 'the device always says what history it can take')
    await ok(sim, '/history', { conversations: 1, messages: 2, syncType: 'FULL' })
    await ok(sim, '/history', { conversations: 1, messages: 3, syncType: 'RECENT' })
    // Chunks are processed in order: once the RECENT one is out, the FULL one was dropped.
    await historySet(bridge, (h) => h.syncType === 3 && h.messages.length === 3, 'the RECENT chunk')
    assert.ok(!bridge.events.some((e) => e.event === 'messaging-history.set' && e.data.syncType === 2))
  })

  test('none: not even the initial bootstrap is processed', async (t) => {
    const { sim, bridge } = await online(t, { env: { BRIDGE_HISTORY: 'none' } })
    assert.equal((await sim.state()).registration.requireFullSync, false)
    await ok(sim, '/history', { conversations: 1, messages: 2 })
    // The history sync is a message like any other: a text sent after it arrives after it.
    const contacts = (await sim.get('/contacts')).body
    const after = await ok(sim, '/send', { from: contacts[0].phone, kind: 'text', text: 'after' })
    await waitUntil(() => bridge.events.some((e) => e.event === 'messages.upsert' && e.data.messages.some((/** @type {any} */ m) => m.key.id === after.id)), 'the text after the sync')
    assert.ok(!bridge.events.some((e) => e.event === 'messaging-history.set'))
  })

  test('/history: progress, chunk order, messages dated days ago, group conversations', async (t) => {
    const { sim, bridge } = await online(t)
    await ok(sim, '/contacts', { phone: '5511966660001', name: 'Ivo' })
    await ok(sim, '/contacts', { phone: '5511966660002', name: 'Jo' })
    const group = await ok(sim, '/groups', { subject: 'Team', participants: ['5511966660001', '5511966660002'] })
    const h = await ok(sim, '/history', { conversations: 1, messages: 2, progress: 40, chunkOrder: 2, daysAgo: 10, groups: [group.jid] })
    assert.equal(h.conversations, 2)
    assert.equal(h.messages, 4)
    assert.equal(h.ids.length, 4)
    const set = await historySet(bridge, (x) => x.syncType === 3 && x.messages.length === 4, 'the dated chunk')
    assert.equal(set.progress, 40)
    const tenDaysAgo = Date.now() / 1000 - 10 * DAY
    for (const m of set.messages) assert.ok(Math.abs(m.messageTimestamp - tenDaysAgo) < 600, JSON.stringify(m.messageTimestamp))
    const inGroup = set.messages.filter((/** @type {any} */ m) => m.key.remoteJid === group.jid)
    assert.deepEqual(inGroup.map((/** @type {any} */ m) => m.key.participant).sort(), group.participants)
    assert.ok(set.chats.some((/** @type {any} */ c) => c.id === group.jid && c.name === 'Team'))
  })
})

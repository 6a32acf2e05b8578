/**
 * WhatsApp Business labels through the real bridge (stock Baileys): the simulated phone
 * shares its app-state key after pairing and serves `regular` patches built by Baileys' own
 * encodeSyncdPatch (lib/appstate.js); a `server_sync` notification makes Baileys resync, and
 * it emits labels.edit / labels.association from the decoded mutations.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ok, pairAndLogin, startBridge, startSim, tmpDir, waitUntil } from './helpers.js'

/**
 * The data of the `event` envelopes satisfying `pred`, waiting for at least one.
 * @param {{events: any[], output: () => string}} bridge @param {string} event @param {(d: any) => boolean} pred
 */
async function waitEvent(bridge, event, pred, timeoutMs = 15000) {
  const matching = () => bridge.events.filter((e) => e.event === event && pred(e.data)).map((e) => e.data)
  try {
    await waitUntil(() => matching().length > 0, `${event} matching`, timeoutMs)
  } catch (err) {
    const seen = bridge.events.filter((e) => e.event !== 'bridge.heartbeat').map((e) => `${e.event} ${JSON.stringify(e.data).slice(0, 200)}`)
    throw new Error(`${/** @type {Error} */ (err).message}; seen:\n${seen.join('\n')}\nbridge output:\n${bridge.output().slice(-4000)}`)
  }
  return matching()
}

test('labels made before and after pairing reach Baileys as labels.edit / labels.association', { timeout: 90000 }, async (t) => {
  const sim = await startSim(t)
  await ok(sim, '/contacts', { phone: '5511988887777', name: 'Ana' })
  await ok(sim, '/contacts', { phone: '5511977776666', name: 'Bob' })
  // Before the device exists: served on its first full app-state sync (from version 0).
  const before = await ok(sim, '/labels', { id: '1', name: 'New customer', color: 0 })
  assert.deepEqual(before.devices, [])
  await ok(sim, '/labels/chats', { labelId: '1', chat: '5511977776666', add: true })

  const bridge = await startBridge(t, { dir: tmpDir(t), waUrl: sim.ws })
  await pairAndLogin(sim, bridge)
  await waitEvent(bridge, 'labels.edit', (d) => d.id === '1' && d.name === 'New customer')
  await waitEvent(bridge, 'labels.association', (d) => d.type === 'add' && d.association.chatId === '5511977776666@s.whatsapp.net' && d.association.labelId === '1')
  assert.equal((await sim.state()).iqs['w:sync:app:state'] > 0, true)

  // Live: each change is a patch and a server_sync notification.
  const made = await ok(sim, '/labels', { id: '5', name: 'VIP', color: 3 })
  assert.equal(made.devices.length, 1)
  assert.equal(made.version, 3)
  const [vip] = await waitEvent(bridge, 'labels.edit', (d) => d.id === '5')
  assert.deepEqual({ name: vip.name, color: vip.color, deleted: vip.deleted }, { name: 'VIP', color: 3, deleted: false })
  await ok(sim, '/labels/chats', { labelId: '5', chat: '5511988887777', add: true })
  const [added] = await waitEvent(bridge, 'labels.association', (d) => d.association.labelId === '5')
  assert.deepEqual(added, { type: 'add', association: { type: 'label_jid', chatId: '5511988887777@s.whatsapp.net', labelId: '5' } })

  await ok(sim, '/labels', { id: '5', name: 'VIP+', color: 19 })
  await waitEvent(bridge, 'labels.edit', (d) => d.id === '5' && d.name === 'VIP+' && d.color === 19)
  await ok(sim, '/labels/chats', { labelId: '5', chat: '5511988887777@s.whatsapp.net', add: false })
  await waitEvent(bridge, 'labels.association', (d) => d.type === 'remove' && d.association.labelId === '5')
  await ok(sim, '/labels', { id: '5', deleted: true })
  await waitEvent(bridge, 'labels.edit', (d) => d.id === '5' && d.deleted === true)

  const listed = (await sim.get('/labels')).body
  assert.equal(listed.version, 7)
  assert.equal(listed.counters.keyShares, 1)
  assert.deepEqual(listed.chats, [{ labelId: '1', chat: '5511977776666@s.whatsapp.net' }])
})

test('label control routes refuse what the phone could not do', { timeout: 30000 }, async (t) => {
  const sim = await startSim(t)
  await ok(sim, '/contacts', { phone: '5511988887777', name: 'Ana' })
  const cases = [
    ['/labels', { name: 'x', color: 1 }, 'bad_params'],
    ['/labels', { id: '1', name: ' ', color: 1 }, 'bad_params'],
    ['/labels', { id: '1', name: 'x', color: 20 }, 'bad_params'],
    ['/labels', { id: '1', name: 'x', color: 1, deleted: 'yes' }, 'bad_params'],
    ['/labels/chats', { labelId: '9', chat: '5511988887777' }, 'unknown_label'],
  ]
  for (const [route, body, code] of cases) {
    const res = await sim.post(route, body)
    assert.equal(res.status, 400, JSON.stringify(body))
    assert.equal(res.body.error.code, code, JSON.stringify(body))
  }
  await ok(sim, '/labels', { id: '1', name: 'x', color: 1 })
  const res = await sim.post('/labels/chats', { labelId: '1', chat: '5511900000000' })
  assert.equal(res.body.error.code, 'unknown_contact')
  const group = await sim.post('/labels/chats', { labelId: '1', chat: '120363000000000000@g.us' })
  assert.equal(group.body.error.code, 'unknown_group')
})

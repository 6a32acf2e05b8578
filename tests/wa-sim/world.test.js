/**
 * Contacts, groups and sends through the control API of an in-process simulator (no
 * device linked, so nothing is delivered): validation, error codes, and the usync /
 * pre-key / group answers the world gives a companion.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { startSim } from './lib/app.js'
import { BRIDGE_DIR, baileys } from './lib/deps.js'
import { PHONE } from './helpers.js'

/** @param {string} rel a module of the bridge's Baileys */
const baileysModule = (rel) => import(pathToFileURL(path.join(BRIDGE_DIR, 'node_modules/@whiskeysockets/baileys/lib', rel)).href)
const { USyncQuery, USyncUser } = await baileysModule('WAUSync/index.js')
const { extractGroupMetadata } = await baileysModule('Socket/groups.js')

/** @param {import('node:test').TestContext} t */
async function sim(t) {
  const running = await startSim({ phone: PHONE })
  t.after(() => running.close())
  /** @param {string} method @param {string} route @param {unknown} [body] */
  const call = async (method, route, body) => {
    const res = await fetch(`${running.control}${route}`, { method, ...(body === undefined ? {} : { body: JSON.stringify(body) }) })
    return { status: res.status, body: await res.json() }
  }
  return { running, call, world: running.sim.world }
}

/** @param {Promise<{status: number, body: any}>} p @param {number} status @param {string} code */
async function fails(p, status, code) {
  const r = await p
  assert.equal(r.status, status, JSON.stringify(r.body))
  assert.equal(r.body.error?.code, code, JSON.stringify(r.body))
}

test('contacts and groups: create, list, validation', async (t) => {
  const { call } = await sim(t)
  assert.deepEqual((await call('POST', '/contacts', { phone: '5511911110001', name: 'Ann' })).body, {
    jid: '5511911110001@s.whatsapp.net',
    phone: '5511911110001',
    name: 'Ann',
    lid: null,
  })
  const withLid = (await call('POST', '/contacts', { phone: '5511911110002', lid: '123456789012345' })).body
  assert.equal(withLid.lid, '123456789012345@lid')
  assert.equal(withLid.name, '5511911110002')
  assert.match((await call('POST', '/contacts', { phone: '5511911110003', lid: true })).body.lid, /^\d+@lid$/)
  // Re-posting updates the name, keeps the keys.
  assert.equal((await call('POST', '/contacts', { phone: '5511911110001', name: 'Anne' })).body.name, 'Anne')
  assert.equal((await call('GET', '/contacts')).body.length, 3)
  await fails(call('POST', '/contacts', { phone: '12' }), 400, 'bad_params')
  await fails(call('POST', '/contacts', { phone: PHONE }), 400, 'bad_params')
  await fails(call('POST', '/contacts', { phone: '5511911110009', lid: 'x' }), 400, 'bad_params')
  await fails(call('POST', '/contacts', { phone: '5511911110009', lid: '123456789012345' }), 409, 'lid_taken')
  await fails(call('POST', '/contacts', []), 400, 'bad_params')

  const g = (await call('POST', '/groups', { subject: 'G', participants: ['5511911110001', '123456789012345@lid'] })).body
  assert.match(g.jid, /^120363\d{12}@g\.us$/)
  assert.deepEqual(g.participants, ['5511911110001@s.whatsapp.net', '5511911110002@s.whatsapp.net'])
  await fails(call('POST', '/groups', { subject: 'G', participants: ['5511900000000'] }), 400, 'unknown_contact')
  await fails(call('POST', '/groups', { subject: '', participants: ['5511911110001'] }), 400, 'bad_params')
  await fails(call('POST', '/groups', { subject: 'G', participants: [] }), 400, 'bad_params')
})

test('send, receipt, history: validation and error codes', async (t) => {
  const { call } = await sim(t)
  await call('POST', '/contacts', { phone: '5511922220001' })
  await call('POST', '/contacts', { phone: '5511922220002' })
  const g = (await call('POST', '/groups', { subject: 'G', participants: ['5511922220002'] })).body
  const sent = (await call('POST', '/send', { from: '5511922220001', kind: 'text', text: 'x' })).body
  assert.match(sent.id, /^3A[0-9A-F]{18}$/)
  assert.deepEqual(sent.devices, [], 'no linked device: nobody to deliver to')
  await fails(call('POST', '/send', { from: '5511900000000', kind: 'text', text: 'x' }), 400, 'unknown_contact')
  await fails(call('POST', '/send', { from: '5511922220001', kind: 'sticker' }), 400, 'bad_params')
  await fails(call('POST', '/send', { from: '5511922220001', kind: 'text' }), 400, 'bad_params')
  await fails(call('POST', '/send', { from: '5511922220001', kind: 'reply', text: 'r', target: 'nope' }), 400, 'unknown_target')
  await fails(call('POST', '/send', { from: '5511922220002', kind: 'reaction', target: sent.id }), 400, 'bad_target')
  await fails(call('POST', '/send', { from: '5511922220002', to: '1@g.us', kind: 'text', text: 'x' }), 400, 'unknown_group')
  await fails(call('POST', '/send', { from: '5511922220001', to: g.jid, kind: 'text', text: 'x' }), 400, 'not_participant')
  await fails(call('POST', '/send', { from: '5511922220001', kind: 'image' }), 400, 'bad_params')
  const inGroup = (await call('POST', '/send', { from: '5511922220002', to: g.jid, kind: 'text', text: 'g' })).body
  await fails(call('POST', '/send', { from: '5511922220002', kind: 'edit', target: inGroup.id, text: 'e' }), 400, 'bad_target')
  assert.equal((await call('POST', '/send', { from: '5511922220002', to: g.jid, kind: 'edit', target: inGroup.id, text: 'e' })).status, 200)
  await fails(call('POST', '/send', { from: '5511922220001', kind: 'revoke', target: sent.id, to: g.jid }), 400, 'not_participant')

  await fails(call('POST', '/receipt', { id: sent.id, from: '5511922220001', type: 'seen' }), 400, 'bad_params')
  await fails(call('POST', '/receipt', { id: sent.id, from: '5511922220001', type: 'read' }), 400, 'unknown_target')
  await fails(call('POST', '/history', { conversations: -1 }), 400, 'bad_params')
  await fails(call('POST', '/history', { syncType: 'NOPE' }), 400, 'bad_params')
  await fails(call('POST', '/history', { progress: 101 }), 400, 'bad_params')
  await fails(call('POST', '/history', { chunkOrder: 0 }), 400, 'bad_params')
  await fails(call('POST', '/history', { daysAgo: -1 }), 400, 'bad_params')
  await fails(call('POST', '/history', { daysAgo: '3' }), 400, 'bad_params')
  await fails(call('POST', '/history', { groups: 'x' }), 400, 'bad_params')
  await fails(call('POST', '/history', { groups: ['1@g.us'] }), 400, 'unknown_group')
  assert.deepEqual((await call('GET', '/received')).body, [])
  assert.deepEqual((await call('GET', '/received?to=5511922220001')).body, [])
})

test('usync, pre-key fetch and group metadata answers', async (t) => {
  const { world } = await sim(t)
  const ann = world.addContact({ phone: '5511933330001', name: 'Ann', lid: '223344556677889' })
  world.addContact({ phone: '5511933330002', name: 'Ben' })
  const q = new USyncQuery().withContext('message').withDeviceProtocol().withLIDProtocol().withContactProtocol()
  for (const jid of [ann.jid, '5511933330002@s.whatsapp.net', '5511900000000@s.whatsapp.net', `${PHONE}@s.whatsapp.net`]) q.withUser(new USyncUser().withId(jid))
  const iq = {
    tag: 'iq',
    attrs: { type: 'get', xmlns: 'usync' },
    content: [
      {
        tag: 'usync',
        attrs: {},
        content: [
          { tag: 'query', attrs: {}, content: q.protocols.map((/** @type {any} */ p) => p.getQueryElement()) },
          { tag: 'list', attrs: {}, content: q.users.map((/** @type {any} */ u) => ({ tag: 'user', attrs: { jid: u.id }, content: [] })) },
        ],
      },
    ],
  }
  const parsed = q.parseUSyncQueryResult({ tag: 'iq', attrs: { type: 'result' }, content: world.usync(iq, /** @type {any} */ ({ device: 3, keyIndex: 2 })) })
  const byId = Object.fromEntries(parsed.list.map((/** @type {any} */ u) => [u.id, u]))
  assert.deepEqual(byId[ann.jid].devices.deviceList.map((/** @type {any} */ d) => d.id), [0])
  assert.equal(byId[ann.jid].lid, '223344556677889@lid')
  assert.equal(byId[ann.jid].contact, true)
  assert.equal(byId['5511933330002@s.whatsapp.net'].lid, undefined)
  assert.equal(byId['5511900000000@s.whatsapp.net'].contact, false)
  assert.deepEqual(byId['5511900000000@s.whatsapp.net'].devices.deviceList, [])
  assert.deepEqual(
    byId[`${PHONE}@s.whatsapp.net`].devices.deviceList.map((/** @type {any} */ d) => [d.id, d.keyIndex]),
    [
      [0, NaN],
      [3, 2],
    ],
  )

  const keys = world.preKeys({ tag: 'iq', attrs: {}, content: [{ tag: 'key', attrs: {}, content: [{ tag: 'user', attrs: { jid: '223344556677889@lid' } }, { tag: 'user', attrs: { jid: '5511900000000@s.whatsapp.net' } }] }] })
  const users = /** @type {any} */ (keys[0].content)
  assert.deepEqual(users[0].content.map((/** @type {any} */ n) => n.tag), ['registration', 'type', 'identity', 'skey', 'key'])
  assert.equal(users[1].content[0].tag, 'error')
  assert.throws(() => baileys.assertNodeErrorFree(users[1]))

  const g = world.addGroup({ subject: 'Team', participants: [ann.phone, '5511933330002'] })
  const meta = extractGroupMetadata({
    tag: 'iq',
    attrs: {},
    content: world.groupQuery({ tag: 'iq', attrs: { to: g.jid }, content: [{ tag: 'query', attrs: { request: 'interactive' } }] }),
  })
  assert.equal(meta.id, g.jid)
  assert.equal(meta.subject, 'Team')
  assert.deepEqual(
    meta.participants.map((/** @type {any} */ p) => p.id),
    [ann.jid, '5511933330002@s.whatsapp.net', `${PHONE}@s.whatsapp.net`],
  )
  assert.equal(meta.participants[0].lid, '223344556677889@lid')
  assert.equal(world.groupQuery({ tag: 'iq', attrs: { to: 'x@g.us' } })[0].tag, 'error')
})

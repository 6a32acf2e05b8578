/**
 * lib/appstate.js against Baileys' own client half: the patches a `w:sync:app:state` answer
 * carries decode with Baileys' extractSyncdPatches / decodePatches with every MAC checked
 * (Baileys' default skips them), and give the mutations processSyncAction turns into label
 * events. The end-to-end path through the bridge is labels.test.js.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { AppState } from './lib/appstate.js'
import { startSim } from './lib/app.js'
import { baileys } from './lib/deps.js'
import { PHONE } from './helpers.js'

const { proto, extractSyncdPatches, decodePatches, newLTHashState, chatModificationToAppPatch, encodeSyncdPatch } = baileys

/** @param {import('node:test').TestContext} t */
async function sim(t) {
  const running = await startSim({ phone: PHONE })
  t.after(() => running.close())
  /** @param {string} route @param {unknown} body */
  const post = async (route, body) => {
    const res = await fetch(`${running.control}${route}`, { method: 'POST', body: JSON.stringify(body) })
    assert.equal(res.status, 200)
    return res.json()
  }
  return { appState: running.sim.appState, post }
}

/** What a device that holds the shared key decodes from an answer, MACs checked. */
async function decode(/** @type {any} */ appState, /** @type {number} */ from, initial = newLTHashState()) {
  const sync = { tag: 'sync', attrs: {}, content: [{ tag: 'collection', attrs: { name: 'regular', version: String(from) } }] }
  const answer = { tag: 'iq', attrs: {}, content: appState.answer(sync) }
  const { regular } = await extractSyncdPatches(answer, {})
  // Stored the way Baileys stores a shared key: the AppStateSyncKeyData proto, by base64 id.
  const shared = proto.Message.AppStateSyncKeyData.decode(proto.Message.AppStateSyncKeyData.encode(appState.keyData).finish())
  const warnings = /** @type {string[]} */ ([])
  const logger = { warn: (/** @type {unknown} */ _o, /** @type {string} */ m) => warnings.push(m), trace() {}, debug() {}, info() {} }
  const getKey = async (/** @type {string} */ id) => (id === appState.keyIdBase64 ? shared : undefined)
  const { state, mutationMap } = await decodePatches('regular', regular.patches, initial, getKey, {}, undefined, logger, true)
  assert.deepEqual(warnings, [])
  return { state, mutations: Object.values(mutationMap).map((m) => ({ index: m.index, value: m.syncAction.value })), patches: regular.patches.length }
}

test('label patches decode with every MAC checked, from scratch and incrementally', async (t) => {
  const { appState, post } = await sim(t)
  await post('/contacts', { phone: '5511988887777', name: 'Ana' })
  await post('/labels', { id: '5', name: 'VIP', color: 3 })
  await post('/labels/chats', { labelId: '5', chat: '5511988887777' })

  const first = await decode(appState, 0)
  assert.equal(first.patches, 2)
  assert.equal(first.state.version, 2)
  assert.deepEqual(first.mutations.map((m) => m.index), [['label_edit', '5'], ['label_jid', '5', '5511988887777@s.whatsapp.net']])
  assert.equal(first.mutations[0].value.labelEditAction.name, 'VIP')
  assert.equal(first.mutations[0].value.labelEditAction.color, 3)
  assert.equal(first.mutations[1].value.labelAssociationAction.labeled, true)
  assert.deepEqual(Buffer.from(first.state.hash), Buffer.from(appState.collections.regular.state.hash))

  // A rename overwrites the same index: the LT hash subtracts the old value.
  await post('/labels', { id: '5', name: 'VIP+' })
  const next = await decode(appState, 2, first.state)
  assert.equal(next.patches, 1)
  assert.equal(next.state.version, 3)
  assert.deepEqual(next.mutations.map((m) => [m.value.labelEditAction.name, m.value.labelEditAction.color]), [['VIP+', 3]])
  assert.deepEqual(Buffer.from(next.state.hash), Buffer.from(appState.collections.regular.state.hash))

  // Up to date: the collection echoed at its version, no patches.
  const answer = appState.answer({ tag: 'sync', attrs: {}, content: [{ tag: 'collection', attrs: { name: 'regular', version: '3' } }, { tag: 'collection', attrs: { name: 'critical_block', version: '0' } }] })
  assert.deepEqual(answer[0].content, [
    { tag: 'collection', attrs: { name: 'regular', version: '3' } },
    { tag: 'collection', attrs: { name: 'critical_block', version: '0' } },
  ])
})

/** A `w:sync:app:state` set iq carrying one patch, as a device uploads it. */
function uploadIq(/** @type {string} */ collection, /** @type {any} */ patch) {
  return {
    tag: 'iq',
    attrs: { xmlns: 'w:sync:app:state', type: 'set' },
    content: [{ tag: 'sync', attrs: {}, content: [{ tag: 'collection', attrs: { name: collection, version: '0' }, content: [{ tag: 'patch', attrs: {}, content: proto.SyncdPatch.encode(patch).finish() }] }] }],
  }
}

test("a delete-for-me patch, encoded by Baileys' own chatModify path, is read back", async () => {
  const state = new AppState(/** @type {any} */ ({}))
  const key = { remoteJid: '5511911110001@s.whatsapp.net', id: '3EB0ABC', fromMe: false }
  const mod = chatModificationToAppPatch({ deleteForMe: { key, timestamp: 1700000000, deleteMedia: true } }, key.remoteJid)
  const { patch } = await encodeSyncdPatch(mod, state.keyIdBase64, newLTHashState(), async () => state.keyData)
  await state.record(/** @type {any} */ (uploadIq('regular_high', patch)), 'p:1@s.whatsapp.net')
  assert.deepEqual(state.errors, [])
  assert.equal(state.mutations.length, 1)
  const [m] = state.mutations
  assert.equal(m.collection, 'regular_high')
  assert.equal(m.from, 'p:1@s.whatsapp.net')
  assert.deepEqual(m.index, ['deleteMessageForMe', key.remoteJid, '3EB0ABC', '0', '0'])
  assert.deepEqual(m.action.deleteMessageForMeAction, { deleteMedia: true, messageTimestamp: 1700000000 })
})

test('a patch under a key the phone never shared is reported, not kept', async () => {
  const state = new AppState(/** @type {any} */ ({}))
  const keyId = crypto.randomBytes(6).toString('base64')
  const keyData = crypto.randomBytes(32)
  const mod = chatModificationToAppPatch({ archive: true, lastMessages: [] }, '5511911110001@s.whatsapp.net')
  const { patch } = await encodeSyncdPatch(mod, keyId, newLTHashState(), async () => ({ keyData }))
  await state.record(/** @type {any} */ (uploadIq('regular_low', patch)), 'p:1@s.whatsapp.net')
  assert.deepEqual(state.mutations, [])
  assert.equal(state.errors.length, 1)
})

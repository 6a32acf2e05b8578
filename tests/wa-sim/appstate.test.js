/** App state: the patches a device uploads are read back with the key the phone shared. */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { test } from 'node:test'
import { AppState } from './lib/appstate.js'
import { baileys } from './lib/deps.js'

const { proto, chatModificationToAppPatch, encodeSyncdPatch, newLTHashState } = baileys

test("a delete-for-me patch, encoded by Baileys' own chatModify path, is read back", async () => {
  const state = new AppState(/** @type {any} */ ({}))
  const keyId = crypto.randomBytes(6).toString('base64')
  const keyData = crypto.randomBytes(32)
  state.keys.set(keyId, keyData)
  const key = { remoteJid: '5511911110001@s.whatsapp.net', id: '3EB0ABC', fromMe: false }
  const mod = chatModificationToAppPatch({ deleteForMe: { key, timestamp: 1700000000, deleteMedia: true } }, key.remoteJid)
  const { patch } = await encodeSyncdPatch(mod, keyId, newLTHashState(), async () => ({ keyData }))
  const iq = {
    tag: 'iq',
    attrs: { xmlns: 'w:sync:app:state', type: 'set' },
    content: [{ tag: 'sync', attrs: {}, content: [{ tag: 'collection', attrs: { name: 'regular_high', version: '0' }, content: [{ tag: 'patch', attrs: {}, content: proto.SyncdPatch.encode(patch).finish() }] }] }],
  }
  await state.record(/** @type {any} */ (iq), 'p:1@s.whatsapp.net')
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
  const iq = {
    tag: 'iq',
    attrs: { xmlns: 'w:sync:app:state', type: 'set' },
    content: [{ tag: 'sync', attrs: {}, content: [{ tag: 'collection', attrs: { name: 'regular_low', version: '0' }, content: [{ tag: 'patch', attrs: {}, content: proto.SyncdPatch.encode(patch).finish() }] }] }],
  }
  await state.record(/** @type {any} */ (iq), 'p:1@s.whatsapp.net')
  assert.deepEqual(state.mutations, [])
  assert.equal(state.errors.length, 1)
})

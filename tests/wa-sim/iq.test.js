/** The iq table: shapes Baileys parses, and the side effects on the device record. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { answerIq } from './lib/iq.js'

function ctx(preKeys = 0) {
  const calls = { pings: 0, removed: /** @type {string[]} */ ([]), patches: /** @type {any[]} */ ([]) }
  /** @type {any} */
  const device = { jid: 'p:1@s.whatsapp.net', preKeys }
  return {
    calls,
    device,
    ctx: {
      device,
      updateDevice: (/** @type {any} */ p) => {
        calls.patches.push(p)
        Object.assign(device, p)
      },
      removeDevice: (/** @type {string} */ jid) => calls.removed.push(jid),
      onPing: () => (calls.pings += 1),
    },
  }
}

/** @param {string} xmlns @param {string} type @param {any[]} [content] */
const iq = (xmlns, type, content) => ({ tag: 'iq', attrs: { id: '1', xmlns, type }, content })

test('pre-keys: count reflects uploads; digest is present', () => {
  const { ctx: c, calls } = ctx()
  assert.deepEqual(answerIq(iq('encrypt', 'get', [{ tag: 'count', attrs: {} }]), c), [{ tag: 'count', attrs: { value: '0' } }])
  const keys = Array.from({ length: 5 }, () => ({ tag: 'key', attrs: {} }))
  assert.equal(answerIq(iq('encrypt', 'set', [{ tag: 'registration', attrs: {} }, { tag: 'list', attrs: {}, content: keys }]), c), undefined)
  assert.deepEqual(calls.patches, [{ preKeys: 5 }])
  assert.deepEqual(answerIq(iq('encrypt', 'get', [{ tag: 'count', attrs: {} }]), c), [{ tag: 'count', attrs: { value: '5' } }])
  assert.equal(answerIq(iq('encrypt', 'get', [{ tag: 'digest', attrs: {} }]), c)?.[0].tag, 'digest')
})

test('ping counts; remove-companion-device reports the jid; app state echoes collections', () => {
  const { ctx: c, calls } = ctx()
  assert.equal(answerIq(iq('w:p', 'get', [{ tag: 'ping', attrs: {} }]), c), undefined)
  assert.equal(calls.pings, 1)
  answerIq(iq('md', 'set', [{ tag: 'remove-companion-device', attrs: { jid: 'p:1@s.whatsapp.net', reason: 'user_initiated' } }]), c)
  assert.deepEqual(calls.removed, ['p:1@s.whatsapp.net'])
  const sync = answerIq(
    iq('w:sync:app:state', 'set', [{ tag: 'sync', attrs: {}, content: [{ tag: 'collection', attrs: { name: 'regular', version: '0', return_snapshot: 'true' } }] }]),
    c,
  )
  assert.deepEqual(sync, [{ tag: 'sync', attrs: {}, content: [{ tag: 'collection', attrs: { name: 'regular', version: '0' } }] }])
  const privacy = /** @type {any} */ (answerIq(iq('privacy', 'get', [{ tag: 'privacy', attrs: {} }]), c))
  assert.ok(privacy[0].content.some((/** @type {any} */ n) => n.attrs.name === 'readreceipts'))
  assert.equal(answerIq(iq('privacy', 'set'), c), undefined)
  assert.equal(answerIq(iq('something:new', 'get'), c), undefined)
})

import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { AccountStore } from './lib/store.js'
import { tmpDir } from './helpers.js'

/** @param {ReturnType<AccountStore['allocate']>} a */
const deviceOf = (a) => ({ ...a, noiseKey: 'bg==', identityKey: 'aQ==', keyIndex: 1, preKeys: 0, pairedAt: 1 })

test('in memory: allocate, link, update, unlink', () => {
  const s = new AccountStore({ phone: '5511999990000' })
  const a = s.allocate()
  const b = s.allocate()
  assert.deepEqual([a.device, b.device], [1, 2])
  assert.equal(a.jid, '5511999990000:1@s.whatsapp.net')
  assert.match(a.lid, /^\d{15}:1@lid$/)
  s.link(deviceOf(a))
  s.update(a.jid, { preKeys: 30 })
  assert.equal(s.get(a.jid)?.preKeys, 30)
  assert.deepEqual(s.pairedJids(), [a.jid])
  assert.equal(s.unlink(b.jid), false)
  assert.equal(s.unlink(a.jid), true)
  assert.deepEqual(s.pairedJids(), [])
  assert.equal(s.accountKey.public.length, 32)
})

test('a state file survives a restart; owner-only; bound to its phone', (t) => {
  const file = path.join(tmpDir(t), 'sub', 'state.json')
  const s1 = new AccountStore({ phone: '5511999990000', file })
  const a = s1.allocate()
  s1.link(deviceOf(a))
  assert.equal(fs.statSync(file).mode & 0o777, 0o600)
  const s2 = new AccountStore({ phone: '5511999990000', file })
  assert.deepEqual(s2.get(a.jid), s1.get(a.jid))
  assert.deepEqual(s2.accountKey, s1.accountKey)
  assert.equal(s2.allocate().device, 2, 'device numbers are never reused')
  assert.equal(s2.unlinkAll(), 1)
  assert.deepEqual(new AccountStore({ phone: '5511999990000', file }).pairedJids(), [])
  assert.throws(() => new AccountStore({ phone: '4900000000', file }), /belongs to phone/)
  fs.writeFileSync(file, '{"x":1}')
  assert.throws(() => new AccountStore({ phone: '5511999990000', file }), /not a wa-sim state file/)
  assert.throws(() => new AccountStore({ phone: '+55' }), /digits/)
})

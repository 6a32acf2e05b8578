import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { initAuthCreds, proto } from '@whiskeysockets/baileys'
import { fileName, useAtomicAuthState, wipeAuthDir } from '../src/auth-state.js'
import { memoryLogger, tmpDir } from './helpers.js'

const KEY_TYPES = [
  'pre-key',
  'session',
  'sender-key',
  'sender-key-memory',
  'app-state-sync-key',
  'app-state-sync-version',
  'lid-mapping',
  'device-list',
  'tctoken',
  'identity-key',
]

/** A value shaped like what Baileys stores for each type. @param {string} type */
function valueFor(type) {
  switch (type) {
    case 'pre-key':
      return { public: Buffer.from([1, 2, 3]), private: Buffer.from([4, 5, 6]) }
    case 'session':
    case 'sender-key':
    case 'identity-key':
      return Buffer.from(`${type}-bytes`)
    case 'app-state-sync-key':
      return proto.Message.AppStateSyncKeyData.fromObject({ keyData: Buffer.from('kd'), timestamp: 42 })
    case 'app-state-sync-version':
      return { version: 3, hash: Buffer.alloc(128, 7), indexValueMap: { abc: { valueMac: Buffer.from('mac') } } }
    case 'sender-key-memory':
      return { '5511@s.whatsapp.net': true }
    case 'device-list':
      return ['0', '12']
    case 'tctoken':
      return { token: Buffer.from('tok'), timestamp: '1700000000' }
    default:
      return '123456789012345'
  }
}

test('every key type round-trips through disk with Buffers intact; null deletes', async (t) => {
  const dir = tmpDir(t)
  const logger = memoryLogger()
  let auth = await useAtomicAuthState(dir, logger)
  const id = '5511999999999:12@s.whatsapp.net/x' // exercises the filename sanitizing
  await auth.state.keys.set(Object.fromEntries(KEY_TYPES.map((type) => [type, { [id]: valueFor(type) }])))
  // Reopen: a fresh cache, so everything is read back from the files.
  auth = await useAtomicAuthState(dir, logger)
  for (const type of KEY_TYPES) {
    const got = (await auth.state.keys.get(type, [id]))[id]
    const want = valueFor(type)
    if (type === 'app-state-sync-key') {
      assert.ok(got instanceof proto.Message.AppStateSyncKeyData, 'app-state-sync-key must be a proto')
      assert.ok(Buffer.from(got.keyData).equals(Buffer.from('kd')))
    } else {
      assert.deepEqual(got, want, type)
    }
  }
  assert.ok(fs.existsSync(path.join(dir, fileName(`session-${id}.json`))))
  assert.equal(fileName('a/b:c'), 'a__b-c')
  await auth.state.keys.set({ session: { [id]: null } })
  auth = await useAtomicAuthState(dir, logger)
  assert.equal((await auth.state.keys.get('session', [id]))[id] ?? null, null)
  assert.ok(!fs.existsSync(path.join(dir, fileName(`session-${id}.json`))))
  assert.equal(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')).length, 0)
})

test('creds save atomically and reload; leftover tmp files are removed at open', async (t) => {
  const dir = tmpDir(t)
  const logger = memoryLogger()
  const auth = await useAtomicAuthState(dir, logger)
  auth.state.creds.me = { id: '5511999999999:3@s.whatsapp.net', name: 'Desk' }
  // Concurrent saves must not interleave (each ends with a complete file).
  await Promise.all(Array.from({ length: 20 }, () => auth.saveCreds()))
  fs.writeFileSync(path.join(dir, 'creds.json.tmp-999-1'), '{"half')
  const again = await useAtomicAuthState(dir, logger)
  assert.deepEqual(again.state.creds.me, auth.state.creds.me)
  assert.ok(Buffer.isBuffer(again.state.creds.noiseKey.private))
  assert.ok(again.state.creds.noiseKey.private.equals(auth.state.creds.noiseKey.private))
  assert.deepEqual(fs.readdirSync(dir).sort(), ['creds.json'])
})

test('a corrupt creds.json is moved aside, logged, and a fresh registration starts', async (t) => {
  const dir = tmpDir(t)
  fs.writeFileSync(path.join(dir, 'creds.json'), '{"noiseKey": {"priv')
  const logger = memoryLogger()
  const auth = await useAtomicAuthState(dir, logger)
  assert.equal(auth.state.creds.registered, false)
  assert.ok(auth.state.creds.noiseKey.public.length > 0)
  const aside = fs.readdirSync(dir).filter((f) => f.startsWith('creds.json.corrupt-'))
  assert.equal(aside.length, 1)
  const err = logger.records.find((r) => r.level === 'error')
  assert.equal(err?.obj.file, path.join(dir, 'creds.json'))
})

test('after close() a late save does not write; wipe leaves an empty directory', async (t) => {
  const base = tmpDir(t)
  const dir = path.join(base, 'auth')
  const auth = await useAtomicAuthState(dir, memoryLogger())
  await auth.saveCreds()
  auth.close()
  await wipeAuthDir(dir)
  await auth.saveCreds()
  await auth.state.keys.set({ 'pre-key': { 1: { public: Buffer.from([1]), private: Buffer.from([2]) } } })
  assert.deepEqual(fs.readdirSync(dir), [])
  assert.deepEqual(fs.readdirSync(base), ['auth'])
  assert.deepEqual(initAuthCreds().registered, false)
})

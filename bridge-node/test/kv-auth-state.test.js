/**
 * The Baileys auth state in JetStream KV, against a real nats-server of the test's own:
 * bit-for-bit round trips, deletes, CAS conflicts between two writers, a second process
 * reading the same creds, the one-time import of a file auth state, and the wipe.
 */
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { after, before, test } from 'node:test'
import { proto } from '@whiskeysockets/baileys'
import { connect } from '@nats-io/transport-node'
import { encodeJSON } from '../src/codec.js'
import { useAtomicAuthState } from '../src/auth-state.js'
import { AuthConflictError, openAuthBucket, useKvAuthState, wipeKvAuthState } from '../src/kv-auth-state.js'
import { ROOT, memoryLogger, tmpDir } from './helpers.js'
import { startNatsServer, uniqueNames } from './nats-server.js'

/** What Baileys stores for each type (the same shapes as auth-state.test.js). */
const VALUES = {
  'pre-key': { public: Buffer.from([1, 2, 3, 0, 255]), private: Buffer.from([4, 5, 6]) },
  session: Buffer.from([0, 1, 2, 253, 254, 255]),
  'sender-key': Buffer.from('sender-key-bytes'),
  'identity-key': Buffer.alloc(33, 5),
  'app-state-sync-key': proto.Message.AppStateSyncKeyData.fromObject({ keyData: Buffer.from('kd'), timestamp: 42 }),
  'app-state-sync-version': { version: 3, hash: Buffer.alloc(128, 7), indexValueMap: { abc: { valueMac: Buffer.from('mac') } } },
  'sender-key-memory': { '5511@s.whatsapp.net': true },
  'device-list': ['0', '12'],
  tctoken: { token: Buffer.from('tok'), timestamp: '1700000000' },
  'lid-mapping': '123456789012345',
}
// A `:` and a `/`: characters a KV key may not hold, and that file names lose.
const ODD_ID = '120363@g.us::5511999999999::0/x'

/** @type {import('./nats-server.js').NatsServer} */
let server
/** @type {import('@nats-io/transport-node').NatsConnection} */
let nc
before(async () => {
  server = await startNatsServer()
  nc = await connect({ servers: server.url })
})
after(async () => {
  await nc?.close()
  await server?.close()
})

/** @param {string} prefix @param {Partial<Parameters<typeof useKvAuthState>[0]>} [opts] */
async function open(prefix, opts = {}) {
  const kv = await openAuthBucket(nc, prefix)
  /** @type {string[]} */
  const conflicts = []
  const logger = memoryLogger()
  const auth = await useKvAuthState({ kv, session: 'default', logger, onConflict: (k) => conflicts.push(k), ...opts })
  return { kv, auth, conflicts, logger }
}

/**
 * Creds compared in their wire form: every byte of every Buffer, every field; `undefined`
 * fields are not stored (JSON has none), exactly as with the file auth state.
 * @param {any} got @param {any} want
 */
function assertSameCreds(got, want) {
  assert.equal(encodeJSON(got), encodeJSON(want))
  assert.ok(Buffer.isBuffer(got.noiseKey.private) && Buffer.isBuffer(got.signedPreKey.signature))
}

/** @param {any} got @param {any} want @param {string} type */
function assertSame(got, want, type) {
  if (type === 'app-state-sync-key') {
    assert.ok(got instanceof proto.Message.AppStateSyncKeyData, 'app-state-sync-key must be a proto')
    assert.ok(Buffer.from(got.keyData).equals(want.keyData))
    assert.equal(Number(got.timestamp), 42)
  } else {
    assert.deepEqual(got, want, type)
  }
}

test('creds and every key type round-trip bit for bit; null deletes; the key scheme is the contract', async () => {
  const { prefix } = uniqueNames()
  const first = await open(prefix)
  first.auth.state.creds.me = { id: '5511999999999:3@s.whatsapp.net', name: 'Desk' }
  first.auth.state.creds.registered = true
  await first.auth.saveCreds()
  await first.auth.state.keys.set(Object.fromEntries(Object.entries(VALUES).map(([type, v]) => [type, { [ODD_ID]: v, 7: v }])))

  // A fresh instance (no cache): everything comes back from the KV.
  const again = await open(prefix)
  assertSameCreds(again.auth.state.creds, first.auth.state.creds)
  for (const [type, want] of Object.entries(VALUES)) {
    const got = await again.auth.state.keys.get(type, [ODD_ID, '7', 'absent'])
    assertSame(got[ODD_ID], want, type)
    assertSame(got['7'], want, type)
    assert.equal(got.absent ?? null, null)
  }
  const keys = []
  for await (const k of await again.kv.keys()) keys.push(k)
  assert.ok(keys.includes('default.creds'))
  assert.ok(keys.includes(`default.session.${Buffer.from(ODD_ID).toString('base64url')}`))
  assert.equal(keys.length, 1 + 2 * Object.keys(VALUES).length)

  await again.auth.state.keys.set({ session: { [ODD_ID]: null }, 'pre-key': { 7: null } })
  const third = await open(prefix)
  assert.equal((await third.auth.state.keys.get('session', [ODD_ID]))[ODD_ID] ?? null, null)
  assert.equal((await third.auth.state.keys.get('pre-key', ['7']))['7'] ?? null, null)
  assertSame((await third.auth.state.keys.get('session', ['7']))['7'], VALUES.session, 'session')
  // A deleted key is written again (create over the delete marker).
  await third.auth.state.keys.set({ session: { [ODD_ID]: Buffer.from('again') } })
  assert.deepEqual((await (await open(prefix)).auth.state.keys.get('session', [ODD_ID]))[ODD_ID], Buffer.from('again'))
})

test('concurrent saves of one writer are serialized; a second writer is caught by the CAS and fails closed', async () => {
  const { prefix } = uniqueNames()
  const a = await open(prefix)
  await a.auth.saveCreds()
  const b = await open(prefix)
  // Same key, many writes in flight at once: each CAS follows the previous one.
  await Promise.all(Array.from({ length: 20 }, (_, i) => ((a.auth.state.creds.accountSyncCounter = i), a.auth.saveCreds())))
  assert.deepEqual(a.conflicts, [])

  // b last saw the creds before a's saves: its write is a fencing violation.
  await assert.rejects(b.auth.saveCreds(), AuthConflictError)
  assert.deepEqual(b.conflicts, ['default.creds'])
  assert.ok(b.logger.records.some((r) => r.level === 'error' && r.obj.key === 'default.creds'))
  // Every later write of b is refused, on any key, and the conflict is reported once.
  await assert.rejects(b.auth.state.keys.set({ 'pre-key': { 1: VALUES['pre-key'] } }), AuthConflictError)
  assert.deepEqual(b.conflicts, ['default.creds'])
  const check = await open(prefix)
  assert.equal(check.auth.state.creds.accountSyncCounter, 19)
  assert.equal((await check.auth.state.keys.get('pre-key', ['1']))['1'] ?? null, null)

  // A key b never saw is read before its first write, so a's value there is no conflict...
  await a.auth.state.keys.set({ tctoken: { x: VALUES.tctoken } })
  const c = await open(prefix)
  await c.auth.state.keys.set({ tctoken: { x: { token: Buffer.from('new'), timestamp: '1' } } })
  assert.deepEqual(c.conflicts, [])
  // ...but a's next write of it, on the revision a knew, is.
  await assert.rejects(a.auth.state.keys.set({ tctoken: { x: VALUES.tctoken } }), AuthConflictError)
  assert.deepEqual(a.conflicts, [`default.tctoken.${Buffer.from('x').toString('base64url')}`])
})

const READER = `
import { connect } from '@nats-io/transport-node'
import { encodeJSON } from './src/codec.js'
import { openAuthBucket, useKvAuthState } from './src/kv-auth-state.js'
const nc = await connect({ servers: process.env.URL })
const logger = { info() {}, warn() {}, error() {}, trace() {}, debug() {}, child() { return logger } }
const auth = await useKvAuthState({ kv: await openAuthBucket(nc, process.env.PREFIX), session: 'default', logger })
process.stdout.write(encodeJSON(auth.state.creds))
await nc.close()
`

test('a host that no longer holds the session writes nothing, even where no CAS would object', async () => {
  const { prefix } = uniqueNames()
  let held = true
  const a = await open(prefix, { mayWrite: () => held })
  await a.auth.saveCreds()
  held = false
  await assert.rejects(a.auth.state.keys.set({ session: { 1: VALUES.session } }), /no longer holds the session/)
  await assert.rejects(a.auth.saveCreds(), /no longer holds the session/)
  const check = await open(prefix)
  assert.equal((await check.auth.state.keys.get('session', ['1']))['1'] ?? null, null)
})

test('a second process reading the same bucket sees the same creds', async () => {
  const { prefix } = uniqueNames()
  const a = await open(prefix)
  a.auth.state.creds.me = { id: '5511999999999:3@s.whatsapp.net', name: 'Desk' }
  await a.auth.saveCreds()
  const { stdout } = await promisify(execFile)(process.execPath, ['--input-type=module', '-e', READER], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', URL: server.url, PREFIX: prefix },
  })
  assert.equal(stdout, encodeJSON(a.auth.state.creds))
})

test('a file auth state is imported once, ids that file names lose included; later writes win over it', async (t) => {
  const { prefix } = uniqueNames()
  const dir = tmpDir(t)
  const file = await useAtomicAuthState(dir, memoryLogger())
  file.state.creds.me = { id: '5511999999999:3@s.whatsapp.net', name: 'Desk' }
  file.state.creds.registered = true
  await file.saveCreds()
  await file.state.keys.set(Object.fromEntries(Object.entries(VALUES).map(([type, v]) => [type, { [ODD_ID]: v, 7: v }])))

  const kvState = await open(prefix, { importDir: dir })
  assertSameCreds(kvState.auth.state.creds, file.state.creds)
  assert.ok(kvState.logger.records.some((r) => r.level === 'info' && r.obj.keys === 2 * Object.keys(VALUES).length))
  for (const [type, want] of Object.entries(VALUES)) {
    const got = await kvState.auth.state.keys.get(type, [ODD_ID, '7'])
    assertSame(got[ODD_ID], want, type)
    assertSame(got['7'], want, type)
  }

  // Once: the KV now has creds, so a changed file is not imported again.
  file.state.creds.me = { id: 'changed@s.whatsapp.net' }
  await file.saveCreds()
  const again = await open(prefix, { importDir: dir })
  assert.equal(again.auth.state.creds.me.id, '5511999999999:3@s.whatsapp.net')

  // Deleting an id imported under its file name must not let the file entry resurface.
  await again.auth.state.keys.set({ 'sender-key': { [ODD_ID]: null } })
  const after = await open(prefix)
  assert.equal((await after.auth.state.keys.get('sender-key', [ODD_ID]))[ODD_ID] ?? null, null)
  assertSame((await after.auth.state.keys.get('sender-key', ['7']))['7'], VALUES['sender-key'], 'sender-key')
  const keys = []
  for await (const k of await after.kv.keys('default.import.>')) keys.push(k)
  assert.equal(keys.length, Object.keys(VALUES).length - 1, 'the deleted id\'s file entry is gone, the others stay')
})

test('the wipe removes the whole session and nothing of another', async () => {
  const { prefix } = uniqueNames()
  const a = await open(prefix)
  await a.auth.saveCreds()
  await a.auth.state.keys.set({ session: { 1: VALUES.session } })
  const other = await useKvAuthState({ kv: a.kv, session: 'other', logger: memoryLogger() })
  await other.saveCreds()
  a.auth.close()
  await wipeKvAuthState({ kv: a.kv, session: 'default', logger: memoryLogger() })
  const keys = []
  for await (const k of await a.kv.keys()) keys.push(k)
  assert.deepEqual(keys, ['other.creds'])
  const fresh = await open(prefix)
  assert.equal(fresh.auth.state.creds.registered, false)
  assert.notDeepEqual(fresh.auth.state.creds.noiseKey, a.auth.state.creds.noiseKey)
  // A late save of the closed state writes nothing.
  await a.auth.saveCreds()
  assert.equal((await open(prefix)).auth.state.creds.registered, false)
})

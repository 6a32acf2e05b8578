import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Boom } from '@hapi/boom'
import { createDispatcher } from '../src/commands.js'
import { Journal } from '../src/journal.js'
import { Publisher } from '../src/publisher.js'
import { memoryLogger, tmpDir } from './helpers.js'

/** A Baileys-shaped socket whose methods record their arguments. */
class FakeSocket {
  constructor() {
    /** @type {[string, any[]][]} */
    this.calls = []
  }
  /** @param {any[]} args */
  async sendMessage(...args) {
    this.calls.push(['sendMessage', args])
    return { key: { remoteJid: args[0], fromMe: true, id: 'SENT1' }, message: { conversation: args[1].text }, messageTimestamp: 1 }
  }
  /** @param {any[]} args */
  async onWhatsApp(...args) {
    this.calls.push(['onWhatsApp', args])
    return args.map((jid) => ({ jid, exists: true }))
  }
  async groupMetadata() {
    throw new Boom('item-not-found', { statusCode: 404 })
  }
  async profilePictureUrl() {
    return new Promise(() => {}) // never answers
  }
  async presenceSubscribe() {
    throw new TypeError('Cannot read properties of undefined')
  }
  /** @param {any[]} args */
  async requestPairingCode(...args) {
    this.calls.push(['requestPairingCode', args])
    return 'ABCD1234'
  }
}

/** Same interface as WhatsApp (src/whatsapp.js), no Baileys inside. */
class FakeWhatsApp {
  constructor() {
    this.connection = 'idle'
    /** @type {FakeSocket|null} */
    this.sock = null
    this.me = null
    /** @type {any[]} */
    this.sent = []
  }
  get openSocket() {
    return this.connection === 'open' ? this.sock : null
  }
  async connect() {
    if (this.sock) return { already: true }
    this.sock = new FakeSocket()
    this.connection = 'connecting'
    return { already: false }
  }
  async disconnect() {
    const had = this.sock !== null
    this.sock = null
    this.connection = 'close'
    return { ended: had }
  }
  /** @param {{wipe: boolean}} opts */
  async logout({ wipe }) {
    this.sock = null
    this.connection = 'close'
    return { wiped: wipe }
  }
  /** @param {any} m */
  rememberSent(m) {
    this.sent.push(m)
  }
  /** @param {any} _sock @param {any} msg */
  async downloadMedia(_sock, msg) {
    return Buffer.from(`media of ${msg.key.id}`)
  }
}

/**
 * @param {import('node:test').TestContext} t
 * @param {{mode?: 'live'|'replay', timeoutMs?: number, lease?: {held(): boolean}|null}} [opts]
 */
function setup(t, { mode = 'live', timeoutMs = 1000, lease = null } = {}) {
  const journal = new Journal({ dir: tmpDir(t) })
  t.after(() => journal.close())
  const publisher = new Publisher({ journal, sink: { send() {} }, epoch: 'E1' })
  const whatsapp = mode === 'live' ? new FakeWhatsApp() : null
  const dispatch = createDispatcher({
    mode,
    journal,
    publisher,
    whatsapp: /** @type {any} */ (whatsapp),
    lease,
    commandTimeoutMs: timeoutMs,
    versions: { bridge: '0.1.0', baileys: 'x', node: process.versions.node },
    logger: memoryLogger(),
  })
  /** @param {unknown} req */
  const call = async (req) => JSON.parse(await dispatch(typeof req === 'string' ? req : JSON.stringify(req)))
  return { journal, publisher, whatsapp, dispatch, call }
}

test('bad_request: not JSON, not an object, no id, no method, params of the wrong shape', async (t) => {
  const { call } = setup(t)
  for (const req of ['{nope', '[1,2]', { method: 'state' }, { id: null, method: 'state' }, { id: {}, method: 'state' }]) {
    const r = await call(req)
    assert.equal(r.ok, false)
    assert.equal(r.id, null)
    assert.equal(r.error.code, 'bad_request', JSON.stringify(req))
  }
  assert.equal((await call({ id: 1 })).error.code, 'bad_request')
  assert.equal((await call({ id: 1, method: 'sendMessage', params: { jid: 'x' } })).error.code, 'bad_request')
  assert.equal((await call({ id: 1, method: 'replay', params: [1] })).error.code, 'bad_request')
  assert.equal((await call({ id: 1, method: 'state', timeoutMs: -5 })).error.code, 'bad_request')
})

test('unknown_method, including prototype names and relayMessage', async (t) => {
  const { call } = setup(t)
  for (const method of ['nope', 'toString', '__proto__', 'relayMessage', 'logoutAll']) {
    const r = await call({ id: 'x', method })
    assert.equal(r.error.code, 'unknown_method', method)
    assert.equal(r.id, 'x')
  }
})

test('state reports epoch, seq, connection, mode, journal and identity', async (t) => {
  const { call, publisher } = setup(t)
  publisher.publish('bridge.started', {})
  publisher.publish('x', {})
  const r = await call({ id: 7, method: 'state' })
  assert.equal(r.ok, true)
  assert.equal(r.id, 7)
  assert.deepEqual(
    { ...r.result, journal: undefined, versions: undefined },
    { epoch: 'E1', seq: 2, connection: 'idle', mode: 'live', oldest: { epoch: 'E1', seq: 1 }, me: null, pid: process.pid, proxy: null, journal: undefined, versions: undefined },
  )
  assert.equal(r.result.journal.events, 2)
})

test('replay returns stored envelopes verbatim; position_gone carries oldest and last', async (t) => {
  const { call, dispatch, publisher } = setup(t)
  for (let i = 1; i <= 30; i++) publisher.publish('e', { i })
  const r = await call({ id: 'r', method: 'replay', params: { epoch: 'E1', seq: 10, limit: 5 } })
  assert.equal(r.ok, true)
  assert.deepEqual(r.result.events.map((/** @type {any} */ e) => e.seq), [11, 12, 13, 14, 15])
  assert.equal(r.result.more, true)
  assert.deepEqual(r.result.events[0].data, { i: 11 })
  const fromStart = await call({ id: 'r', method: 'replay', params: { epoch: null, seq: 0 } })
  assert.equal(fromStart.result.events.length, 30)
  assert.equal(fromStart.result.more, false)
  // The raw reply is exactly the journal's lines joined (no re-serialization).
  const raw = await dispatch(JSON.stringify({ id: 'raw', method: 'replay', params: { epoch: 'E1', seq: 29 } }))
  assert.match(raw, /^\{"id":"raw","ok":true,"result":\{"events":\[\{"v":1,"epoch":"E1","seq":30,/)
  const gone = await call({ id: 'g', method: 'replay', params: { epoch: 'OLD', seq: 3 } })
  assert.deepEqual(gone.error.code, 'position_gone')
  assert.deepEqual(gone.error.oldest, { epoch: 'E1', seq: 1 })
  assert.deepEqual(gone.error.last, { epoch: 'E1', seq: 30 })
  assert.equal((await call({ id: 1, method: 'replay', params: { epoch: 'E1', seq: -1 } })).error.code, 'bad_params')
  // until: everything before that position, never it; `more` false once it is reached.
  const upTo = await call({ id: 'u', method: 'replay', params: { epoch: 'E1', seq: 10, until: { epoch: 'E1', seq: 14 } } })
  assert.deepEqual(upTo.result.events.map((/** @type {any} */ e) => e.seq), [11, 12, 13])
  assert.equal(upTo.result.more, false)
  const pastPage = await call({ id: 'u', method: 'replay', params: { epoch: 'E1', seq: 10, limit: 2, until: { epoch: 'E1', seq: 14 } } })
  assert.deepEqual(pastPage.result.events.map((/** @type {any} */ e) => e.seq), [11, 12])
  assert.equal(pastPage.result.more, true)
  const elsewhere = await call({ id: 'u', method: 'replay', params: { epoch: 'E1', seq: 28, until: { epoch: 'E2', seq: 1 } } })
  assert.deepEqual(elsewhere.result.events.map((/** @type {any} */ e) => e.seq), [29, 30])
  for (const until of [5, { epoch: 'E1' }, { epoch: 'E1', seq: 0 }, { epoch: 1, seq: 2 }]) {
    assert.equal((await call({ id: 1, method: 'replay', params: { epoch: 'E1', seq: 1, until } })).error.code, 'bad_params')
  }
  assert.equal((await call({ id: 1, method: 'replay', params: { epoch: 5, seq: 1 } })).error.code, 'bad_params')
})

test('not_connected until the socket is open; requestPairingCode works while connecting', async (t) => {
  const { call, whatsapp } = setup(t)
  const wa = /** @type {FakeWhatsApp} */ (whatsapp)
  const send = { id: 's', method: 'sendMessage', params: ['1@s.whatsapp.net', { text: 'hi' }] }
  assert.equal((await call(send)).error.code, 'not_connected')
  assert.deepEqual((await call({ id: 'c', method: 'connect' })).result, { already: false })
  assert.deepEqual((await call({ id: 'c', method: 'connect' })).result, { already: true })
  assert.equal((await call(send)).error.code, 'not_connected')
  const pc = await call({ id: 'p', method: 'requestPairingCode', params: ['5511999999999'] })
  assert.equal(pc.result, 'ABCD1234')
  wa.connection = 'open'
  const ok = await call(send)
  assert.equal(ok.ok, true)
  assert.equal(ok.result.key.id, 'SENT1')
  assert.equal(wa.sent.length, 1) // remembered for getMessage
})

test('params are decoded with the codec; results are encoded', async (t) => {
  const { call, whatsapp } = setup(t)
  const wa = /** @type {FakeWhatsApp} */ (whatsapp)
  await call({ id: 'c', method: 'connect' })
  wa.connection = 'open'
  const img = { image: { $bytes: Buffer.from('PNG').toString('base64') }, caption: 'x' }
  await call({ id: 's', method: 'sendMessage', params: ['1@s.whatsapp.net', img] })
  const [, args] = /** @type {FakeSocket} */ (wa.sock).calls[0]
  assert.ok(Buffer.isBuffer(args[1].image))
  assert.equal(args[1].image.toString(), 'PNG')
  const media = await call({ id: 'd', method: 'downloadMedia', params: [{ key: { id: 'M1' }, message: { imageMessage: {} } }] })
  assert.deepEqual(media.result, { $bytes: Buffer.from('media of M1').toString('base64') })
})

test('bad_params: basic checks and TypeErrors thrown by the method', async (t) => {
  const { call, whatsapp } = setup(t)
  const wa = /** @type {FakeWhatsApp} */ (whatsapp)
  await call({ id: 'c', method: 'connect' })
  wa.connection = 'open'
  assert.equal((await call({ id: 1, method: 'sendMessage', params: ['1@s.whatsapp.net'] })).error.code, 'bad_params')
  assert.equal((await call({ id: 1, method: 'onWhatsApp', params: [] })).error.code, 'bad_params')
  assert.equal((await call({ id: 1, method: 'updateBlockStatus', params: ['x', 'maybe'] })).error.code, 'bad_params')
  assert.equal((await call({ id: 1, method: 'presenceSubscribe', params: ['x@s.whatsapp.net'] })).error.code, 'bad_params')
  assert.equal((await call({ id: 1, method: 'logout', params: { wipe: 'yes' } })).error.code, 'bad_params')
})

test('failed carries the Boom statusCode; timeout honours the default and the request', async (t) => {
  const { call, whatsapp } = setup(t, { timeoutMs: 100 })
  const wa = /** @type {FakeWhatsApp} */ (whatsapp)
  await call({ id: 'c', method: 'connect' })
  wa.connection = 'open'
  const failed = await call({ id: 1, method: 'groupMetadata', params: ['1@g.us'] })
  assert.equal(failed.error.code, 'failed')
  assert.equal(failed.error.statusCode, 404)
  assert.match(failed.error.message, /item-not-found/)
  const t0 = Date.now()
  const slow = await call({ id: 2, method: 'profilePictureUrl', params: ['1@s.whatsapp.net'] })
  assert.equal(slow.error.code, 'timeout')
  assert.ok(Date.now() - t0 < 1000)
  const custom = await call({ id: 3, method: 'profilePictureUrl', params: ['1@s.whatsapp.net'], timeoutMs: 20 })
  assert.equal(custom.error.code, 'timeout')
  assert.match(custom.error.message, /20 ms/)
})

test('disconnect and logout', async (t) => {
  const { call } = setup(t)
  await call({ id: 'c', method: 'connect' })
  assert.deepEqual((await call({ id: 1, method: 'disconnect' })).result, { ended: true })
  assert.deepEqual((await call({ id: 2, method: 'logout' })).result, { wiped: true })
  assert.deepEqual((await call({ id: 3, method: 'logout', params: { wipe: false } })).result, { wiped: false })
})

test('replay_mode: WhatsApp commands are refused, state and replay still work', async (t) => {
  const { call, publisher } = setup(t, { mode: 'replay' })
  publisher.publish('x', {})
  for (const req of [
    { id: 1, method: 'connect' },
    { id: 2, method: 'disconnect' },
    { id: 3, method: 'logout' },
    { id: 4, method: 'sendMessage', params: ['1@s.whatsapp.net', { text: 'x' }] },
  ]) {
    assert.equal((await call(req)).error.code, 'replay_mode', req.method)
  }
  const st = await call({ id: 5, method: 'state' })
  assert.equal(st.result.mode, 'replay')
  assert.equal(st.result.connection, 'idle')
  assert.equal((await call({ id: 6, method: 'replay', params: { epoch: 'E1', seq: 0 } })).result.events.length, 1)
})

test('not_holder: once the session lease is not held, every command is refused before it runs', async (t) => {
  let held = true
  const { call, whatsapp } = setup(t, { lease: { held: () => held } })
  assert.equal((await call({ id: 1, method: 'connect' })).ok, true)
  held = false
  for (const req of [
    { id: 2, method: 'state' },
    { id: 3, method: 'disconnect' },
    { id: 4, method: 'sendMessage', params: ['1@s.whatsapp.net', { text: 'x' }] },
    { id: 5, method: 'nope' },
  ]) {
    const reply = await call(req)
    assert.deepEqual([reply.id, reply.ok, reply.error.code], [req.id, false, 'not_holder'], req.method)
  }
  assert.equal(whatsapp?.connection, 'connecting', 'disconnect did not run')
  assert.equal((await call('not json')).error.code, 'bad_request')
})

/**
 * WhatsApp event forwarding with Baileys' real event buffer behind a fake socket factory
 * (same interface as makeWASocket; no network at all).
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { Boom } from '@hapi/boom'
import { DisconnectReason, makeEventBuffer, proto } from '@whiskeysockets/baileys'
import pino from 'pino'
import { readConfig } from '../src/config.js'
import { Recorder } from '../src/recorder.js'
import { WhatsApp } from '../src/whatsapp.js'
import { sleep, tmpDir, waitFor } from './helpers.js'

/** @param {import('node:test').TestContext} t */
function setup(t) {
  const dir = tmpDir(t)
  const config = readConfig({ BRIDGE_DATA_DIR: dir, BRIDGE_WA_URL: 'ws://127.0.0.1:1/never', BRIDGE_LOG_LEVEL: 'silent' })
  /** @type {{event: string, data: any}[]} */
  const published = []
  /** @type {any[]} */
  const sockets = []
  /** @type {any[]} */
  const socketConfigs = []
  const logger = pino({ level: 'silent' })
  const recorder = new Recorder(path.join(dir, 'rec.jsonl'))
  const wa = new WhatsApp({
    config,
    logger,
    recorder,
    publish: (event, data) => {
      published.push({ event, data })
      return published.length
    },
    makeSocket: /** @type {any} */ (
      (/** @type {any} */ cfg) => {
        socketConfigs.push(cfg)
        const ev = makeEventBuffer(logger)
        // As Baileys' socket does: creds are merged before process() handlers run.
        ev.on('creds.update', (/** @type {any} */ u) => Object.assign(cfg.auth.creds, u))
        const sock = {
          ev,
          ended: 0,
          async end() {
            this.ended += 1
            ev.emit('connection.update', { connection: 'close', lastDisconnect: { error: undefined, date: new Date() } })
          },
          async logout() {
            throw new Error('offline')
          },
        }
        sockets.push(sock)
        return sock
      }
    ),
  })
  return { wa, config, published, sockets, socketConfigs, dir, recorder }
}

test('every event is forwarded encoded, in map order; creds.update carries no key material', async (t) => {
  const { wa, published, sockets, socketConfigs, dir, recorder, config } = setup(t)
  assert.deepEqual(await wa.connect(), { already: false })
  assert.equal(wa.connection, 'connecting')
  const cfg = socketConfigs[0]
  assert.equal(cfg.waWebSocketUrl, 'ws://127.0.0.1:1/never')
  assert.equal(cfg.markOnlineOnConnect, false)
  assert.equal(cfg.syncFullHistory, false)
  const { ev } = sockets[0]
  const msg = proto.WebMessageInfo.fromObject({ key: { remoteJid: '1@s.whatsapp.net', id: 'A' }, messageTimestamp: 5, message: { conversation: 'hi' } })
  ev.emit('connection.update', { connection: 'open' })
  ev.emit('creds.update', {
    me: { id: '5511:1@s.whatsapp.net', name: 'Desk' },
    registered: true,
    noiseKey: { private: Buffer.alloc(32, 9), public: Buffer.alloc(32, 8) },
    advSecretKey: 'c2VjcmV0',
  })
  ev.emit('messages.upsert', { messages: [msg], type: 'notify' })
  ev.emit('chats.update', [{ id: '1@s.whatsapp.net', unreadCount: 2, conditional: () => true }])
  await sleep(20)
  assert.deepEqual(published.map((p) => p.event), ['connection.update', 'creds.update', 'messages.upsert', 'chats.update'])
  assert.equal(wa.connection, 'open')
  assert.deepEqual(published[1].data, { me: { id: '5511:1@s.whatsapp.net', name: 'Desk' }, registered: true })
  assert.ok(!JSON.stringify(published).includes('c2VjcmV0'), 'no secret may be published')
  assert.equal(published[2].data.messages[0].messageTimestamp, 5)
  assert.deepEqual(published[3].data, [{ id: '1@s.whatsapp.net', unreadCount: 2 }])
  assert.deepEqual(wa.me, { id: '5511:1@s.whatsapp.net', name: 'Desk' })
  // The capture holds exactly what went on the wire (so no secrets either).
  recorder.close()
  const rec = fs.readFileSync(path.join(dir, 'rec.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  assert.deepEqual(rec.map((r) => ({ event: r.event, data: r.data })), published)
  // creds were persisted, atomically, with the key material.
  // Saved without being awaited (open, write, fsync, rename): wait for the file, whole once there.
  const credsFile = path.join(config.authDir, 'creds.json')
  await waitFor(() => fs.existsSync(credsFile), 'creds.json')
  const creds = JSON.parse(fs.readFileSync(credsFile, 'utf8'))
  assert.equal(creds.me.id, '5511:1@s.whatsapp.net')
})

test('close drops the socket, no self-reconnect; connect is idempotent while connecting', async (t) => {
  const { wa, sockets } = setup(t)
  const [a, b] = await Promise.all([wa.connect(), wa.connect()])
  assert.deepEqual([a.already, b.already], [false, true])
  assert.equal(sockets.length, 1)
  assert.deepEqual(await wa.connect(), { already: true })
  sockets[0].ev.emit('connection.update', { connection: 'close', lastDisconnect: { error: new Boom('x', { statusCode: DisconnectReason.connectionReplaced }) } })
  await sleep(20)
  assert.equal(wa.connection, 'close')
  assert.equal(wa.sock, null)
  await sleep(50)
  assert.equal(sockets.length, 1, 'must not reconnect by itself')
  assert.deepEqual(await wa.connect(), { already: false })
  assert.equal(sockets.length, 2)
  // A late event from the dead socket must not change the new socket's state.
  sockets[0].ev.emit('connection.update', { connection: 'open' })
  await sleep(20)
  assert.equal(wa.connection, 'connecting')
})

test('disconnect ends without logout; logout ignores a failed request and wipes the auth dir', async (t) => {
  const { wa, sockets, config, published } = setup(t)
  await wa.connect()
  sockets[0].ev.emit('connection.update', { connection: 'open' })
  await sleep(10)
  assert.deepEqual(await wa.disconnect(), { ended: true })
  assert.equal(sockets[0].ended, 1)
  assert.equal(wa.connection, 'close')
  assert.deepEqual(await wa.disconnect(), { ended: false })
  await wa.connect()
  sockets[1].ev.emit('connection.update', { connection: 'open' })
  sockets[1].ev.emit('creds.update', { me: { id: 'x@s.whatsapp.net' } })
  await waitFor(() => fs.existsSync(path.join(config.authDir, 'creds.json')), 'creds.json')
  assert.deepEqual(await wa.logout({ wipe: true }), { wiped: true })
  assert.deepEqual(fs.readdirSync(config.authDir), [])
  assert.equal(wa.me, null)
  assert.equal(published.filter((p) => p.event === 'connection.update' && p.data.connection === 'close').length, 2)
})

test('a socket factory that throws publishes bridge.error and leaves state close', async (t) => {
  const { wa, published } = setup(t)
  wa.makeSocket = /** @type {any} */ (() => {
    throw new Boom('bad url', { statusCode: 400 })
  })
  await assert.rejects(wa.connect(), /bad url/)
  assert.equal(wa.connection, 'close')
  assert.equal(published[0].event, 'bridge.error')
  assert.equal(published[0].data.error.$error.statusCode, 400)
})

test('a publish failure is reported, never thrown into Baileys', async (t) => {
  const { wa, sockets, published } = setup(t)
  let fail = true
  const publish = wa.publish
  wa.publish = (e, d) => {
    if (fail && e !== 'bridge.error') {
      fail = false
      throw new Error('disk full')
    }
    return publish(e, d)
  }
  await wa.connect()
  sockets[0].ev.emit('messages.upsert', { messages: [], type: 'notify' })
  await sleep(20)
  assert.equal(published[0].event, 'bridge.error')
  assert.equal(published[0].data.where, 'event:messages.upsert')
})

test('sent messages are served to getMessage, bounded', async (t) => {
  const { wa, socketConfigs } = setup(t)
  await wa.connect()
  const getMessage = socketConfigs[0].getMessage
  wa.rememberSent({ key: { id: 'S1' }, message: { conversation: 'one' } })
  assert.deepEqual(await getMessage({ id: 'S1' }), { conversation: 'one' })
  assert.equal(await getMessage({ id: 'nope' }), undefined)
  for (let i = 0; i < 6000; i++) wa.rememberSent({ key: { id: `X${i}` }, message: {} })
  assert.equal(wa.sent.size, 5000)
  assert.equal(await getMessage({ id: 'S1' }), undefined)
  assert.equal(socketConfigs[0].msgRetryCounterCache, wa.retryCounters)
})

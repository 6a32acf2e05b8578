import assert from 'node:assert/strict'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import zmq from 'zeromq'
import { decode, encode } from '../src/codec.js'
import { createDispatcher } from '../src/commands.js'
import { ENV_NAMES, readConfig } from '../src/config.js'
import { Journal } from '../src/journal.js'
import { Publisher } from '../src/publisher.js'
import { ReplaySends } from '../src/replay-sends.js'
import { collect, commandClient, memoryLogger, sleep, spawnBridge, tmpDir } from './helpers.js'

const JID = '5511900000007@s.whatsapp.net'

/** @param {import('node:test').TestContext} t @param {{commandLog?: string|null}} [opts] */
function setup(t, { commandLog = null } = {}) {
  /** @type {{event: string, data: any}[]} */
  const published = []
  const logger = memoryLogger()
  const sends = new ReplaySends({ publish: (event, data) => published.push({ event, data }), logger, commandLog, ackDelayMs: 20 })
  t.after(() => sends.close())
  return { sends, published, logger }
}

test('a text send answers like WhatsApp: upsert (append, pending), then the server ack', async (t) => {
  const { sends, published, logger } = setup(t)
  const msg = await sends.sendMessage(JID, { text: 'secret text' }, { messageId: '3EB0AAAA' })
  assert.deepEqual({ ...msg.key }, { remoteJid: JID, fromMe: true, id: '3EB0AAAA' })
  assert.equal(msg.status, 1)
  assert.equal(msg.message.extendedTextMessage.text, 'secret text')
  assert.equal(published.length, 1)
  assert.equal(published[0].event, 'messages.upsert')
  assert.equal(published[0].data.type, 'append')
  const wire = published[0].data.messages[0]
  assert.deepEqual(wire, encode(msg), 'published through the lossless codec')
  await sleep(60)
  assert.equal(published.length, 2)
  assert.deepEqual(published[1], { event: 'messages.update', data: [{ key: wire.key, update: { status: 2 } }] })
  // Logged at info with ids and the content type, never the text.
  const info = logger.records.filter((r) => r.level === 'info')
  assert.equal(info.length, 1)
  assert.deepEqual(info[0].obj, { jid: JID, messageId: '3EB0AAAA', type: 'extendedTextMessage', quoted: false, bytes: undefined })
  assert.ok(!JSON.stringify(logger.records).includes('secret'))
})

test('read receipts are announced as bridge.messages_read, with the keys read', async (t) => {
  const { sends, published } = setup(t)
  const keys = [{ remoteJid: JID, id: 'IN1', fromMe: false }, { remoteJid: JID, id: 'IN2', fromMe: false }]
  assert.equal(await sends.call('readMessages', [keys]), null)
  assert.deepEqual(published, [{ event: 'bridge.messages_read', data: { keys } }])
})

test('presence and chat states are taken and answered with nothing, as WhatsApp does', async (t) => {
  const { sends, published } = setup(t)
  assert.equal(await sends.call('presenceSubscribe', [JID]), null)
  assert.equal(await sends.call('sendPresenceUpdate', ['composing', JID]), null)
  assert.equal(await sends.call('sendPresenceUpdate', ['available']), null)
  assert.deepEqual(published, [], 'nothing published')
})

test('a group the replay does not know is one WhatsApp does not know: failed, status 404', async (t) => {
  const { sends, published } = setup(t)
  await assert.rejects(sends.call('groupMetadata', ['120363000000000000@g.us']), (err) => {
    assert.match(err.message, /item-not-found/)
    assert.equal(err.output.statusCode, 404)
    return true
  })
  assert.deepEqual(published, [], 'nothing published')
})

test('a reply quotes, a reaction reacts, an id is made when none is given', async (t) => {
  const { sends } = setup(t)
  const quoted = decode({ key: { remoteJid: JID, fromMe: false, id: 'Q1' }, message: { conversation: 'where is my order?' } })
  const reply = await sends.sendMessage(JID, { text: 'on its way' }, { messageId: 'R1', quoted })
  const context = reply.message.extendedTextMessage.contextInfo
  assert.equal(context.stanzaId, 'Q1')
  assert.equal(context.participant, JID)
  assert.equal(context.quotedMessage.conversation, 'where is my order?')

  const reaction = await sends.sendMessage(JID, { react: { text: '👍', key: quoted.key } })
  assert.match(reaction.key.id, /^3EB0[0-9A-F]{20}$/)
  assert.equal(reaction.message.reactionMessage.text, '👍')
  assert.equal(reaction.message.reactionMessage.key.id, 'Q1')
})

test('media is never uploaded: metadata and hash in the message, bytes kept for downloadMedia', async (t) => {
  const { sends, published } = setup(t)
  const bytes = Buffer.from('%PDF-1.4 not really')
  const msg = await sends.sendMessage(JID, { document: bytes, mimetype: 'application/pdf', fileName: 'invoice.pdf', caption: 'here' }, { messageId: 'D1' })
  const doc = msg.message.documentMessage
  assert.equal(doc.mimetype, 'application/pdf')
  assert.equal(doc.fileName, 'invoice.pdf')
  assert.equal(doc.caption, 'here')
  assert.equal(Number(doc.fileLength), bytes.length)
  assert.equal(Buffer.from(doc.fileSha256).length, 32)
  assert.ok(!doc.url && !doc.directPath, 'no url: nothing was uploaded')
  assert.ok(!doc.mediaKey?.length)
  assert.deepEqual(sends.downloadMedia(decode(published[0].data.messages[0])), bytes)
  assert.throws(() => sends.downloadMedia({ key: { id: 'captured' } }), /not available in replay mode/)

  const byUrl = await sends.sendMessage(JID, { image: { url: 'https://example.invalid/x.jpg' } }, { messageId: 'I1' })
  assert.equal(byUrl.message.imageMessage.mimetype, 'image/jpeg')
  assert.throws(() => sends.downloadMedia(byUrl))
})

test('the media cache is bounded: the oldest bytes go first', async (t) => {
  const sends = new ReplaySends({ publish: () => 0, logger: memoryLogger(), ackDelayMs: 1, mediaCacheBytes: 10 })
  t.after(() => sends.close())
  await sends.sendMessage(JID, { document: Buffer.alloc(6) }, { messageId: 'A' })
  await sends.sendMessage(JID, { document: Buffer.alloc(6) }, { messageId: 'B' })
  assert.throws(() => sends.downloadMedia({ key: { id: 'A' } }))
  assert.equal(sends.downloadMedia({ key: { id: 'B' } }).length, 6)
})

test('through the dispatcher in replay mode: sendMessage works, every command is logged', async (t) => {
  const dir = tmpDir(t)
  const commandLog = path.join(dir, 'commands.jsonl')
  const journal = new Journal({ dir: path.join(dir, 'journal') })
  t.after(() => journal.close())
  const publisher = new Publisher({ journal, sink: { send() {} }, epoch: 'E1' })
  const sends = new ReplaySends({ publish: publisher.publish.bind(publisher), logger: memoryLogger(), commandLog, ackDelayMs: 10 })
  t.after(() => sends.close())
  const dispatch = createDispatcher({
    mode: 'replay',
    journal,
    publisher,
    whatsapp: null,
    replaySends: sends,
    commandTimeoutMs: 1000,
    versions: { bridge: '0', baileys: 'x', node: process.versions.node },
    logger: memoryLogger(),
  })
  /** @param {unknown} req */
  const call = async (req) => JSON.parse(await dispatch(JSON.stringify(req)))
  const params = [JID, { text: 'hi' }, { messageId: 'M1' }]
  const sent = await call({ id: 1, method: 'sendMessage', params })
  assert.equal(sent.ok, true, JSON.stringify(sent.error))
  assert.equal(sent.result.key.id, 'M1')
  assert.equal((await call({ id: 2, method: 'connect' })).error.code, 'replay_mode')
  assert.equal((await call({ id: 3, method: 'sendMessage', params: ['', {}] })).error.code, 'bad_params')
  const logged = fs.readFileSync(commandLog, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  assert.deepEqual(logged, [
    { method: 'sendMessage', params },
    { method: 'connect', params: null },
    { method: 'sendMessage', params: ['', {}] },
  ])
  await sleep(40)
  assert.deepEqual(journal.readAfter(null, 10, 1 << 20).events.map((l) => JSON.parse(l).event), ['messages.upsert', 'messages.update'])
})

test('BRIDGE_COMMAND_LOG is read once, like every variable', () => {
  assert.ok(ENV_NAMES.includes('BRIDGE_COMMAND_LOG'))
  assert.equal(readConfig({ BRIDGE_COMMAND_LOG: '/tmp/c.jsonl' }).commandLog, '/tmp/c.jsonl')
  assert.equal(readConfig({}).commandLog, null)
})

test('a replaying bridge process answers sendMessage and publishes the message and its ack', async (t) => {
  const dir = tmpDir(t)
  const capture = path.join(dir, 'c.jsonl')
  fs.writeFileSync(capture, JSON.stringify({ event: 'connection.update', data: { connection: 'open' } }) + '\n')
  const env = {
    BRIDGE_PUB: `ipc://${dir}/pub`,
    BRIDGE_ROUTER: `ipc://${dir}/router`,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: capture,
    BRIDGE_COMMAND_LOG: path.join(dir, 'commands.jsonl'),
  }
  const bridge = spawnBridge(env)
  const client = commandClient(env.BRIDGE_ROUTER)
  const sub = new zmq.Subscriber({ linger: 0, receiveTimeout: 200 })
  t.after(() => {
    sub.close()
    client.close()
    bridge.child.kill('SIGKILL')
  })
  sub.connect(env.BRIDGE_PUB)
  sub.subscribe()
  await client.waitReady()
  // A heartbeat through the subscription: it reaches the PUB socket before the send publishes.
  await collect(sub, (e) => e.event === 'bridge.heartbeat', { heartbeats: true, timeoutMs: 10000 })
  const reply = await client.call('sendMessage', [JID, { text: 'hello' }, { messageId: '3EB0P1' }])
  assert.equal(reply.ok, true, JSON.stringify(reply.error))
  assert.deepEqual(reply.result.key, { remoteJid: JID, fromMe: true, id: '3EB0P1' })
  const events = await collect(sub, (e) => e.event === 'messages.update', { timeoutMs: 5000 })
  const upsert = events.find((e) => e.event === 'messages.upsert')
  assert.equal(upsert.data.messages[0].key.id, '3EB0P1')
  assert.equal(upsert.data.messages[0].status, 1)
  assert.deepEqual(events.at(-1).data, [{ key: upsert.data.messages[0].key, update: { status: 2 } }])
  const logged = fs.readFileSync(env.BRIDGE_COMMAND_LOG, 'utf8').trim().split('\n').map((l) => JSON.parse(l))
  assert.deepEqual(logged.filter((c) => c.method === 'sendMessage'), [{ method: 'sendMessage', params: [JID, { text: 'hello' }, { messageId: '3EB0P1' }] }])
  const stopped = await bridge.stop()
  assert.equal(stopped.code, 0, bridge.output())
})

/**
 * The bridge says who it is (identity.js): the id of its data dir and its session, in
 * bridge.started, every heartbeat and `state`; and a replay serves the demo capture's media
 * (replay-media.js) with the real bytes. Real processes: `node src/main.js` in replay mode.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import zmq from 'zeromq'
import { decode } from '../src/codec.js'
import { ID_FILE, bridgeId } from '../src/identity.js'
import { DEFAULT_MEDIA_DIR, ReplayMedia } from '../src/replay-media.js'
import { ROOT, collect, commandClient, memoryLogger, spawnBridge, tmpDir } from './helpers.js'

/** Width and height from a PNG's IHDR. @param {Buffer} png */
const pngSize = (png) => ({ width: png.readUInt32BE(16), height: png.readUInt32BE(20) })

test('bridgeId: made once per data dir, kept, never silently replaced', (t) => {
  const dir = tmpDir(t)
  const a = bridgeId(path.join(dir, 'a'))
  assert.match(a, /^[0-9a-f]{24}$/)
  assert.equal(bridgeId(path.join(dir, 'a')), a, 'the same data dir keeps its id')
  assert.notEqual(bridgeId(path.join(dir, 'b')), a, 'another data dir is another bridge')
  // The orchestrator that spawns a bridge may write the file first: it is taken as it is.
  fs.mkdirSync(path.join(dir, 'c'))
  fs.writeFileSync(path.join(dir, 'c', ID_FILE), 'written-by-the-orchestrator\n')
  assert.equal(bridgeId(path.join(dir, 'c')), 'written-by-the-orchestrator')
  fs.writeFileSync(path.join(dir, 'a', ID_FILE), 'not an id!\n')
  assert.throws(() => bridgeId(path.join(dir, 'a')), /does not hold a bridge id/)
})

test('ReplayMedia: finds a file by the fileSha256 a message names, else nothing', (t) => {
  const dir = tmpDir(t)
  fs.writeFileSync(path.join(dir, 'a.bin'), 'hello')
  const media = new ReplayMedia(dir, memoryLogger())
  const sha = crypto.createHash('sha256').update('hello').digest()
  assert.equal(media.find({ message: { documentMessage: { fileSha256: sha } } })?.toString(), 'hello')
  assert.equal(media.find({ message: { ephemeralMessage: { message: { imageMessage: { fileSha256: sha } } } } })?.toString(), 'hello')
  assert.equal(media.find({ message: { imageMessage: { fileSha256: crypto.randomBytes(32) } } }), null)
  assert.equal(media.find({ message: { conversation: 'hi' } }), null)
  const missing = memoryLogger()
  assert.equal(new ReplayMedia(path.join(dir, 'nope'), missing).find({ message: { imageMessage: { fileSha256: sha } } }), null)
  assert.ok(missing.records.some((r) => r.level === 'warn'))
})

test('replay mode: identity announced in bridge.started, heartbeats and state; demo media downloads', async (t) => {
  const dir = tmpDir(t)
  const capture = path.join(dir, 'demo.jsonl')
  execFileSync(process.execPath, ['scripts/make-capture.js', '--demo', '--events', '300', '--out', capture], { cwd: ROOT })
  const env = {
    BRIDGE_PUB: `ipc://${path.join(dir, 'pub')}`,
    BRIDGE_ROUTER: `ipc://${path.join(dir, 'router')}`,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_REPLAY: capture,
    BRIDGE_HEARTBEAT_MS: '100',
    BRIDGE_SESSION: 'sales',
  }
  const sub = new zmq.Subscriber({ receiveTimeout: 200, reconnectInterval: 10 })
  sub.connect(env.BRIDGE_PUB)
  sub.subscribe()
  const client = commandClient(env.BRIDGE_ROUTER)
  let bridge = spawnBridge(env)
  t.after(() => {
    sub.close()
    client.close()
    bridge.child.kill('SIGKILL')
  })
  const state = await client.waitReady()
  const id = fs.readFileSync(path.join(env.BRIDGE_DATA_DIR, ID_FILE), 'utf8').trim()
  assert.equal(state.result.bridgeId, id)
  assert.equal(state.result.session, 'sales')
  const [beat] = await collect(sub, (e) => e.event === 'bridge.heartbeat', { heartbeats: true }).then((got) => got.slice(-1))
  assert.equal(beat.data.bridgeId, id)
  assert.equal(beat.data.session, 'sales')
  const started = (await client.call('replay', { epoch: null, seq: 0, limit: 1 })).result.events[0]
  assert.equal(started.event, 'bridge.started')
  assert.equal(started.data.bridgeId, id)
  assert.equal(started.data.session, 'sales')

  // Every photo and document of the capture downloads with the bytes its message describes.
  const messages = fs.readFileSync(capture, 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l))
    .flatMap((e) => e.event === 'messages.upsert' ? e.data.messages : e.event === 'messaging-history.set' ? e.data.messages : [])
  const photos = messages.filter((m) => m.message?.imageMessage)
  const documents = messages.filter((m) => m.message?.documentMessage)
  assert.ok(photos.length >= 2 && documents.length >= 1, `${photos.length} photos, ${documents.length} documents`)
  const sizes = new Set()
  for (const wire of [...photos, ...documents]) {
    const reply = await client.call('downloadMedia', [wire])
    assert.equal(reply.ok, true, JSON.stringify(reply.error))
    const bytes = decode(reply.result)
    const node = decode(wire).message.imageMessage ?? decode(wire).message.documentMessage
    assert.equal(bytes.length, node.fileLength)
    assert.deepEqual(crypto.createHash('sha256').update(bytes).digest(), node.fileSha256)
    if (node.mimetype === 'image/png') {
      assert.deepEqual(pngSize(bytes), { width: node.width, height: node.height })
      sizes.add(`${node.width}x${node.height}`)
    } else {
      assert.equal(node.mimetype, 'application/pdf')
      assert.equal(bytes.subarray(0, 5).toString(), '%PDF-')
    }
  }
  assert.deepEqual([...sizes].sort(), ['240x320', '320x240'])
  const unknown = decode(photos[0])
  unknown.message.imageMessage.fileSha256 = crypto.randomBytes(32)
  const refused = await client.call('downloadMedia', [unknown])
  assert.equal(refused.ok, false)

  // A restart on the same data dir is the same bridge (a new epoch); the id survives.
  await bridge.stop()
  bridge = spawnBridge(env)
  const again = await client.waitReady()
  assert.notEqual(again.result.epoch, state.result.epoch)
  assert.equal(again.result.bridgeId, id)
})

test('the demo media files are what make-demo-media.js makes', async () => {
  const { PHOTOS, DOCUMENT, png, pdf } = await import('../scripts/make-demo-media.js')
  for (const photo of PHOTOS) assert.deepEqual(fs.readFileSync(path.join(DEFAULT_MEDIA_DIR, photo.file)), png(photo), photo.file)
  assert.deepEqual(fs.readFileSync(path.join(DEFAULT_MEDIA_DIR, DOCUMENT.file)), pdf())
})

import assert from 'node:assert/strict'
import { test } from 'node:test'
import { decode } from '../src/codec.js'
import { generateCapture } from '../scripts/make-capture.js'

test('exactly N lines, deterministic per seed, real-shaped payloads', () => {
  const lines = [...generateCapture({ events: 300, chats: 10, seed: 3 })]
  assert.equal(lines.length, 300)
  assert.deepEqual([...generateCapture({ events: 300, chats: 10, seed: 3 })], lines)
  assert.notDeepEqual([...generateCapture({ events: 300, chats: 10, seed: 4 })], lines)
  const events = lines.map((l) => JSON.parse(l))
  assert.equal(events[0].event, 'chats.upsert')
  assert.equal(events[0].data.length, 10)
  assert.equal(events[0].data.filter((/** @type {any} */ c) => c.id.endsWith('@g.us')).length, 2)
  assert.equal(events[1].event, 'contacts.upsert')
  const kinds = new Set(events.slice(2).map((e) => e.event))
  assert.deepEqual([...kinds].sort(), ['messages.update', 'messages.upsert'])
  const updates = events.filter((e) => e.event === 'messages.update')
  assert.ok(updates.length >= 35 && updates.length <= 45, `${updates.length} acks`)
  assert.ok(updates.every((e) => [3, 4].includes(e.data[0].update.status)))
  const upserts = events.filter((e) => e.event === 'messages.upsert').map((e) => e.data)
  assert.ok(upserts.every((u) => ['notify', 'append'].includes(u.type)))
  const images = upserts.map((u) => u.messages[0]).filter((m) => m.message.imageMessage)
  assert.ok(images.length > 0)
  const img = decode(images[0]).message.imageMessage
  assert.ok(Buffer.isBuffer(img.mediaKey) && img.mediaKey.length === 32)
  assert.equal(typeof images[0].message.imageMessage.fileLength, 'number') // a safe Long on the wire
  const groupMsgs = upserts.map((u) => u.messages[0]).filter((m) => m.key.remoteJid.endsWith('@g.us') && !m.key.fromMe)
  assert.ok(groupMsgs.length > 0 && groupMsgs.every((m) => m.key.participant.endsWith('@s.whatsapp.net')))
})

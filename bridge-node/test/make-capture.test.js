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

test('--demo: identity and an open connection first, named chats, history in chunks, live helpdesk traffic', async () => {
  const { generateDemoCapture } = await import('../scripts/make-capture.js')
  const lines = [...generateDemoCapture({ events: 400, chats: 30, seed: 2, now: 1_800_000_000 })]
  assert.equal(lines.length, 400)
  assert.deepEqual([...generateDemoCapture({ events: 400, chats: 30, seed: 2, now: 1_800_000_000 })], lines)
  const events = lines.map((l) => JSON.parse(l))
  assert.deepEqual(events.slice(0, 3).map((e) => e.event), ['creds.update', 'connection.update', 'connection.update'])
  assert.equal(events[2].data.connection, 'open')
  const chats = events.find((e) => e.event === 'chats.upsert').data
  assert.equal(chats.length, 30)
  assert.equal(chats.filter((/** @type {any} */ c) => c.id.endsWith('@g.us')).length, 3)
  const contacts = events.find((e) => e.event === 'contacts.upsert').data
  assert.ok(contacts.every((/** @type {any} */ c) => /^[A-ZÀ-Ú][a-zà-ú]+ [A-Z][a-z]+$/.test(c.name)), 'people have names')
  const history = events.filter((e) => e.event === 'messaging-history.set')
  assert.deepEqual(history.map((e) => e.data.progress), [33, 67, 100])
  const historyChats = new Set(history.flatMap((e) => e.data.messages.map((/** @type {any} */ m) => m.key.remoteJid)))
  assert.equal(historyChats.size, 30, 'every chat has a past')
  assert.ok(history.flatMap((e) => e.data.messages).every((/** @type {any} */ m) => m.messageTimestamp < 1_800_000_000))
  const kinds = new Set(events.slice(8).map((e) => e.event))
  for (const kind of ['messages.upsert', 'messages.update', 'messages.reaction', 'presence.update']) assert.ok(kinds.has(kind), kind)
  const live = events.filter((e) => e.event === 'messages.upsert').map((e) => e.data.messages[0])
  assert.ok(live.some((m) => m.key.fromMe) && live.some((m) => !m.key.fromMe))
  assert.ok(live.some((m) => m.message.imageMessage) && live.some((m) => m.message.documentMessage))
  assert.ok(live.every((m) => m.messageTimestamp >= 1_800_000_000))
  const acks = events.filter((e) => e.event === 'messages.update' && e.data[0].update.status).map((e) => e.data[0].update.status)
  assert.deepEqual([...new Set(acks)].sort(), [3, 4])
})

/**
 * Real end-to-end-encrypted messages through the real bridge (stock Baileys), both ways:
 * simulated contacts encrypt with libsignal (pkmsg/msg, sender keys in groups) and the
 * bridge publishes what Baileys decrypted; the bridge's sendMessage is decrypted by the
 * simulator with the contacts' keys. Media is encrypted the WhatsApp way on both sides.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import { describe, test } from 'node:test'
import { ok, pairAndLogin, startBridge, startSim, tmpDir, waitUntil } from './helpers.js'

const REVOKE_STUB = 1 // WAMessageStubType.REVOKE
const STATUS = { delivery: 3, read: 4, played: 5 }
/** A 1x1 PNG, so Baileys' thumbnail step has a real image to work on. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64')

/**
 * Everything a test needs: a simulator, a bridge that trusts the media TLS certificate,
 * paired and logged in.
 * @param {import('node:test').TestContext} t
 * @param {string} [dir]
 */
async function online(t, dir = tmpDir(t)) {
  const sim = await startSim(t)
  const bridge = await startBridge(t, { dir, waUrl: sim.ws, env: { NODE_EXTRA_CA_CERTS: sim.mediaCa } })
  const { jid } = await pairAndLogin(sim, bridge)
  return { sim, bridge, jid, dir }
}

/**
 * Every item of every `event` envelope so far (upserts carry several messages).
 * @param {{events: any[]}} bridge @param {string} event
 */
function items(bridge, event) {
  const out = []
  for (const e of bridge.events) {
    if (e.event !== event) continue
    if (event === 'messages.upsert') for (const m of e.data.messages) out.push({ ...m, $type: e.data.type })
    else if (Array.isArray(e.data)) out.push(...e.data)
    else out.push(e.data)
  }
  return out
}

/**
 * Wait for an item of `event` satisfying `pred`.
 * @param {{events: any[], output: () => string}} bridge @param {string} event @param {(x: any) => boolean} pred @param {string} what
 */
async function waitItem(bridge, event, pred, what, timeoutMs = 15000) {
  /** @type {any} */
  let found
  try {
    await waitUntil(() => (found = items(bridge, event).find(pred)), what, timeoutMs)
  } catch (err) {
    const seen = bridge.events.filter((e) => e.event !== 'bridge.heartbeat').map((e) => `${e.event} ${JSON.stringify(e.data).slice(0, 300)}`)
    throw new Error(`${/** @type {Error} */ (err).message}; seen:\n${seen.join('\n')}\nbridge output:\n${bridge.output()}`)
  }
  return found
}

/** @param {string} id */
const upsertOf = (/** @type {any} */ bridge, /** @type {string} */ id) => waitItem(bridge, 'messages.upsert', (m) => m.key?.id === id, `upsert ${id}`)

/** @param {any} message proto JSON or wire-encoded @returns {string|undefined} */
const textOf = (message) => message?.conversation ?? message?.extendedTextMessage?.text

/** No decryption trouble on either side. @param {{state: () => Promise<any>}} sim */
async function assertClean(sim) {
  const m = (await sim.state()).messages
  assert.deepEqual(
    { decryptFailures: m.decryptFailures, buildFailures: m.buildFailures, nacks: m.nacks, retryReceipts: m.retryReceipts },
    { decryptFailures: 0, buildFailures: 0, nacks: 0, retryReceipts: 0 },
    JSON.stringify(m.errors),
  )
}

/** @param {any} sim @param {string} id */
async function receivedById(sim, id, timeoutMs = 15000) {
  /** @type {any} */
  let entry
  await waitUntil(async () => (entry = (await sim.get('/received')).body.find((/** @type {any} */ r) => r.id === id)), `sim to receive ${id}`, timeoutMs)
  return entry
}

describe('messages through the real bridge', { concurrency: true }, () => {
  test('a contact writes text, reply, reaction, edit, revoke, image, document: the bridge publishes them; downloadMedia gives the exact bytes', async (t) => {
    const { sim, bridge, jid } = await online(t)
    const alice = await ok(sim, '/contacts', { phone: '5511988880001', name: 'Alice' })
    assert.deepEqual(alice, { jid: '5511988880001@s.whatsapp.net', phone: '5511988880001', name: 'Alice', lid: null })

    const text = await ok(sim, '/send', { from: alice.phone, kind: 'text', text: 'hello from alice' })
    assert.deepEqual(text.devices, [jid])
    const m1 = await upsertOf(bridge, text.id)
    assert.equal(m1.$type, 'notify')
    assert.deepEqual(m1.key, { remoteJid: alice.jid, fromMe: false, id: text.id, participant: '', addressingMode: 'pn' })
    assert.equal(m1.pushName, 'Alice')
    assert.equal(m1.message.conversation, 'hello from alice')

    const reply = await ok(sim, '/send', { from: alice.phone, kind: 'reply', text: 'replying', target: text.id })
    const m2 = await upsertOf(bridge, reply.id)
    assert.equal(m2.message.extendedTextMessage.text, 'replying')
    const ctx = m2.message.extendedTextMessage.contextInfo
    assert.equal(ctx.stanzaId, text.id)
    assert.equal(ctx.participant, alice.jid)
    assert.equal(ctx.quotedMessage.conversation, 'hello from alice')

    const reaction = await ok(sim, '/send', { from: alice.phone, kind: 'reaction', target: text.id, emoji: '🔥' })
    const r = await waitItem(bridge, 'messages.reaction', (x) => x.reaction?.key?.id === reaction.id, 'reaction')
    assert.equal(r.reaction.text, '🔥')
    assert.deepEqual({ id: r.key.id, remoteJid: r.key.remoteJid, fromMe: r.key.fromMe }, { id: text.id, remoteJid: alice.jid, fromMe: false })

    const edit = await ok(sim, '/send', { from: alice.phone, kind: 'edit', target: text.id, text: 'hello (edited)' })
    const e = await waitItem(bridge, 'messages.update', (x) => x.key?.id === text.id && x.update?.message?.editedMessage, 'edit')
    assert.equal(textOf(e.update.message.editedMessage.message), 'hello (edited)')
    assert.ok(edit.id)

    await ok(sim, '/send', { from: alice.phone, kind: 'revoke', target: reply.id })
    const rv = await waitItem(bridge, 'messages.update', (x) => x.key?.id === reply.id && x.update?.messageStubType === REVOKE_STUB, 'revoke')
    assert.equal(rv.update.message, null)

    const imageBytes = crypto.randomBytes(5000)
    const image = await ok(sim, '/send', { from: alice.phone, kind: 'image', bytes: imageBytes.toString('base64'), text: 'a picture', mimetype: 'image/jpeg' })
    const docBytes = crypto.randomBytes(70000)
    const doc = await ok(sim, '/send', { from: alice.phone, kind: 'document', bytes: docBytes.toString('base64'), fileName: 'report.pdf', mimetype: 'application/pdf' })
    const mi = await upsertOf(bridge, image.id)
    assert.equal(mi.message.imageMessage.caption, 'a picture')
    assert.equal(mi.message.imageMessage.mimetype, 'image/jpeg')
    const md = await upsertOf(bridge, doc.id)
    assert.equal(md.message.documentMessage.fileName, 'report.pdf')
    for (const [msg, bytes] of /** @type {const} */ ([
      [mi, imageBytes],
      [md, docBytes],
    ])) {
      const { $type, ...wire } = msg
      const res = await bridge.call('downloadMedia', [wire])
      assert.equal(res.ok, true, JSON.stringify(res))
      assert.ok(Buffer.from(res.result.$bytes, 'base64').equals(bytes), 'downloaded bytes differ')
    }
    const st = (await sim.state()).messages
    assert.equal(st.media.downloads, 2)

    // Baileys acknowledged every message with a delivery receipt, and decrypted all of them.
    await waitUntil(async () => (await sim.state()).messages.receipts >= 7, 'delivery receipts')
    await assertClean(sim)
  })

  test('the bridge sends text, a reply, a reaction and an image: the sim decrypts exactly that; receipts become status 3/4/5', async (t) => {
    const { sim, bridge, jid } = await online(t)
    const bob = await ok(sim, '/contacts', { phone: '5511988880002', name: 'Bob' })
    const incoming = await ok(sim, '/send', { from: bob.phone, kind: 'text', text: 'ping' })
    const { $type, ...bobMsg } = await upsertOf(bridge, incoming.id)

    const sent = await bridge.call('sendMessage', [bob.jid, { text: 'hi bob' }])
    assert.equal(sent.ok, true, JSON.stringify(sent))
    const id1 = sent.result.key.id
    const r1 = await receivedById(sim, id1)
    assert.equal(r1.to, bob.jid)
    assert.equal(r1.from, jid)
    assert.deepEqual(r1.recipients, [bob.jid])
    assert.equal(textOf(r1.message), 'hi bob')

    const quoted = await bridge.call('sendMessage', [bob.jid, { text: 'pong' }, { quoted: bobMsg }])
    assert.equal(quoted.ok, true, JSON.stringify(quoted))
    const r2 = await receivedById(sim, quoted.result.key.id)
    assert.equal(r2.message.extendedTextMessage.text, 'pong')
    assert.equal(r2.message.extendedTextMessage.contextInfo.stanzaId, incoming.id)
    assert.equal(r2.message.extendedTextMessage.contextInfo.participant, bob.jid)
    assert.equal(textOf(r2.message.extendedTextMessage.contextInfo.quotedMessage), 'ping')

    const react = await bridge.call('sendMessage', [bob.jid, { react: { text: '❤️', key: bobMsg.key } }])
    assert.equal(react.ok, true, JSON.stringify(react))
    const r3 = await receivedById(sim, react.result.key.id)
    assert.equal(r3.type, 'reaction')
    assert.equal(r3.message.reactionMessage.text, '❤️')
    assert.equal(r3.message.reactionMessage.key.id, incoming.id)

    const img = await bridge.call('sendMessage', [bob.jid, { image: { $bytes: PNG.toString('base64') }, caption: 'look', mimetype: 'image/png' }])
    assert.equal(img.ok, true, JSON.stringify(img))
    const r4 = await receivedById(sim, img.result.key.id)
    assert.equal(r4.message.imageMessage.caption, 'look')
    assert.equal(r4.message.imageMessage.mimetype, 'image/png')
    assert.equal(r4.media.fileSha256Ok, true, JSON.stringify(r4.media))
    assert.ok(Buffer.from(r4.media.bytes, 'base64').equals(PNG), 'uploaded image differs')
    assert.equal((await sim.state()).messages.media.uploads, 1)

    // Exactly what was sent, nothing more (the DSM copy for the phone is not a second entry).
    const all = (await sim.get(`/received?to=${encodeURIComponent(bob.jid)}`)).body
    assert.deepEqual(
      all.map((/** @type {any} */ r) => r.id),
      [id1, quoted.result.key.id, react.result.key.id, img.result.key.id],
    )

    for (const type of /** @type {const} */ (['delivery', 'read', 'played'])) {
      const target = type === 'played' ? img.result.key.id : id1
      assert.deepEqual(await ok(sim, '/receipt', { id: target, from: bob.phone, type }), { id: target, to: jid, type })
      const u = await waitItem(bridge, 'messages.update', (x) => x.key?.id === target && x.update?.status === STATUS[type], `${type} receipt`)
      assert.deepEqual({ remoteJid: u.key.remoteJid, fromMe: u.key.fromMe }, { remoteJid: bob.jid, fromMe: true })
    }
    const bad = await sim.post('/receipt', { id: incoming.id, from: bob.phone, type: 'read' })
    assert.equal(bad.status, 400, 'a receipt only for what a device sent')
    await assertClean(sim)
  })

  test('messages sent while the bridge is down arrive after it logs back in, as append, none twice', async (t) => {
    const dir = tmpDir(t)
    const { sim, bridge } = await online(t, dir)
    const carol = await ok(sim, '/contacts', { phone: '5511988880003', name: 'Carol' })
    const live = await ok(sim, '/send', { from: carol.phone, kind: 'text', text: 'before' })
    assert.equal((await upsertOf(bridge, live.id)).$type, 'notify')
    assert.equal(await bridge.stop(), 0)
    await waitUntil(async () => !(await sim.state()).online, 'sim to see the bridge go')

    const ids = []
    for (const text of ['while away 1', 'while away 2', 'while away 3']) ids.push((await ok(sim, '/send', { from: carol.phone, kind: 'text', text })).id)
    ids.push((await ok(sim, '/send', { from: carol.phone, kind: 'reply', text: 'while away 4', target: live.id })).id)
    const st = (await sim.state()).messages
    assert.deepEqual(Object.values(st.outbox), [4])

    const again = await startBridge(t, { dir, waUrl: sim.ws, env: { NODE_EXTRA_CA_CERTS: sim.mediaCa } })
    await again.call('connect')
    for (const id of ids) {
      const m = await upsertOf(again, id)
      assert.equal(m.$type, 'append', JSON.stringify(m))
    }
    assert.deepEqual(
      ids.map((id) => textOf(items(again, 'messages.upsert').find((m) => m.key.id === id).message)),
      ['while away 1', 'while away 2', 'while away 3', 'while away 4'],
    )
    // A live one after the offline batch is notify again; nothing arrived twice.
    const after = await ok(sim, '/send', { from: carol.phone, kind: 'text', text: 'after' })
    assert.equal((await upsertOf(again, after.id)).$type, 'notify')
    const seen = items(again, 'messages.upsert').map((m) => m.key.id)
    assert.equal(new Set(seen).size, seen.length, `duplicates in ${seen}`)
    assert.equal(seen.includes(live.id), false, 'the message delivered before the restart came again')
    const st2 = (await sim.state()).messages
    assert.equal(st2.offlineDelivered, 4)
    assert.deepEqual(Object.values(st2.outbox), [0])
    await assertClean(sim)
  })

  test('a group of three, one addressed by LID: skmsg delivery with participant/participantAlt; the bridge writes to the group', async (t) => {
    const { sim, bridge, jid } = await online(t)
    const dan = await ok(sim, '/contacts', { phone: '5511988880004', name: 'Dan' })
    const eve = await ok(sim, '/contacts', { phone: '5511988880005', name: 'Eve' })
    const fay = await ok(sim, '/contacts', { phone: '5511988880006', name: 'Fay', lid: true })
    assert.match(fay.lid, /^\d+@lid$/)
    const group = await ok(sim, '/groups', { subject: 'Team', participants: [dan.phone, eve.phone, fay.phone] })
    assert.match(group.jid, /^\d+@g\.us$/)

    const d1 = await ok(sim, '/send', { from: dan.phone, to: group.jid, kind: 'text', text: 'dan here' })
    const f1 = await ok(sim, '/send', { from: fay.phone, to: group.jid, kind: 'text', text: 'fay here' })
    const d2 = await ok(sim, '/send', { from: dan.phone, to: group.jid, kind: 'text', text: 'dan again' })
    const e1 = await ok(sim, '/send', { from: eve.phone, to: group.jid, kind: 'reply', text: 'eve answers fay', target: f1.id })
    const md1 = await upsertOf(bridge, d1.id)
    assert.deepEqual({ remoteJid: md1.key.remoteJid, participant: md1.key.participant }, { remoteJid: group.jid, participant: dan.jid })
    assert.equal(md1.message.conversation, 'dan here')
    assert.equal(md1.pushName, 'Dan')
    const mf1 = await upsertOf(bridge, f1.id)
    assert.deepEqual(
      { remoteJid: mf1.key.remoteJid, participant: mf1.key.participant, participantAlt: mf1.key.participantAlt, addressingMode: mf1.key.addressingMode },
      { remoteJid: group.jid, participant: fay.lid, participantAlt: fay.jid, addressingMode: 'lid' },
    )
    assert.equal(mf1.message.conversation, 'fay here')
    assert.equal((await upsertOf(bridge, d2.id)).message.conversation, 'dan again')
    const me1 = await upsertOf(bridge, e1.id)
    assert.equal(me1.key.participant, eve.jid)
    assert.equal(me1.message.extendedTextMessage.contextInfo.stanzaId, f1.id)

    // The bridge writes to the group: metadata query, sender key to every participant, skmsg.
    const sent = await bridge.call('sendMessage', [group.jid, { text: 'hello team' }])
    assert.equal(sent.ok, true, JSON.stringify(sent))
    const r = await receivedById(sim, sent.result.key.id)
    assert.equal(r.to, group.jid)
    assert.equal(r.participant, `${jid.split(':')[0]}@s.whatsapp.net`)
    assert.equal(textOf(r.message), 'hello team')
    assert.deepEqual([...r.recipients].sort(), [dan.jid, eve.jid, fay.jid].sort())
    // A second one goes out as skmsg only (sender keys already distributed) and still decrypts.
    const sent2 = await bridge.call('sendMessage', [group.jid, { text: 'second' }])
    const r2 = await receivedById(sim, sent2.result.key.id)
    assert.equal(textOf(r2.message), 'second')
    assert.deepEqual([...r2.recipients].sort(), [dan.jid, eve.jid, fay.jid].sort())
    await assertClean(sim)
  })

  test('history: the first login gets its bootstrap at once; POST /history arrives as messaging-history.set', async (t) => {
    const { sim, bridge } = await online(t)
    const boot = await waitItem(bridge, 'messaging-history.set', (h) => h.syncType === 0, 'initial bootstrap', 10000)
    assert.equal(boot.chats.length, 0)
    await ok(sim, '/contacts', { phone: '5511988880007', name: 'Gus', lid: true })
    const h = await ok(sim, '/history', { conversations: 3, messages: 4 })
    assert.deepEqual({ conversations: h.conversations, messages: h.messages }, { conversations: 3, messages: 12 })
    const set = await waitItem(bridge, 'messaging-history.set', (x) => x.syncType === 3 && x.messages.length === 12, 'history set')
    assert.equal(set.chats.length, 3)
    assert.ok(set.chats.some((/** @type {any} */ c) => c.id === '5511988880007@s.whatsapp.net' && c.name === 'Gus'))
    assert.ok(set.messages.some((/** @type {any} */ m) => m.message?.conversation === 'history 5511988880007 #1' && !m.key.fromMe))
    assert.ok(set.messages.some((/** @type {any} */ m) => m.key.fromMe))
    // The conversation's LID (HistorySync conversation.lidJid) reaches the contacts list.
    const gus = set.contacts.find((/** @type {any} */ c) => c.id === '5511988880007@s.whatsapp.net')
    assert.match(gus?.lid ?? '', /^\d+@lid$/, JSON.stringify(set.contacts))
    // The synthesized history contacts are real contacts afterwards: they can write.
    const contacts = (await sim.get('/contacts')).body
    assert.equal(contacts.length, 3)
    const other = contacts.find((/** @type {any} */ c) => c.name === 'History 2')
    const msg = await ok(sim, '/send', { from: other.phone, kind: 'text', text: 'after history' })
    assert.equal((await upsertOf(bridge, msg.id)).message.conversation, 'after history')
    await assertClean(sim)
  })
})

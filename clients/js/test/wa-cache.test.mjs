/**
 * wa-cache.js, the console client's pure cache, fed with envelope streams and REST answers
 * captured from a real run (the bridge replaying a capture, the orchestrator; capture.py).
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { ENVELOPE_TYPES, PAGE_SIZE, WaCache } from '../dist/wa-cache.js'
import { after, fixture, fromSnapshot, receiveAll, state, withoutUnread } from './helpers.mjs'

const demo = fixture('demo')
const rich = fixture('rich')
const resync = fixture('resync')
const qr = fixture('qr')

/** Snapshot, then the stream from the snapshot's position, as a client gets them. @param {{envelopes: any[], rest: any}} f */
function live(f) {
  const cache = fromSnapshot(f.rest.snapshot)
  receiveAll(cache, after(f.envelopes, f.rest.snapshot.position))
  return cache
}

/** @param {any[]} list */
const ids = (list) => list.map((m) => m.id)

describe('snapshot then stream', () => {
  for (const [name, f] of Object.entries({ demo, rich })) {
    test(`${name}: ends equal to the REST state at the end`, () => {
      const cache = live(f)
      const final = f.rest.final
      assert.equal(cache.lastEventId, final.position)
      assert.deepEqual(cache.chats().map(withoutUnread), final.chats.map(withoutUnread))
      const link = (/** @type {any} */ s) => ({ connected: s.connected, state: s.state, reason: s.reason })
      assert.deepEqual(link(cache.status()), link(final.status))
      let compared = 0
      for (const [chatId, page] of Object.entries(final.pages)) {
        const mine = cache.messages(chatId)
        if (mine.length === 0 || mine.some((m) => m.id === '3EB0LIDSECOND000002')) continue // merged: see below
        // The snapshot's page (the newest 50 then) and everything streamed since: the end of
        // the final REST page, message for message, in the server's order.
        assert.deepEqual(mine, page.slice(page.length - mine.length), chatId)
        assert.ok(mine.length > f.rest.snapshot.pages[chatId].length, `${chatId} got live messages`)
        compared++
      }
      assert.ok(compared >= 5, `${compared} chats compared`)
    })
  }

  test('every captured envelope type is one the cache handles', () => {
    const seen = new Set([demo, rich, resync, qr].flatMap((f) => f.envelopes.map((e) => e.type)))
    for (const type of seen) assert.ok(ENVELOPE_TYPES.includes(type), type)
    assert.ok(seen.size >= 12, [...seen].join())
  })

  test('the position is the last envelope applied', () => {
    const cache = fromSnapshot(demo.rest.snapshot)
    const stream = after(demo.envelopes, demo.rest.snapshot.position)
    cache.receive(stream[0])
    assert.equal(cache.lastEventId, stream[0].id)
    cache.receive(stream[0]) // a duplicate does not move it
    cache.receive(stream[1])
    cache.receive(stream[0])
    assert.equal(cache.lastEventId, stream[1].id)
  })

  test('what changed: the lists to re-render and the client-level events', () => {
    const cache = fromSnapshot(demo.rest.snapshot)
    const stream = after(demo.envelopes, demo.rest.snapshot.position)
    const loaded = new Set(Object.keys(demo.rest.snapshot.pages))
    for (const envelope of stream) {
      const changes = cache.receive(envelope)
      assert.equal(changes.applied, true)
      const { type, data } = envelope
      if (type === 'new_message' || type === 'message_update' || type === 'message_ack') {
        const chatId = data.chatId
        if (!loaded.has(chatId)) assert.equal(changes.messages.size, 0)
        else if (type !== 'message_ack') assert.deepEqual([...changes.messages], [chatId])
      }
      if (type === 'new_chat' || type === 'chat_update') assert.equal(changes.chats, true)
      assert.equal(changes.status, type === 'connection_status')
      assert.equal(changes.sync, type === 'sync_progress')
      if (type === 'presence') assert.deepEqual(changes.presence, [{ chatId: data.chatId, presences: data.presences }])
      assert.equal(changes.reload, null)
    }
  })
})

describe('idempotence', () => {
  test('the same stream twice, or overlapping replays, change nothing', () => {
    const once = live(demo)
    const stream = after(demo.envelopes, demo.rest.snapshot.position)
    const chatIds = Object.keys(demo.rest.snapshot.pages)
    const expected = state(once, chatIds)

    const twice = live(demo)
    for (const changes of receiveAll(twice, stream)) assert.equal(changes.applied, false)
    assert.deepEqual(state(twice, chatIds), expected)

    // Reconnects that replay from earlier positions, a poll and a stream probe overlapping:
    // windows of the stream, each started before the previous ended.
    const overlapping = fromSnapshot(demo.rest.snapshot)
    for (let start = 0; start < stream.length; start += 37) receiveAll(overlapping, stream.slice(Math.max(0, start - 20), start + 37))
    assert.deepEqual(state(overlapping, chatIds), expected)
    assert.equal(overlapping.lastEventId, once.lastEventId)
  })

  test('the whole stream from the first envelope, after the snapshot, converges too', () => {
    // A snapshot answered after some of the envelopes it is then streamed (connect() takes the
    // position first): applying them again is harmless.
    const cache = fromSnapshot({ ...demo.rest.snapshot, position: null })
    receiveAll(cache, demo.envelopes)
    const chatIds = Object.keys(demo.rest.snapshot.pages)
    assert.deepEqual(state(cache, chatIds).messages, state(live(demo), chatIds).messages)
  })

  test('the same message under another envelope id changes nothing', () => {
    const cache = live(demo)
    const chatIds = Object.keys(demo.rest.snapshot.pages)
    const before = state(cache, chatIds)
    const copies = demo.envelopes
      .filter((e) => e.type === 'new_message' || e.type === 'message_update')
      .map((e, i) => ({ ...e, id: `other:${i}:0` }))
    for (const changes of receiveAll(cache, copies)) assert.equal(changes.applied, true)
    // A stale copy never rolls back an ack; everything else is already the newest.
    assert.deepEqual(state(cache, chatIds).messages, before.messages)
  })

  test('remembers a bounded number of ids, forgetting the oldest half', () => {
    const cache = new WaCache({ seenIds: 10 })
    const envelopes = demo.envelopes.slice(0, 11)
    receiveAll(cache, envelopes)
    assert.equal(cache.receive(envelopes[10]).applied, false)
    assert.equal(cache.receive(envelopes[6]).applied, false)
    assert.equal(cache.receive(envelopes[0]).applied, true, 'forgotten')
  })

  test('anything that is not an envelope is ignored', () => {
    const cache = new WaCache()
    for (const junk of [null, undefined, {}, { id: 'x:1:0' }, { type: 3 }]) {
      assert.equal(cache.receive(/** @type {any} */ (junk)).applied, false)
    }
    assert.equal(cache.lastEventId, null)
  })
})

describe('acks', () => {
  test('never go back: stale acks and late pending copies keep the newest', () => {
    const cache = live(demo)
    const acked = demo.envelopes.filter((e) => e.type === 'message_ack' && e.data.ack >= 3)
    assert.ok(acked.length > 10)
    let checked = 0
    for (const [i, envelope] of acked.entries()) {
      const { chatId, messageId, ack } = envelope.data
      const cached = cache.messages(chatId).find((m) => m.id === messageId)
      if (!cached) continue
      const changes = cache.receive({ id: `stale:${i}:0`, type: 'message_ack', data: { chatId, messageId, ack: 2, status: 'sent' } })
      assert.equal(changes.messages.size, 0)
      // A late copy of the message as it was when pending: its other fields apply, not its ack.
      cache.receive({ id: `stale:${i}:1`, type: 'message_update', data: { ...cached, ack: 1, status: 'pending', text: 'late copy' } })
      const now = cache.messages(chatId).find((m) => m.id === messageId)
      assert.equal(now?.ack, cached.ack)
      assert.equal(now?.status, cached.status)
      assert.equal(now?.text, 'late copy')
      assert.ok(cached.ack >= ack)
      checked++
    }
    assert.ok(checked >= 5, `${checked} acks checked`)
  })

  test('a failure (ack 0) applies to a pending message only', () => {
    const [text] = demo.rest.sends.map((/** @type {any} */ s) => s.message)
    const cache = fromSnapshot(demo.rest.snapshot)
    const { chatId, id } = text
    cache.applySent(text)
    const fail = { id: 'f:1:0', type: 'message_ack', data: { chatId, messageId: id, ack: 0, status: 'error' } }
    cache.receive(fail)
    assert.equal(cache.messages(chatId).find((m) => m.id === id)?.ack, 0)
    assert.equal(cache.chat(chatId)?.lastMessage?.ack, 0)

    const delivered = live(demo)
    assert.equal(delivered.messages(chatId).find((m) => m.id === id)?.ack, 2)
    delivered.receive(fail)
    assert.equal(delivered.messages(chatId).find((m) => m.id === id)?.ack, 2)
    // A pending copy that failed (ack 0) is the one copy whose lower ack applies.
    delivered.receive({ id: 'f:2:0', type: 'message_update', data: { ...text, ack: 0, status: 'error' } })
    assert.equal(delivered.messages(chatId).find((m) => m.id === id)?.ack, 0)
  })
})

describe('order within one second', () => {
  /** The loaded chats' final pages, with the messages the stream brought after the snapshot. */
  function sameSecondCases() {
    const streamed = new Map(after(demo.envelopes, demo.rest.snapshot.position).filter((e) => e.type === 'new_message').map((e) => [e.data.id, e]))
    /** @type {{chatId: string, page: any[], k: number, envelope: any}[]} */
    const cases = []
    for (const [chatId, page] of Object.entries(demo.rest.final.pages)) {
      for (let k = 1; k < page.length; k++) {
        const envelope = streamed.get(page[k].id)
        if (envelope && page[k - 1].timestamp === page[k].timestamp) cases.push({ chatId, page, k, envelope })
      }
    }
    return cases
  }

  test('the capture has messages that share a second', () => {
    assert.ok(sameSecondCases().length >= 3, String(sameSecondCases().length))
  })

  test('a first page answered before a same-second message the stream brought first keeps the server order', () => {
    for (const { chatId, page, k, envelope } of sameSecondCases()) {
      const cache = fromSnapshot({ ...demo.rest.final, pages: {} })
      const entry = cache.startLatest(chatId)
      // The page is in flight; the stream brings page[k] meanwhile; then the page (answered
      // when the server had only up to page[k - 1]) lands.
      assert.deepEqual([...cache.receive(envelope).messages], [chatId])
      const answered = page.slice(Math.max(0, k - PAGE_SIZE), k)
      cache.applyLatest(entry, answered)
      assert.deepEqual(ids(cache.messages(chatId)), ids([...answered, page[k]]), `${chatId} at ${k}`)
    }
  })

  test('a first page that has the streamed message keeps it where the server has it, as the stream copy', () => {
    for (const { chatId, page, k, envelope } of sameSecondCases()) {
      const cache = fromSnapshot({ ...demo.rest.final, pages: {} })
      const entry = cache.startLatest(chatId)
      const streamCopy = { ...envelope.data, text: 'the stream copy' }
      cache.receive({ ...envelope, data: streamCopy })
      const answered = page.slice(Math.max(0, k + 1 - PAGE_SIZE), k + 1)
      cache.applyLatest(entry, answered)
      const list = cache.messages(chatId)
      assert.deepEqual(ids(list), ids(answered))
      assert.equal(list.at(-1)?.text, 'the stream copy')
    }
  })

  test('live messages of one second keep the order they came in', () => {
    for (const { chatId, page, k } of sameSecondCases()) {
      const cache = fromSnapshot({ ...demo.rest.final, pages: { [chatId]: page.slice(0, k - 1) } })
      cache.receive({ id: 'a:1:0', type: 'new_message', data: page[k - 1] })
      cache.receive({ id: 'a:2:0', type: 'new_message', data: page[k] })
      assert.deepEqual(ids(cache.messages(chatId)).slice(-2), [page[k - 1].id, page[k].id])
      // An update of an earlier one (same second) leaves it in place.
      cache.receive({ id: 'a:3:0', type: 'message_update', data: { ...page[k - 1], edited: true } })
      assert.deepEqual(ids(cache.messages(chatId)).slice(-2), [page[k - 1].id, page[k].id])
    }
  })

  test('an older page goes before the cached messages', () => {
    const [chatId, page] = Object.entries(demo.rest.final.pages).sort((a, b) => b[1].length - a[1].length)[0]
    assert.ok(page.length > 30)
    const cache = fromSnapshot({ ...demo.rest.final, pages: { [chatId]: page.slice(-20) } }, { pageSize: 20 })
    assert.equal(cache.hasOlder(chatId), true)
    const entry = /** @type {import('../dist/wa-cache.js').MessageList} */ (cache.messageList(chatId))
    // The page before the oldest cached message, overlapping it by one (harmless).
    const { added, changes } = cache.applyOlder(entry, page.slice(-40, -19))
    assert.deepEqual(ids(added), ids(page.slice(-40, -20)))
    assert.deepEqual([...changes.messages], [chatId])
    assert.deepEqual(ids(cache.messages(chatId)), ids(page.slice(-40)))
    assert.equal(cache.hasOlder(chatId), true)
    cache.applyOlder(entry, page.slice(0, -40))
    assert.deepEqual(ids(cache.messages(chatId)), ids(page))
    assert.equal(cache.hasOlder(chatId), page.length - 40 >= 20)
  })
})

describe('resync and reloads', () => {
  test('resync asks for a reload, moves the position, and is never deduplicated', () => {
    const [envelope] = resync.envelopes
    assert.equal(envelope.type, 'resync')
    const cache = new WaCache()
    for (let i = 0; i < 2; i++) {
      const changes = cache.receive(envelope)
      assert.equal(changes.applied, true)
      assert.equal(changes.reload, 'resync')
      assert.equal(cache.lastEventId, envelope.id)
    }
  })

  test('while snapshots reload, envelopes are held, then applied after them in order', () => {
    const [first, ...rest] = resync.envelopes
    const cache = new WaCache()
    assert.equal(cache.receive(first).reload, 'resync')
    assert.equal(cache.hold(), true)
    assert.equal(cache.hold(), false, 'already holding')
    for (const changes of receiveAll(cache, rest)) {
      assert.equal(changes.held, true)
      assert.equal(changes.applied, false)
    }
    assert.equal(cache.lastEventId, first.id, 'held envelopes do not move the position')
    // The snapshot was answered after all of them: applying them after it is harmless.
    const final = resync.rest.final
    cache.applySnapshot({ status: final.status, chats: final.chats, qr: final.qr, pages: new Map(Object.entries(final.pages).map(([id, page]) => [id, page.slice(-PAGE_SIZE)])) })
    const released = cache.release()
    assert.deepEqual(released, rest)
    assert.equal(cache.holding, false)
    receiveAll(cache, released)
    assert.equal(cache.lastEventId, final.position)
    assert.deepEqual(cache.chats().map(withoutUnread), final.chats.map(withoutUnread))
    for (const [chatId, page] of Object.entries(final.pages)) assert.deepEqual(cache.messages(chatId), page.slice(-PAGE_SIZE), chatId)
  })

  test('a resync that arrives while holding is held too', () => {
    const cache = new WaCache()
    cache.hold()
    const changes = cache.receive(resync.envelopes[0])
    assert.equal(changes.held, true)
    assert.equal(changes.reload, null)
    assert.deepEqual(cache.release(), [resync.envelopes[0]])
  })

  test('a history sync asks for a refetch', () => {
    const syncs = demo.envelopes.filter((e) => e.type === 'sync_progress')
    assert.equal(syncs.length, 3)
    const cache = new WaCache()
    for (const envelope of syncs) {
      const changes = cache.receive(envelope)
      assert.equal(changes.refetch, true)
      assert.equal(changes.sync, true)
    }
    assert.deepEqual(cache.syncProgress(), { progress: 100, syncType: 3, isLatest: true })
  })

  test('a snapshot taken mid-sync carries its progress (GET /status sync); envelopes carry it on', () => {
    const status = { ...demo.rest.final.status, sync: { progress: 40, syncType: 3, isLatest: false } }
    const cache = new WaCache()
    const changes = cache.applySnapshot({ status, chats: [] })
    assert.equal(changes.sync, true)
    assert.deepEqual(cache.syncProgress(), { progress: 40, syncType: 3, isLatest: false })
    const [last] = demo.envelopes.filter((e) => e.type === 'sync_progress').slice(-1)
    cache.receive(last)
    assert.deepEqual(cache.syncProgress(), { progress: 100, syncType: 3, isLatest: true })
    // A status without a sync (none yet, or an older server) leaves the progress alone.
    assert.equal(cache.applySnapshot({ status: { ...status, sync: null }, chats: [] }).sync, false)
    assert.equal(cache.syncProgress()?.progress, 100)
  })

  test('a snapshot replaces the lists and reports every list loaded before as changed', () => {
    const cache = live(demo)
    const before = Object.keys(demo.rest.snapshot.pages)
    const [kept] = before
    const changes = cache.applySnapshot({ status: demo.rest.final.status, chats: demo.rest.final.chats, pages: new Map([[kept, demo.rest.final.pages[kept].slice(-PAGE_SIZE)]]) })
    assert.deepEqual([...changes.messages].sort(), [...before].sort())
    assert.equal(changes.chats && changes.status && changes.qr, true)
    assert.deepEqual(cache.messages(kept), demo.rest.final.pages[kept].slice(-PAGE_SIZE))
    assert.equal(cache.messageList(before[1]), undefined, 'a list the snapshot has no page for is unloaded')
    assert.deepEqual(cache.loadedChatIds(demo.rest.final.chats), [kept])
  })

  test('a first page landing in a list a snapshot replaced meanwhile leaves the new list alone', () => {
    const [chatId] = Object.keys(demo.rest.snapshot.pages)
    const cache = fromSnapshot({ ...demo.rest.snapshot, pages: {} })
    const entry = cache.startLatest(chatId)
    cache.applySnapshot({ status: demo.rest.final.status, chats: demo.rest.final.chats, pages: new Map([[chatId, demo.rest.final.pages[chatId].slice(-PAGE_SIZE)]]) })
    cache.applyLatest(entry, demo.rest.snapshot.pages[chatId])
    assert.deepEqual(cache.messages(chatId), demo.rest.final.pages[chatId].slice(-PAGE_SIZE))
  })
})

describe('QR and status', () => {
  test('a QR replaces the last; a state other than qr clears it', () => {
    const cache = new WaCache()
    const seen = []
    for (const envelope of qr.envelopes) {
      const changes = cache.receive(envelope)
      seen.push([envelope.type, cache.qr(), cache.qrVersion, changes.qr, changes.status])
    }
    assert.deepEqual(seen, [
      ['connection_status', null, 0, false, true],
      ['qr', '2@first-qr-code,AAAA,BBBB,CCCC', 1, true, false],
      ['qr', '2@second-qr-code,DDDD,EEEE,FFFF', 2, true, false],
      ['connection_status', null, 2, false, true],
    ])
    assert.deepEqual(cache.status(), { connected: true, state: 'open', reason: null })
  })

  test("a snapshot's QR counts as a new one only when it differs", () => {
    const cache = new WaCache()
    const status = { connected: false, state: 'qr', reason: null }
    cache.applySnapshot({ status, chats: [], qr: 'a' })
    cache.applySnapshot({ status, chats: [], qr: 'a' })
    assert.equal(cache.qrVersion, 1)
    cache.applySnapshot({ status: { ...status, state: 'open' }, chats: [], qr: 'a' })
    assert.equal(cache.qr(), null)
  })
})

describe('chats', () => {
  test('chat_deleted with mergedInto: the LID chat and its messages go, the phone chat stays', () => {
    const deleted = rich.envelopes.find((e) => e.type === 'chat_deleted')
    const { id: lid, mergedInto } = deleted.data
    assert.ok(lid.endsWith('@lid') && mergedInto.endsWith('@s.whatsapp.net'))
    const cache = fromSnapshot(rich.rest.snapshot)
    const stream = after(rich.envelopes, rich.rest.snapshot.position)
    const at = stream.indexOf(deleted)
    receiveAll(cache, stream.slice(0, at))
    assert.ok(cache.chat(lid), 'the LID chat existed')
    // Its messages were loaded (an agent had it open).
    const first = stream.find((e) => e.type === 'new_message' && e.data.chatId === lid)
    const entry = cache.startLatest(lid)
    cache.applyLatest(entry, [first.data])
    const changes = cache.receive(deleted)
    assert.equal(changes.chats, true)
    assert.equal(cache.chat(lid), undefined)
    assert.equal(cache.messageList(lid), undefined)
    assert.deepEqual(cache.messages(lid), [])
    receiveAll(cache, stream.slice(at + 1))
    assert.ok(cache.chat(mergedInto))
    assert.equal(cache.chat(mergedInto)?.lastMessage?.id, '3EB0LIDSECOND000002')
    assert.deepEqual(cache.chats().map(withoutUnread), rich.rest.final.chats.map(withoutUnread))
  })

  test('contact_update names a chat that has no name, and only then', () => {
    const cache = new WaCache()
    const chat = demo.rest.final.chats.find((/** @type {any} */ c) => !c.isGroup)
    cache.applySnapshot({ status: null, chats: [{ ...chat, name: null }] })
    const contact = { id: 'c:1:0', type: 'contact_update', data: { id: chat.id, name: null, notify: 'Push name', verifiedName: null } }
    assert.equal(cache.receive(contact).chats, true)
    assert.equal(cache.chat(chat.id)?.name, 'Push name')
    assert.equal(cache.receive({ ...contact, id: 'c:2:0', data: { ...contact.data, name: 'Other' } }).chats, false)
    assert.equal(cache.chat(chat.id)?.name, 'Push name')
  })

  test('assignment_changed and tags_changed patch the chat they name', () => {
    const cache = fromSnapshot(demo.rest.snapshot)
    const chatId = demo.rest.snapshot.chats[0].id
    const assignment = { agentId: 'u1', agentName: 'Ana', assignedBy: 'u0', assignedAt: '2026-01-01T00:00:00Z' }
    const tags = [{ id: 1, name: 'vip', color: '#ff0000' }]
    assert.equal(cache.receive({ id: 'h:1:0', type: 'assignment_changed', data: { chatId, assignment } }).chats, true)
    assert.equal(cache.receive({ id: 'h:2:0', type: 'tags_changed', data: { chatId, tags } }).chats, true)
    assert.deepEqual(cache.chat(chatId)?.assignment, assignment)
    assert.deepEqual(cache.chat(chatId)?.tags, tags)
    assert.equal(cache.chat(chatId)?.lastMessage?.id, demo.rest.snapshot.chats[0].lastMessage.id)
    const unknown = cache.receive({ id: 'h:3:0', type: 'tags_changed', data: { chatId: 'nobody@s.whatsapp.net', tags } })
    assert.equal(unknown.applied && !unknown.chats, true)
    assert.equal(cache.chat('nobody@s.whatsapp.net'), undefined)
  })

  test('a reaction is not a chat\'s last message', () => {
    const cache = fromSnapshot(demo.rest.snapshot)
    const chat = demo.rest.snapshot.chats[0]
    cache.receive({ id: 'r:1:0', type: 'new_message', data: { ...chat.lastMessage, id: 'R1', type: 'reaction', timestamp: chat.timestamp + 10 } })
    assert.equal(cache.chat(chat.id)?.lastMessage?.id, chat.lastMessage.id)
  })

  test('the chat list is newest activity first, then by id', () => {
    const cache = live(demo)
    assert.deepEqual(cache.chats().map((c) => c.id), demo.rest.final.chats.map((/** @type {any} */ c) => c.id))
    const list = cache.chats()
    list.pop()
    assert.equal(cache.chats().length, list.length + 1, 'a copy')
  })
})

describe('presence', () => {
  test('a message from someone who was typing ends their typing', () => {
    const stream = demo.envelopes
    let checked = 0
    for (const [i, envelope] of stream.entries()) {
      if (envelope.type !== 'presence') continue
      const { chatId, presences } = envelope.data
      if (presences[chatId]?.lastKnownPresence !== 'composing') continue
      const next = stream.slice(i + 1).find((e) => (e.type === 'new_message' || e.type === 'presence') && (e.data.chatId === chatId))
      if (next?.type !== 'new_message' || next.data.fromMe) continue
      const cache = new WaCache()
      cache.receive(envelope)
      const changes = cache.receive(next)
      assert.deepEqual(changes.presence, [{ chatId, presences: { [chatId]: { lastKnownPresence: 'available' } } }])
      assert.deepEqual(cache.presence(chatId), { [chatId]: { lastKnownPresence: 'available' } })
      checked++
    }
    assert.ok(checked >= 3, `${checked} typing customers checked`)
  })

  test('our own messages, and people who were not typing, leave presence alone', () => {
    const cache = new WaCache()
    const chatId = '5511900000042@s.whatsapp.net'
    cache.receive({ id: 'p:1:0', type: 'presence', data: { chatId, presences: { [chatId]: { lastKnownPresence: 'composing' } } } })
    const [sent] = demo.rest.sends
    assert.deepEqual(cache.receive({ id: 'p:2:0', type: 'new_message', data: sent.message }).presence, [])
    cache.receive({ id: 'p:3:0', type: 'presence', data: { chatId, presences: { [chatId]: { lastKnownPresence: 'paused' } } } })
    const theirs = { ...sent.message, id: 'X', fromMe: false, sender: chatId }
    assert.deepEqual(cache.receive({ id: 'p:4:0', type: 'new_message', data: theirs }).presence, [])
    assert.deepEqual(cache.presence(chatId), { [chatId]: { lastKnownPresence: 'paused' } })
  })
})

describe('sending', () => {
  const [text, photo] = demo.rest.sends.map((/** @type {any} */ s) => s.message)
  const stream = after(demo.envelopes, demo.rest.snapshot.position)
  const upTo = (/** @type {string} */ type, /** @type {string} */ id) =>
    stream.slice(0, stream.findIndex((e) => e.type === type && (e.data.messageId ?? e.data.id) === id) + 1)

  test('the captured sends: pending answers, then stream copies with the media url, then acks', () => {
    assert.equal(photo.status, 'pending')
    assert.equal(photo.media.url, null)
    const copy = stream.find((e) => e.type === 'new_message' && e.data.id === photo.id)
    assert.ok(copy.data.media.url)
    assert.ok(upTo('message_ack', photo.id).length > upTo('new_message', photo.id).length)
  })

  test('an answer that arrives after the stream copy resolves to the stream copy and replaces nothing', () => {
    for (const through of ['new_message', 'message_ack']) {
      const cache = fromSnapshot(demo.rest.snapshot)
      receiveAll(cache, upTo(through, photo.id))
      const before = cache.messages(photo.chatId).find((m) => m.id === photo.id)
      assert.ok(before?.media?.url)
      const last = cache.chat(photo.chatId)?.lastMessage
      const { message, changes } = cache.applySent(photo)
      assert.equal(message, before)
      assert.equal(changes.messages.size + Number(changes.chats), 0)
      const now = cache.messages(photo.chatId).find((m) => m.id === photo.id)
      assert.equal(now, before, 'the media url and the ack stay')
      assert.equal(now?.ack, through === 'new_message' ? 1 : 2)
      assert.equal(cache.chat(photo.chatId)?.lastMessage, last)
    }
  })

  test('an answer that arrives first shows pending, then the stream copy replaces it', () => {
    const cache = fromSnapshot(demo.rest.snapshot)
    const { message, changes } = cache.applySent(photo)
    assert.equal(message, photo)
    assert.deepEqual([...changes.messages], [photo.chatId])
    assert.equal(cache.messages(photo.chatId).at(-1)?.status, 'pending')
    assert.equal(cache.chat(photo.chatId)?.lastMessage?.id, photo.id)
    receiveAll(cache, upTo('message_ack', photo.id))
    const now = cache.messages(photo.chatId).filter((m) => m.id === photo.id)
    assert.equal(now.length, 1)
    assert.ok(now[0].media?.url)
    assert.equal(now[0].ack, 2)
  })

  test("in a chat not loaded, an answer after the stream copy leaves the chat's last message alone", () => {
    const cache = fromSnapshot({ ...demo.rest.snapshot, pages: {} })
    receiveAll(cache, upTo('new_message', photo.id))
    const last = cache.chat(photo.chatId)?.lastMessage
    assert.equal(last?.id, photo.id)
    assert.ok(last?.media?.url)
    const { message, changes } = cache.applySent(photo)
    assert.equal(message, photo)
    assert.equal(changes.chats, false)
    assert.equal(cache.chat(photo.chatId)?.lastMessage, last)
  })

  test('a text answer between its stream copy and its ack', () => {
    const cache = fromSnapshot(demo.rest.snapshot)
    receiveAll(cache, upTo('new_message', text.id))
    cache.applySent(text)
    receiveAll(cache, stream.slice(upTo('new_message', text.id).length))
    assert.deepEqual(cache.messages(text.chatId), live(demo).messages(text.chatId))
  })
})

describe('chats entering and leaving an agent\'s view (issue #16)', () => {
  test('forgetChat drops a chat and its messages; adoptChat brings it back, never over a newer copy', () => {
    const cache = live(demo)
    const chat = cache.chats()[0]
    cache.startLatest(chat.id)
    const gone = cache.forgetChat(chat.id)
    assert.ok(gone.chats)
    assert.deepEqual([...gone.messages], [chat.id])
    assert.equal(cache.chat(chat.id), undefined)
    assert.deepEqual(cache.messages(chat.id), [])
    assert.equal(cache.forgetChat(chat.id).chats, false, 'forgetting twice changes nothing')

    const back = cache.adoptChat({ ...chat, unreadCount: 7 })
    assert.ok(back.chats)
    assert.equal(cache.chat(chat.id)?.unreadCount, 7)
    assert.ok(cache.chats().some((c) => c.id === chat.id))
    // A REST copy arriving after the stream brought the chat back changes nothing.
    const stale = cache.adoptChat({ ...chat, unreadCount: 1 })
    assert.equal(stale.chats, false)
    assert.equal(cache.chat(chat.id)?.unreadCount, 7)
  })

  test('assignment_changed and note_added: the chat\'s assignment follows, a note changes no list', () => {
    const cache = live(demo)
    const chat = cache.chats()[0]
    const assignment = { agentId: 'u1', agentName: 'Maria', assignedBy: 'u1', assignedAt: '2026-12-06T03:00:00Z' }
    const taken = cache.receive({ id: 'x:1:m1', type: 'assignment_changed', data: { chatId: chat.id, assignment, previousAgentId: null } })
    assert.ok(taken.applied && taken.chats)
    assert.deepEqual(cache.chat(chat.id)?.assignment, assignment)
    const note = cache.receive({ id: 'x:1:m2', type: 'note_added', data: { chatId: chat.id, note: { id: 1, chatId: chat.id, authorId: 'u1', body: 'private', createdAt: '2026-12-06T03:00:00Z' } } })
    assert.ok(note.applied)
    assert.equal(note.chats, false)
  })
})

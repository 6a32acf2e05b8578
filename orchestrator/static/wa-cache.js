/**
 * wa-cache.js: what wa-client.js knows (chats, the messages of the chats it loaded, status, QR,
 * presence, history-sync progress, the stream position and the envelope ids it applied) and
 * the rules that change it. No dependencies.
 *
 * Pure: no I/O, no timers, no fetch, no DOM, no events. Each method that changes the cache
 * applies one thing (an envelope, a REST snapshot, a chat's newest page, an older page, the
 * answer to a send) and returns a `Changes` record saying what changed; the caller (the
 * connection state machine in wa-client.js) does the I/O, tells UI code, and acts on the
 * hooks a change carries (`reload`: refetch the snapshots after `resync`; `refetch`: after a
 * history sync). So every rule below can be tested by feeding it captured envelopes.
 *
 * The rules:
 * - An envelope id is applied once (the last SEEN_IDS are remembered); `resync` is an
 *   instruction, never deduplicated. The position (`lastEventId`) is the last id applied.
 * - While snapshots reload (`hold()` ... `release()`), envelopes are held, not applied, and
 *   handed back in order, so a snapshot answered just before an event can never hide it.
 * - Messages are keyed by id. Acks only go forward, except that a pending message can fail
 *   (ack 0); a late pending copy never undoes a delivery.
 * - Order: oldest first. Within one second (WhatsApp's resolution) the server orders by
 *   arrival, which a client cannot see, so messages of one second keep the order they came in
 *   (a REST page's, or appended from the stream): sorts here are stable. A chat's first page
 *   keeps the server's order; a message it lacks reached the server after it answered, so it
 *   goes after the page's messages of its second.
 * - A send's answer (a pending copy) never replaces the copy the stream brought first.
 */

/** Envelope types this cache handles (an EventSource listens for them by name). */
export const ENVELOPE_TYPES = Object.freeze([
  'connection_status', 'qr', 'new_message', 'message_update', 'message_ack', 'new_chat',
  'chat_update', 'chat_deleted', 'contact_update', 'presence', 'sync_progress', 'resync',
  'assignment_changed', 'tags_changed', 'note_added', 'label_update', 'call',
  'session_deleted',
])
/** Messages per page: a page this long may have older messages before it. */
export const PAGE_SIZE = 50
/** Envelope ids remembered for deduplication. */
export const SEEN_IDS = 20000

/**
 * @typedef {import('./wa-client').Chat} Chat
 * @typedef {import('./wa-client').Message} Message
 * @typedef {import('./wa-client').Envelope} Envelope
 * @typedef {import('./wa-client').Status} Status
 * @typedef {Record<string, {lastKnownPresence?: string}>} Presences
 * @typedef {{progress: number|null, syncType: number|null, isLatest: boolean|null}} SyncProgress
 * @typedef {import('./wa-cache').MessageList} MessageList
 * @typedef {import('./wa-cache').Changes} Changes
 * @typedef {import('./wa-cache').Snapshot} Snapshot
 */

/** A record of nothing changed yet. @returns {Changes} */
export function noChanges() {
  return { applied: false, held: false, chats: false, messages: new Set(), status: false, qr: false, sync: false, presence: [], reload: null, refetch: false }
}

export class WaCache {
  /** @param {{pageSize?: number, seenIds?: number}} [options] */
  constructor(options = {}) {
    this.pageSize = options.pageSize ?? PAGE_SIZE
    this.seenIds = options.seenIds ?? SEEN_IDS
    /** @type {Map<string, Chat>} */
    this._chats = new Map()
    /** @type {Chat[]|null} */
    this._sorted = null
    /** @type {Map<string, MessageList>} */
    this._messages = new Map()
    /** @type {Map<string, Presences>} */
    this._presence = new Map()
    /** @type {Status|null} */
    this._status = null
    /** @type {string|null} */
    this._qr = null
    /** Bumped whenever a QR arrives or the snapshot's differs. */
    this.qrVersion = 0
    /** @type {SyncProgress|null} */
    this._sync = null
    /** The position: the id of the last envelope applied (or given by the server). @type {string|null} */
    this.lastEventId = null
    /** @type {Set<string>} */
    this._seen = new Set()
    /** @type {Envelope[]|null} envelopes held while snapshots reload */
    this._held = null
  }

  // ---- reading ----------------------------------------------------------------------------

  /** Chats, most recent activity first (then by id). @returns {Chat[]} */
  chats() {
    if (!this._sorted) {
      this._sorted = [...this._chats.values()].sort(
        (a, b) => (b.timestamp ?? 0) - (a.timestamp ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
      )
    }
    return this._sorted.slice()
  }

  /** @param {string} chatId @returns {Chat|undefined} */
  chat(chatId) {
    return this._chats.get(chatId)
  }

  /** @returns {Status|null} */
  status() {
    return this._status
  }

  /** @returns {string|null} */
  qr() {
    return this._qr
  }

  /** @returns {SyncProgress|null} */
  syncProgress() {
    return this._sync
  }

  /** @param {string} chatId @returns {Presences|null} */
  presence(chatId) {
    return this._presence.get(chatId) ?? null
  }

  /** A loaded chat's message list (the live object: read it, never change it), or undefined. @param {string} chatId @returns {MessageList|undefined} */
  messageList(chatId) {
    return this._messages.get(chatId)
  }

  /** A copy of a chat's messages, oldest first (empty unless loaded). @param {string} chatId @returns {Message[]} */
  messages(chatId) {
    return this._messages.get(chatId)?.list.slice() ?? []
  }

  /** Whether older messages may exist before the cached ones. @param {string} chatId */
  hasOlder(chatId) {
    return this._messages.get(chatId)?.hasOlder ?? true
  }

  /** The ids of the loaded chats that are among `chats` (whose pages a snapshot refetches). @param {Chat[]} chats @returns {string[]} */
  loadedChatIds(chats) {
    return [...this._messages.keys()].filter((id) => chats.some((c) => c.id === id))
  }

  /** Whether envelopes are being held (a reload is under way). */
  get holding() {
    return this._held !== null
  }

  // ---- envelopes --------------------------------------------------------------------------

  /**
   * Apply one stream envelope (held instead while holding; a duplicate id changes nothing).
   * `applied` says whether UI code should hear of it.
   * @param {Envelope} envelope @returns {Changes}
   */
  receive(envelope) {
    const changes = noChanges()
    if (!envelope || typeof envelope.type !== 'string') return changes
    if (this._held) {
      this._held.push(envelope)
      changes.held = true
      return changes
    }
    if (envelope.type === 'resync') {
      // Not an event but an instruction, and it carries the id of the log's newest entry,
      // which may be one we have applied already: never deduplicated.
      if (envelope.id) this.lastEventId = envelope.id
    } else if (envelope.id) {
      if (this._seen.has(envelope.id)) return changes
      this._seen.add(envelope.id)
      if (this._seen.size > this.seenIds) {
        // Sets iterate in insertion order: drop the oldest half.
        let drop = this.seenIds / 2
        for (const id of this._seen) {
          if (drop-- <= 0) break
          this._seen.delete(id)
        }
      }
      this.lastEventId = envelope.id
    }
    changes.applied = true
    this._apply(envelope, changes)
    return changes
  }

  /** Start holding envelopes (a reload begins); false when already holding. */
  hold() {
    if (this._held) return false
    this._held = []
    return true
  }

  /** Stop holding: the held envelopes, in order, for the caller to receive() again. @returns {Envelope[]} */
  release() {
    const held = this._held ?? []
    this._held = null
    return held
  }

  /** @param {Envelope} envelope @param {Changes} changes */
  _apply(envelope, changes) {
    const { type } = envelope
    const data = /** @type {any} */ (envelope.data ?? {})
    switch (type) {
      case 'resync':
        changes.reload = 'resync'
        break
      case 'connection_status':
        this._status = { ...(this._status ?? /** @type {Status} */ ({})), ...data }
        if (data.state && data.state !== 'qr') this._qr = null
        changes.status = true
        break
      case 'qr':
        this._qr = data.qr ?? null
        this.qrVersion++
        changes.qr = true
        break
      case 'new_message':
        this._upsertMessage(data, changes)
        this._stoppedTyping(data, changes)
        break
      case 'message_update':
        this._upsertMessage(data, changes)
        break
      case 'message_ack':
        this._ack(data, changes)
        break
      case 'new_chat':
      case 'chat_update':
        this._chats.set(data.id, { ...this._chats.get(data.id), ...data })
        this._chatsChanged(changes)
        break
      case 'chat_deleted':
        // A merged chat (`mergedInto`) is gone too: its messages arrive under the other chat.
        this._chats.delete(data.id)
        this._messages.delete(data.id)
        this._chatsChanged(changes)
        break
      case 'contact_update': {
        const chat = this._chats.get(data.id)
        if (chat && !chat.name && (data.name || data.notify)) {
          this._chats.set(chat.id, { ...chat, name: data.name || data.notify })
          this._chatsChanged(changes)
        }
        break
      }
      case 'presence':
        this._presence.set(data.chatId, data.presences ?? {})
        changes.presence.push({ chatId: data.chatId, presences: data.presences ?? {} })
        break
      case 'sync_progress':
        this._sync = { progress: data.progress ?? null, syncType: data.syncType ?? null, isLatest: data.isLatest ?? null }
        changes.sync = true
        // History-synced messages are not streamed one by one: the snapshots must be refetched.
        changes.refetch = true
        break
      case 'assignment_changed':
      case 'tags_changed': {
        const chat = this._chats.get(data.chatId)
        if (chat) {
          const patch = type === 'tags_changed' ? { tags: data.tags } : { assignment: data.assignment }
          this._chats.set(chat.id, { ...chat, ...patch })
          this._chatsChanged(changes)
        }
        break
      }
      default:
        break
    }
  }

  /** @param {Changes} changes */
  _chatsChanged(changes) {
    this._sorted = null
    changes.chats = true
  }

  /** @param {string} chatId @param {Changes} changes */
  _messagesChanged(chatId, changes) {
    if (this._messages.has(chatId)) changes.messages.add(chatId)
  }

  /** @param {Message} m @param {Changes} changes */
  _upsertMessage(m, changes) {
    if (!m || !m.id || !m.chatId) return
    const entry = this._messages.get(m.chatId)
    let merged = m
    if (entry) {
      const old = entry.byId.get(m.id)
      // Acks only go forward (a late pending copy must not undo a delivery).
      if (old && old.ack > m.ack && m.ack !== 0) merged = { ...m, ack: old.ack, status: old.status }
      entry.byId.set(m.id, merged)
      entry.list = old && old.timestamp === merged.timestamp
        ? entry.list.map((x) => (x.id === m.id ? merged : x))
        : insertSorted(old ? entry.list.filter((x) => x.id !== m.id) : entry.list, merged)
      this._messagesChanged(m.chatId, changes)
    }
    const chat = this._chats.get(m.chatId)
    if (chat && (chat.lastMessage?.id === m.id || (m.timestamp ?? 0) >= (chat.lastMessage?.timestamp ?? 0))) {
      if (m.type !== 'reaction') {
        this._chats.set(chat.id, { ...chat, lastMessage: merged, timestamp: Math.max(chat.timestamp ?? 0, m.timestamp ?? 0) })
        this._chatsChanged(changes)
      }
    }
  }

  /** A message from someone ends their "typing…", as WhatsApp's own apps show it. @param {Message} m @param {Changes} changes */
  _stoppedTyping(m, changes) {
    const presences = this._presence.get(m.chatId)
    const who = m.sender ?? m.chatId
    const state = presences?.[who]?.lastKnownPresence
    if (m.fromMe || !presences || (state !== 'composing' && state !== 'recording')) return
    const next = { ...presences, [who]: { ...presences[who], lastKnownPresence: 'available' } }
    this._presence.set(m.chatId, next)
    changes.presence.push({ chatId: m.chatId, presences: next })
  }

  /** @param {{chatId: string, messageId: string, ack: number, status: string}} a @param {Changes} changes */
  _ack(a, changes) {
    /** @param {Message} m */
    const forward = (m) => (a.ack === 0 ? m.ack <= 1 : a.ack > m.ack)
    const entry = this._messages.get(a.chatId)
    const m = entry?.byId.get(a.messageId)
    if (entry && m && forward(m)) {
      const updated = /** @type {Message} */ ({ ...m, ack: a.ack, status: a.status })
      entry.byId.set(m.id, updated)
      entry.list = entry.list.map((x) => (x.id === m.id ? updated : x))
      this._messagesChanged(a.chatId, changes)
    }
    const chat = this._chats.get(a.chatId)
    if (chat?.lastMessage?.id === a.messageId && forward(chat.lastMessage)) {
      this._chats.set(chat.id, { ...chat, lastMessage: /** @type {Message} */ ({ ...chat.lastMessage, ack: a.ack, status: a.status }) })
      this._chatsChanged(changes)
    }
  }

  // ---- REST answers -----------------------------------------------------------------------

  /**
   * Replace everything with REST snapshots: the status, every chat, the QR (when the status
   * says `qr`), and the newest page of the chats in `pages` (from loadedChatIds(); a chat
   * whose page failed is left out, and unloaded). The lists loaded before are reported
   * changed, whether or not they still are.
   * @param {Snapshot} snapshot @returns {Changes}
   */
  applySnapshot({ status, chats, qr = null, pages = new Map() }) {
    const changes = noChanges()
    this._status = status
    if (status?.state === 'qr') {
      if (qr !== this._qr) this.qrVersion++
      this._qr = qr
    } else {
      this._qr = null
    }
    this._chats = new Map(chats.map((c) => [c.id, c]))
    const previous = this._messages
    this._messages = new Map()
    for (const [chatId, page] of pages) this._setPage(chatId, page, changes)
    for (const id of previous.keys()) changes.messages.add(id)
    this._chatsChanged(changes)
    changes.status = true
    changes.qr = true
    // A client that starts mid-sync learns the progress from /status; envelopes carry it on.
    if (status?.sync) {
      this._sync = { progress: status.sync.progress ?? null, syncType: status.sync.syncType ?? null, isLatest: status.sync.isLatest ?? null }
      changes.sync = true
    }
    return changes
  }

  /** @param {string} chatId @param {Message[]} page @param {Changes} changes */
  _setPage(chatId, page, changes) {
    const byId = new Map(page.map((m) => [m.id, m]))
    this._messages.set(chatId, { chatId, list: sortMessages([...byId.values()]), byId, hasOlder: page.length >= this.pageSize })
    this._messagesChanged(chatId, changes)
  }

  /**
   * A chat's messages start loading: an empty list that envelopes already fill while its newest
   * page is in flight. Returns it, for applyLatest() (a snapshot may replace it meanwhile: the
   * page then lands in this list, no longer the cache's).
   * @param {string} chatId @returns {MessageList}
   */
  startLatest(chatId) {
    /** @type {MessageList} */
    const entry = { chatId, list: [], byId: new Map(), hasOlder: true }
    this._messages.set(chatId, entry)
    return entry
  }

  /**
   * The newest page arrived for a list from startLatest(). Envelopes applied while it was in
   * flight are kept: merge, never drop. The page is in the server's order, so a message it has
   * keeps its place there (with the stream's copy, which may be newer); one it lacks reached
   * the server after it was answered, so it goes after the page's messages of its second.
   * @param {MessageList} entry @param {Message[]} page @returns {Changes}
   */
  applyLatest(entry, page) {
    const changes = noChanges()
    for (const m of page) if (!entry.byId.has(m.id)) entry.byId.set(m.id, m)
    const paged = new Set(page.map((m) => m.id))
    let list = page.map((m) => /** @type {Message} */ (entry.byId.get(m.id)))
    for (const m of entry.list) if (!paged.has(m.id)) list = insertSorted(list, m)
    entry.list = list
    entry.hasOlder = page.length >= this.pageSize
    this._messagesChanged(entry.chatId, changes)
    return changes
  }

  /** The newest page could not be fetched: the chat is unloaded again. @param {string} chatId */
  dropLatest(chatId) {
    this._messages.delete(chatId)
  }

  /**
   * A page older than the list's oldest message arrived: the messages it adds, and the changes.
   * @param {MessageList} entry @param {Message[]} page @returns {{added: Message[], changes: Changes}}
   */
  applyOlder(entry, page) {
    const changes = noChanges()
    const added = page.filter((m) => !entry.byId.has(m.id))
    for (const m of added) entry.byId.set(m.id, m)
    entry.list = sortMessages([...added, ...entry.list])
    entry.hasOlder = page.length >= this.pageSize
    this._messagesChanged(entry.chatId, changes)
    return { added, changes }
  }

  /**
   * The answer to a send: the pending copy of our message. The stream can bring the message
   * (with its media url and acks) before this answer arrives: the pending copy then must not
   * replace it, and the stream's copy is the message. Returns the message the send resolves to.
   * @param {Message} message @returns {{message: Message, changes: Changes}}
   */
  applySent(message) {
    const changes = noChanges()
    const cached = this._messages.get(message.chatId)?.byId.get(message.id)
    if (cached) return { message: cached, changes }
    if (this._chats.get(message.chatId)?.lastMessage?.id !== message.id) this._upsertMessage(message, changes)
    return { message, changes }
  }
}

/**
 * The server's order: oldest first. Within one second (WhatsApp's resolution) the server
 * orders by arrival, which a client cannot see: messages of the same second keep the order
 * they came in (from a REST page, or appended from the stream), as sorts here are stable.
 * @param {Message} a @param {Message} b @returns {number}
 */
export function compareMessages(a, b) {
  return (a.timestamp ?? 0) - (b.timestamp ?? 0)
}

/** @param {Message[]} list @returns {Message[]} */
export function sortMessages(list) {
  return [...list].sort(compareMessages)
}

/** After the last message not newer than `m`: the same second's keep their order. @param {Message[]} list sorted @param {Message} m @returns {Message[]} */
export function insertSorted(list, m) {
  let i = list.length
  while (i > 0 && compareMessages(list[i - 1], m) > 0) i--
  return [...list.slice(0, i), m, ...list.slice(i)]
}

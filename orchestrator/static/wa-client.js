/**
 * wa-client.js: a browser client for the orchestrator's API (Node 22+ too, with transport
 * "websocket" or an EventSource passed in). No dependencies.
 *
 *   import { WaClient } from '/wa-client.js'
 *   const client = new WaClient({ baseUrl: '', token })
 *   client.on('chats', (chats) => render(chats))
 *   await client.connect()
 *
 * What it guarantees:
 * - No gap between snapshot and stream: it asks `/events/poll` (no `since`) for the current
 *   position first, then fetches the REST snapshots, then streams from that position.
 * - Exact resume: every (re)connection names the last envelope id applied (`?lastEventId=`);
 *   a `resync` envelope (the position is no longer retained) refetches the snapshots, while
 *   the envelopes that arrive meanwhile are held and applied after them. A position the server
 *   refuses as malformed (WebSocket close 4400, long-poll 400 `bad_event_id`) is dropped: the
 *   client starts over as connect() does (a new position, the snapshots, the stream).
 * - Idempotence: an envelope id is applied once; messages are keyed by message id, acks only
 *   go forward. Overlapping streams (a poll and a stream probe, a replay after a reconnect)
 *   are harmless. These rules, and the cache they keep, are wa-cache.js (pure, no I/O); this
 *   module is the connection state machine and HTTP around it.
 * - Reconnection with jittered exponential backoff. A stream that fails while the server is
 *   reachable (`/health` answers) counts as blocked; after `streamFailuresBeforePoll` of those
 *   the client long-polls `/events/poll?since=`, and every `streamRetryMs` it tries a stream
 *   again and switches back when one works. A server that is down is an outage, not a block,
 *   and so is a close the server chose: a restart (1012, or SSE's end after a `retry:` hint)
 *   is an ordinary reconnect; a refusal (4403 forbidden, 4404 unknown chat, 4429 too many
 *   failed sign-ins) a failure with backoff; 4401 (or HTTP 401) stops with link `unauthorized`.
 * - The token never goes into a URL that is shown: media URLs are signed by the server, and
 *   the QR image is fetched with the header (qrImage()). Only EventSource and WebSocket, which
 *   cannot set headers, pass `?access_token=`. A token that expires (a Supabase session's) is
 *   replaced with setToken(): later calls and reconnections use the new one, and the stream
 *   that is open goes on (the server checks a token when a stream opens).
 * - Agent presence: every stream asks for the ephemeral `agent_presence` envelopes
 *   (`?ephemeral=true`: who of the helpdesk is online, viewing or typing where; id "", no
 *   position), current state first; `agents()` is the snapshot, `setAgentPresence()` our own.
 *
 * Sessions (WhatsApp numbers; see README "Sessions"): without options the client is what it
 * was before sessions, on the unscoped routes (the `default` session's). `session: 'sales'`
 * puts its own calls on `/sessions/sales/...` and streams only that session; `sessions: [ids]`
 * streams and caches several (`?session=a,b`), and `client.session(id)` gives one's calls and
 * cached data (`client.session('b').send(...)` is `POST /sessions/b/send`); `allChats()` is
 * every session's chats, each with its `session`. The position is the last id applied of each
 * session, and every reconnection names all of them (`lastEventId=a1,b7`), so resuming stays
 * exact after an orchestrator restart, whose rebuilt log interleaves sessions differently.
 * A deleted session (`session_deleted`) leaves the cache and the stream's filter.
 *
 * Events for UI code (`on(type, fn)` and `subscribe(fn)` both return an unsubscribe function):
 * every stream envelope type after it was applied (`new_message`, `message_ack`, ...; the
 * listener gets `(data, envelope)`), plus `chats` (the ordered list changed), `messages`
 * (`{chatId, session}`: a loaded chat's messages changed), `status`, `qr`, `sync`, `presence`,
 * `client` (link state), `snapshot` (snapshots (re)loaded) and `error`. `agent_presence`
 * (`{userId, name, online, chatId, state}`, with the envelope's `session`) is only announced:
 * the cache keeps none of it.
 *
 * The helpdesk (issue #16): agents(), setAgentPresence(), assign(), unassign(), setStatus(),
 * notes(), addNote(), inboxCounts(); `assignment_changed`, `note_added` are events like any
 * envelope type. A chat an agent may no longer see (taken by another) leaves with
 * forgetChat(); one that became visible joins with adoptChat() (helpdesk-ui.js decides).
 */

// From /wa-client.js this is /static/wa-cache.js (a URL's ".." stops at the root); from
// /static/wa-client.js and from the source tree (Node) it is the file beside this one.
import { DEFAULT_SESSION, ENVELOPE_TYPES, PAGE_SIZE, WaCache } from '../static/wa-cache.js'

const CHAT_PAGE = 500
const MAX_CHAT_PAGES = 40
const POLL_TIMEOUT_S = 25
/** A stream that opened but closed within this time without delivering anything failed. */
const HEALTHY_AFTER_MS = 3000
/** Every stream also carries agent presence (ephemeral envelopes: id "", no position). */
const EPHEMERAL = '&ephemeral=true'

/** An API error: `status` (HTTP, 0 for a network failure), `code` and a human message. */
export class WaError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message)
    this.name = 'WaError'
    this.status = status
    this.code = code
  }
}

/**
 * @typedef {import('./wa-client').Chat} Chat
 * @typedef {import('./wa-client').Message} Message
 * @typedef {import('./wa-client').Envelope} Envelope
 * @typedef {import('./wa-client').Status} Status
 * @typedef {import('./wa-client').ClientState} ClientState
 * @typedef {import('./wa-client').WaClientOptions} WaClientOptions
 * @typedef {import('./wa-client').SendOptions} SendOptions
 * @typedef {import('./wa-client').SessionInfo} SessionInfo
 * @typedef {import('./wa-client').CreateSession} CreateSession
 * @typedef {import('./wa-client').Agent} Agent
 * @typedef {import('./wa-client').Tag} Tag
 * @typedef {import('./wa-client').Note} Note
 * @typedef {import('./wa-client').ChatAssignment} ChatAssignment
 * @typedef {import('./wa-client').ConversationStatus} ConversationStatus
 * @typedef {import('./wa-client').InboxCounts} InboxCounts
 * @typedef {import('./wa-cache').MessageList} MessageList
 * @typedef {import('./wa-cache').Changes} Changes
 * @typedef {{code: number, message: string}} CloseInfo a WebSocket close the server chose
 */

export class WaClient {
  /** @param {WaClientOptions} options */
  constructor(options) {
    const o = options ?? /** @type {WaClientOptions} */ ({})
    if (!o.token) throw new TypeError('WaClient: a token is required')
    this.baseUrl = (o.baseUrl ?? '').replace(/\/+$/, '')
    this.token = o.token
    /** @type {'sse'|'websocket'} */
    this.transport = o.transport === 'websocket' ? 'websocket' : 'sse'
    this._fetch = o.fetch ?? globalThis.fetch.bind(globalThis)
    this._EventSource = o.EventSource ?? globalThis.EventSource
    this._WebSocket = o.WebSocket ?? globalThis.WebSocket
    this.streamFailuresBeforePoll = o.streamFailuresBeforePoll ?? 3
    this.streamRetryMs = o.streamRetryMs ?? 30000
    this.backoffInitialMs = o.backoffInitialMs ?? 500
    this.backoffMaxMs = o.backoffMaxMs ?? 15000
    this.pollTimeout = o.pollTimeout ?? POLL_TIMEOUT_S
    /** @type {Map<string, WaSession>} */
    this._scopes = new Map()
    /** The sessions streamed and cached: `sessions`, else `session` alone, else (null) the unscoped stream. */
    this.following = o.sessions ? [...o.sessions] : o.session ? [o.session] : null
    /** The client's own calls: its `session` option's routes (`/sessions/{id}/...`), else the unscoped ones. */
    this._own = o.session ? this.session(o.session) : new WaSession(this, null)

    /** Everything known, and the rules that change it. */
    this._cache = new WaCache()
    /** @type {WeakMap<MessageList, Promise<unknown>>} a page in flight for a message list */
    this._loading = new WeakMap()

    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map()
    /** @type {Set<Function>} */
    this._subscribers = new Set()
    this._dirtyChats = false
    /** @type {Map<string, {chatId: string, session: string}>} loaded chats changed, by session and chat */
    this._dirtyMessages = new Map()
    this._flushQueued = false

    /** @type {ClientState} */
    this._state = { link: 'idle', transport: null, attempt: 0, blockedStreams: 0, nextRetryAt: null, lastEventId: null, error: null }
    this._running = false
    this._gen = 0 // bumps on every (re)connection: late callbacks of an old one are ignored
    /** @type {{close(): void}|null} */
    this._stream = null
    /** @type {{close(): void}|null} */
    this._probe = null
    /** @type {AbortController|null} */
    this._pollAbort = null
    /** @type {Set<ReturnType<typeof setTimeout>>} */
    this._timers = new Set()
    /** @type {ReturnType<typeof setTimeout>|null} */
    this._syncRefetch = null
    this._onOnline = () => {
      if (this._running && this._state.link === 'reconnecting') this._restartNow()
    }
  }

  // ---- subscriptions ----------------------------------------------------------------------

  /**
   * Listen for one event type; returns the unsubscribe function.
   * @param {string} type @param {(data: any, envelope?: Envelope) => void} fn
   */
  on(type, fn) {
    let set = this._listeners.get(type)
    if (!set) this._listeners.set(type, (set = new Set()))
    set.add(fn)
    return () => void set.delete(fn)
  }

  /**
   * Listen for everything, as `{type, data, envelope?}`; returns the unsubscribe function.
   * @param {(event: {type: string, data: any, envelope?: Envelope}) => void} fn
   */
  subscribe(fn) {
    this._subscribers.add(fn)
    return () => void this._subscribers.delete(fn)
  }

  /** @param {string} type @param {any} data @param {Envelope} [envelope] */
  _emit(type, data, envelope) {
    for (const fn of this._listeners.get(type) ?? []) this._call(fn, data, envelope)
    for (const fn of this._subscribers) this._call(fn, { type, data, envelope })
  }

  /** A listener that throws must not break the client (nor the other listeners). */
  /** @param {Function} fn @param {any} a @param {any} [b] */
  _call(fn, a, b) {
    try {
      fn(a, b)
    } catch (err) {
      queueMicrotask(() => {
        throw err
      })
    }
  }

  /** Coalesce list notifications: many envelopes in one batch render once. */
  _queueFlush() {
    if (this._flushQueued) return
    this._flushQueued = true
    queueMicrotask(() => {
      this._flushQueued = false
      if (this._dirtyChats) {
        this._dirtyChats = false
        this._emit('chats', this.chats())
      }
      const dirty = [...this._dirtyMessages.values()]
      this._dirtyMessages.clear()
      for (const which of dirty) this._emit('messages', which)
    })
  }

  /** Lists changed: tell UI code (once per batch). @param {Changes} changes */
  _listsChanged(changes) {
    if (changes.chats) this._dirtyChats = true
    for (const chatId of changes.messages) this._dirtyMessages.set(`${changes.session}\n${chatId}`, { chatId, session: changes.session })
    if (changes.chats || changes.messages.size > 0) this._queueFlush()
  }

  // ---- reading the cache ------------------------------------------------------------------

  /** The position: the id of the last envelope applied. @type {string|null} */
  get lastEventId() {
    return this._cache.lastEventId
  }

  set lastEventId(id) {
    this._cache.lastEventId = id
  }

  /**
   * One session's calls and cached data on this client's connection and cache, e.g.
   * `client.session('sales').send({chatId, text})` is `POST /sessions/sales/send`. The client's
   * own methods below are those of its `session` option (none: the unscoped routes, which are
   * the `default` session's).
   * @param {string} id @returns {WaSession}
   */
  session(id) {
    let scope = this._scopes.get(id)
    if (!scope) this._scopes.set(id, (scope = new WaSession(this, id)))
    return scope
  }

  /** Every session's chats, each with its `session`, most recent first (the "all numbers" view). */
  allChats() {
    return this._cache.allChats()
  }

  /** The sum of a session's chats' unreadCount, as cached. @param {string} session */
  unread(session) {
    return this._cache.unread(session)
  }

  /** Chats, most recent activity first. @returns {Chat[]} */
  chats() {
    return this._own.chats()
  }

  /** @param {string} chatId @returns {Chat|undefined} */
  chat(chatId) {
    return this._own.chat(chatId)
  }

  /** Connection status (GET /status, then `connection_status` envelopes). @returns {Status|null} */
  status() {
    return this._own.status()
  }

  /** The QR string while WhatsApp waits to be linked, else null. */
  qr() {
    return this._own.qr()
  }

  /** The last `sync_progress`, or null. */
  syncProgress() {
    return this._own.syncProgress()
  }

  /** @param {string} chatId */
  presence(chatId) {
    return this._own.presence(chatId)
  }

  /** The client's own link state: transport, reconnection, fallback. @returns {ClientState} */
  clientState() {
    return { ...this._state, lastEventId: this.lastEventId }
  }

  /** Messages of a chat as cached now, oldest first (empty until loaded). @param {string} chatId */
  cachedMessages(chatId) {
    return this._own.cachedMessages(chatId)
  }

  /** Whether older messages may exist before the cached ones. @param {string} chatId */
  hasOlder(chatId) {
    return this._own.hasOlder(chatId)
  }

  /** A chat's messages, oldest first; the newest page is fetched on first use. @param {string} chatId */
  messages(chatId) {
    return this._own.messages(chatId)
  }

  /** Fetch the page before the oldest cached message; resolves to the messages added. @param {string} chatId */
  loadOlder(chatId) {
    return this._own.loadOlder(chatId)
  }

  /**
   * The media URL of a message (for <img src> and links), or null. The server signs it (an
   * expiry and a signature in its query): it never carries the token.
   * @param {Message} message
   */
  mediaUrl(message) {
    const url = message?.media?.url
    return url ? `${this.baseUrl}${url}` : null
  }

  /** The QR image (see WaSession.qrImage). */
  qrImage() {
    return this._own.qrImage()
  }

  /** Search message text (see WaSession.search). @param {string} q @param {import('./wa-client').SearchOptions} [options] */
  search(q, options) {
    return this._own.search(q, options)
  }

  /** One message, from RAM or the store (see WaSession.message). @param {string} chatId @param {string} messageId */
  message(chatId, messageId) {
    return this._own.message(chatId, messageId)
  }

  /** The helpdesk settings (see WaSession.settings). */
  settings() {
    return this._own.settings()
  }

  /** Replace the helpdesk settings (admins; see WaSession.saveSettings). @param {import('./wa-client').HelpdeskSettings} doc */
  saveSettings(doc) {
    return this._own.saveSettings(doc)
  }

  // ---- quick replies (every session's: they are the helpdesk's, not a number's) ----------

  /** The quick replies (GET /quick-replies). @returns {Promise<import('./wa-client').QuickReply[]>} */
  async quickReplies() {
    const { quickReplies } = await this._get('/quick-replies')
    return quickReplies
  }

  /**
   * Create a quick reply, or edit one when `id` is given (staff). Shortcuts are unique whatever
   * their case: a taken one is refused with `quick_reply_exists`.
   * @param {{id?: number|null, shortcut: string, body: string}} reply @returns {Promise<import('./wa-client').QuickReply>}
   */
  saveQuickReply({ id, shortcut, body }) {
    return id === undefined || id === null
      ? this._request('POST', '/quick-replies', { shortcut, body })
      : this._request('PUT', `/quick-replies/${enc(String(id))}`, { shortcut, body })
  }

  /** Delete a quick reply (staff). @param {number} id @returns {Promise<void>} */
  async deleteQuickReply(id) {
    await this._request('DELETE', `/quick-replies/${enc(String(id))}`)
  }

  /** Send a message (see WaSession.send). @param {SendOptions} options */
  send(options) {
    return this._own.send(options)
  }

  /** React to a message (see WaSession.react). @param {string} chatId @param {string} messageId @param {string} emoji */
  react(chatId, messageId, emoji) {
    return this._own.react(chatId, messageId, emoji)
  }

  /** Mark a chat read (see WaSession.markRead). @param {string} chatId */
  markRead(chatId) {
    return this._own.markRead(chatId)
  }

  /** Our chat state or presence (see WaSession.sendPresence). @param {string} chatId @param {'composing'|'recording'|'paused'|'available'|'unavailable'} state */
  sendPresence(chatId, state) {
    return this._own.sendPresence(chatId, state)
  }

  /** A pairing code for a phone number (see WaSession.pairingCode). @param {string} phone */
  pairingCode(phone) {
    return this._own.pairingCode(phone)
  }

  // ---- helpdesk (see WaSession) ------------------------------------------------------------

  tags() {
    return this._own.tags()
  }

  /** @param {string} chatId @param {string} agentId */
  assign(chatId, agentId) {
    return this._own.assign(chatId, agentId)
  }

  /** @param {string} chatId */
  unassign(chatId) {
    return this._own.unassign(chatId)
  }

  /** @param {string} chatId @param {ConversationStatus} status */
  setStatus(chatId, status) {
    return this._own.setStatus(chatId, status)
  }

  /** @param {string} chatId */
  notes(chatId) {
    return this._own.notes(chatId)
  }

  /** @param {string} chatId @param {string} body */
  addNote(chatId, body) {
    return this._own.addNote(chatId, body)
  }

  /** @param {ConversationStatus} [status] */
  inboxCounts(status) {
    return this._own.inboxCounts(status)
  }

  /** @param {string} chatId */
  adoptChat(chatId) {
    return this._own.adoptChat(chatId)
  }

  /** @param {string} chatId */
  forgetChat(chatId) {
    return this._own.forgetChat(chatId)
  }

  // ---- sessions ---------------------------------------------------------------------------

  /**
   * Use another token from now on (a refreshed Supabase access token): REST calls and the next
   * stream (re)connection carry it; the stream open now is not dropped.
   * @param {string} token
   */
  setToken(token) {
    if (!token) throw new TypeError('WaClient.setToken: a token is required')
    this.token = token
  }

  /** Who the token names (GET /me). @returns {Promise<any>} */
  me() {
    return this._get('/me')
  }

  /** The agents with who is online and what they do (see WaSession.agents). */
  agents() {
    return this._own.agents()
  }

  /** What we do in a chat, for the other agents (see WaSession.setAgentPresence). @param {string} chatId @param {'viewing'|'typing'|'idle'} state */
  setAgentPresence(chatId, state) {
    return this._own.setAgentPresence(chatId, state)
  }

  /** The sessions the caller may use (GET /sessions). @returns {Promise<SessionInfo[]>} */
  async sessions() {
    const { sessions } = await this._get('/sessions')
    return sessions
  }

  /** Add a session (admins): `{id, name?, bridge?, proxy?}`. @param {CreateSession} body @returns {Promise<SessionInfo>} */
  createSession(body) {
    return this._request('POST', '/sessions', body)
  }

  /**
   * Delete a session (admins); its data is kept unless `purge`. Its stream clients get
   * `session_deleted`.
   * @param {string} id @param {{purge?: boolean}} [options] @returns {Promise<void>}
   */
  async deleteSession(id, { purge = false } = {}) {
    await this._request('DELETE', `/sessions/${enc(id)}${purge ? '?purge=true' : ''}`)
  }

  // ---- lifecycle --------------------------------------------------------------------------

  /**
   * Start: position, snapshots, then the stream. Resolves once the snapshots are loaded
   * (retrying while the server is unreachable); rejects with a WaError `unauthorized` for a
   * bad token, and when close() is called before it is done.
   * @returns {Promise<void>}
   */
  async connect() {
    if (this._running) return
    this._running = true
    globalThis.addEventListener?.('online', this._onOnline)
    this._setState({ link: 'connecting', error: null })
    const gen = ++this._gen
    for (let attempt = 0; ; attempt++) {
      try {
        const position = await this._position()
        await this._loadSnapshots()
        if (gen !== this._gen) throw new WaError(0, 'closed', 'the client was closed')
        this._cache.startAt(position)
        break
      } catch (err) {
        if (err instanceof WaError && err.status === 401) throw err
        if (!this._running || gen !== this._gen) throw new WaError(0, 'closed', 'the client was closed')
        const delay = this._backoff(attempt)
        this._setState({ link: 'reconnecting', attempt: attempt + 1, nextRetryAt: Date.now() + delay, error: errorText(err) })
        await this._sleep(delay)
      }
    }
    this._setState({ attempt: 0, nextRetryAt: null })
    this._startStream(gen)
  }

  /** Reconnect at once instead of waiting for the next backoff step (a "Retry now" button). */
  reconnectNow() {
    if (this._running && this._state.link !== 'connecting') this._restartNow()
  }

  /** Stop streaming and polling; the cache stays readable. */
  close() {
    this._running = false
    this._gen++
    globalThis.removeEventListener?.('online', this._onOnline)
    this._stopTransports()
    for (const t of this._timers) clearTimeout(t)
    this._timers.clear()
    if (this._syncRefetch) clearTimeout(this._syncRefetch)
    this._setState({ link: 'closed', transport: null, nextRetryAt: null })
  }

  _stopTransports() {
    this._stream?.close()
    this._stream = null
    this._probe?.close()
    this._probe = null
    this._pollAbort?.abort()
    this._pollAbort = null
  }

  /** @param {Partial<ClientState>} patch */
  _setState(patch) {
    const before = JSON.stringify(this._state)
    Object.assign(this._state, patch)
    if (JSON.stringify(this._state) !== before) this._emit('client', this.clientState())
  }

  /** Full jitter over the upper half: never zero, never in lock-step with other clients. @param {number} attempt */
  _backoff(attempt) {
    const cap = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(attempt, 16))
    return Math.round(cap / 2 + (Math.random() * cap) / 2)
  }

  /** @param {number} ms */
  _sleep(ms) {
    return new Promise((resolve) => {
      const t = setTimeout(() => {
        this._timers.delete(t)
        resolve(undefined)
      }, ms)
      this._timers.add(t)
    })
  }

  /** @param {() => void} fn @param {number} ms */
  _later(fn, ms) {
    const t = setTimeout(() => {
      this._timers.delete(t)
      fn()
    }, ms)
    this._timers.add(t)
  }

  _restartNow() {
    for (const t of this._timers) clearTimeout(t)
    this._timers.clear()
    if (this.lastEventId === null) {
      // No position (not yet, or dropped): streaming from "now" would leave a gap.
      void this._startOver('reconnecting now', false)
      return
    }
    const gen = ++this._gen
    this._stopTransports()
    this._startStream(gen)
  }

  // ---- streaming --------------------------------------------------------------------------

  /** @param {number} gen */
  _startStream(gen) {
    if (gen !== this._gen || !this._running) return
    if (this._state.blockedStreams >= this.streamFailuresBeforePoll) {
      this._startPolling(gen)
      return
    }
    this._stream = this._open(this.transport, {
      healthy: () => {
        if (gen !== this._gen) return
        this._setState({ link: 'live', transport: this.transport, attempt: 0, blockedStreams: 0, nextRetryAt: null, error: null })
      },
      failed: (wasHealthy, close) => {
        if (gen !== this._gen) return
        this._stream = null
        void this._streamFailed(gen, wasHealthy, close)
      },
    })
  }

  /** @param {number} gen @param {boolean} wasHealthy @param {CloseInfo|null} [close] */
  async _streamFailed(gen, wasHealthy, close = null) {
    const attempt = wasHealthy ? 0 : this._state.attempt
    if (close?.code === 4400) {
      // The server cannot resume from our position (not one of its ids): drop it, start over.
      void this._startOver(`the server refused the stream position (${close.message})`)
      return
    }
    // Blocked (a proxy, a firewall) or down? Only the former is a reason to poll. A close the
    // server chose (a restart, a refusal) is neither: it reached us.
    const fromServer = close !== null && (close.code === 1012 || (close.code >= 4000 && close.code < 5000))
    const reachable = !wasHealthy && !fromServer && (await this._reachable())
    if (gen !== this._gen) return
    const blocked = reachable ? this._state.blockedStreams + 1 : this._state.blockedStreams
    if (blocked >= this.streamFailuresBeforePoll) {
      this._setState({ blockedStreams: blocked })
      this._startPolling(gen)
      return
    }
    const delay = this._backoff(attempt)
    /** @type {Partial<ClientState>} */
    const refused = close && close.code >= 4000 ? { error: close.message } : {}
    this._setState({ link: 'reconnecting', attempt: attempt + 1, blockedStreams: blocked, nextRetryAt: Date.now() + delay, ...refused })
    this._later(() => this._startStream(gen), delay)
  }

  /**
   * Start over as connect() does, after the server refused our position: a new position, the
   * snapshots, then the stream from there. After a backoff (unless `wait` is false), so that a
   * server that keeps refusing is not asked in a tight loop.
   * @param {string} why @param {boolean} [wait]
   */
  async _startOver(why, wait = true) {
    const gen = ++this._gen
    this._stopTransports()
    this.lastEventId = null
    for (let attempt = this._state.attempt; ; attempt++) {
      if (wait) {
        const delay = this._backoff(attempt)
        this._setState({ link: 'reconnecting', attempt: attempt + 1, nextRetryAt: Date.now() + delay, error: why })
        await this._sleep(delay)
        if (gen !== this._gen || !this._running) return
      }
      wait = true
      try {
        const position = await this._position()
        await this._loadSnapshots()
        if (gen !== this._gen) return
        this._cache.startAt(position)
        break
      } catch (err) {
        if (gen !== this._gen || (err instanceof WaError && err.status === 401)) return
        why = errorText(err)
      }
    }
    this._setState({ nextRetryAt: null })
    this._startStream(gen)
  }

  async _reachable() {
    try {
      const r = await this._fetch(`${this.baseUrl}/health`, { cache: 'no-store' })
      return r.ok
    } catch {
      return false
    }
  }

  /**
   * Open one stream from lastEventId. `healthy` fires once it has proved itself (SSE open; a
   * WebSocket that delivered a frame or stayed up HEALTHY_AFTER_MS); `failed(wasHealthy, close)`
   * once when it ends for any reason but close(), with the WebSocket's close code and reason
   * when the server chose them (else null).
   * @param {'sse'|'websocket'} transport
   * @param {{healthy(): void, failed(wasHealthy: boolean, close: CloseInfo|null): void}} hooks
   * @returns {{close(): void}}
   */
  _open(transport, hooks) {
    const since = (this.lastEventId === null ? '' : `&lastEventId=${enc(this.lastEventId)}`) + EPHEMERAL + this._filter()
    let ended = false
    let healthy = false
    /** @type {ReturnType<typeof setTimeout>|null} */
    let timer = null
    const proved = () => {
      if (healthy || ended) return
      healthy = true
      if (timer) clearTimeout(timer)
      hooks.healthy()
    }
    /** @type {() => void} */
    let shut = () => {}
    /** @type {CloseInfo|null} */
    let closed = null
    const end = () => {
      if (ended) return
      ended = true
      if (timer) clearTimeout(timer)
      shut()
      hooks.failed(healthy, closed)
    }
    /** @param {string} text */
    const onFrame = (text) => {
      let envelope
      try {
        envelope = JSON.parse(text)
      } catch {
        return // not an envelope (nothing else is sent, but never die on it)
      }
      proved()
      this._receive(envelope)
    }
    if (transport === 'sse') {
      const es = new this._EventSource(`${this.baseUrl}/events?access_token=${enc(this.token)}${since}`)
      es.onopen = proved
      // We reconnect ourselves (with backoff and ?lastEventId=), never EventSource by itself.
      es.onerror = end
      /** @param {MessageEvent} e */
      const handler = (e) => {
        if (!ended) onFrame(e.data)
      }
      for (const type of ENVELOPE_TYPES) es.addEventListener(type, handler)
      es.onmessage = handler
      shut = () => es.close()
    } else {
      const base = this.baseUrl || globalThis.location.origin
      const url = `${base.replace(/^http/, 'ws')}/ws?access_token=${enc(this.token)}${since}`
      const ws = new this._WebSocket(url)
      ws.onopen = () => {
        timer = setTimeout(proved, HEALTHY_AFTER_MS)
      }
      ws.onmessage = (/** @type {MessageEvent} */ e) => {
        if (!ended) onFrame(String(e.data))
      }
      ws.onerror = end
      ws.onclose = (/** @type {CloseEvent} */ e) => {
        // The server refuses with an accepted connection closed at once: 4401 the token,
        // 4400 the position, 4403/4404/4429 the rest; 1012 is a restart. Reason: JSON
        // {"code","message"}. Anything else (1006...) did not come from it.
        if (e.code === 1012 || (e.code >= 4000 && e.code < 5000)) closed = { code: e.code, message: closeMessage(e) }
        if (e.code === 4401) this._unauthorized()
        end()
      }
      shut = () => {
        ws.onclose = ws.onerror = ws.onmessage = ws.onopen = null
        ws.close()
      }
    }
    return {
      close: () => {
        ended = true
        if (timer) clearTimeout(timer)
        shut()
      },
    }
  }

  // ---- long-poll fallback -----------------------------------------------------------------

  /** @param {number} gen */
  _startPolling(gen) {
    this._setState({ link: 'live', transport: 'poll', nextRetryAt: null })
    void this._pollLoop(gen)
    this._scheduleProbe(gen)
  }

  /** @param {number} gen */
  async _pollLoop(gen) {
    let failures = 0
    while (gen === this._gen && this._state.transport === 'poll') {
      const abort = new AbortController()
      this._pollAbort = abort
      try {
        const since = enc(this.lastEventId ?? '')
        const body = await this._get(`/events/poll?since=${since}&timeout=${this.pollTimeout}${EPHEMERAL}${this._filter()}`, abort.signal)
        if (gen !== this._gen || this._state.transport !== 'poll') return
        for (const envelope of body.events) this._receive(envelope)
        // An answer without events still moves us past entries filtered out for this client.
        if (body.events.length === 0 && body.lastEventId) this._cache.advance(body.lastEventId)
        failures = 0
        this._setState({ link: 'live', attempt: 0, error: null })
      } catch (err) {
        if (abort.signal.aborted || gen !== this._gen) return
        if (err instanceof WaError && err.status === 401) return
        if (err instanceof WaError && err.code === 'bad_event_id') {
          void this._startOver(`the server refused the stream position (${err.message})`)
          return
        }
        const delay = this._backoff(failures++)
        this._setState({ link: 'reconnecting', attempt: failures, nextRetryAt: Date.now() + delay, error: errorText(err) })
        await this._sleep(delay)
      }
    }
  }

  /** While polling, try a stream every streamRetryMs; switch back when one proves itself. @param {number} gen */
  _scheduleProbe(gen) {
    this._later(() => {
      if (gen !== this._gen || this._state.transport !== 'poll') return
      this._probe = this._open(this.transport, {
        healthy: () => {
          if (gen !== this._gen) return
          // Same generation: the probe becomes the stream, the poll stops. Whatever both
          // delivered is applied once (ids).
          this._stream = this._probe
          this._probe = null
          this._pollAbort?.abort()
          this._pollAbort = null
          this._setState({ link: 'live', transport: this.transport, attempt: 0, blockedStreams: 0, error: null })
        },
        failed: (wasHealthy, close) => {
          if (gen !== this._gen) return
          if (this._stream && this._state.transport !== 'poll') {
            // It was promoted and has now dropped: reconnect as any stream would.
            this._stream = null
            void this._streamFailed(gen, wasHealthy, close)
            return
          }
          this._probe = null
          this._scheduleProbe(gen)
        },
      })
    }, this.streamRetryMs)
  }

  // ---- applying envelopes -----------------------------------------------------------------

  /** Apply one envelope (the cache's rules), then tell UI code and act on its hooks. @param {Envelope} envelope */
  _receive(envelope) {
    const changes = this._cache.receive(envelope)
    if (!changes.applied) return
    this._listsChanged(changes)
    const { session } = changes
    if (changes.status) this._emit('status', this._cache.status(session), envelope)
    if (changes.qr) this._emit('qr', this._cache.qr(session), envelope)
    for (const presence of changes.presence) this._emit('presence', { ...presence, session }, envelope)
    if (changes.sync) this._emit('sync', this._cache.syncProgress(session), envelope)
    if (changes.deleted) this._sessionDeleted(changes.deleted)
    if (changes.refetch) this._scheduleSyncRefetch()
    if (changes.reload) void this._reload(changes.reload)
    // qr and presence were announced above, in their client-level shape.
    if (envelope.type !== 'qr' && envelope.type !== 'presence') this._emit(envelope.type, envelope.data ?? {}, envelope)
  }

  /**
   * A followed session was deleted: stop following it (the server ends a stream whose filter
   * named only deleted sessions; the next one leaves it out). With none left, the client stops.
   * @param {string} id
   */
  _sessionDeleted(id) {
    if (!this.following?.includes(id)) return
    this.following = this.following.filter((s) => s !== id)
    if (this.following.length > 0) return
    this.close()
    this._setState({ error: `the session ${id} was deleted` })
  }

  // ---- snapshots --------------------------------------------------------------------------

  /**
   * The snapshots of every session followed (status, every chat, the newest page of each chat
   * whose messages are loaded), applied together once all have arrived.
   */
  async _loadSnapshots() {
    const scopes = this._followed()
    const snapshots = await Promise.all(scopes.map((scope) => scope._snapshot()))
    scopes.forEach((scope, i) => {
      const changes = this._cache.applySnapshot(snapshots[i], scope.id)
      this._listsChanged(changes)
      this._emit('status', scope.status())
      this._emit('qr', scope.qr())
      // Only a sync still running: one that finished before this snapshot is no news.
      const sync = scope.syncProgress()
      if (changes.sync && sync && (sync.progress ?? 0) < 100) this._emit('sync', sync)
    })
    this._emit('snapshot', { chats: this._cache.allChats().length })
  }

  /** The sessions this client streams and caches: its `sessions` option, else its own. @returns {WaSession[]} */
  _followed() {
    return this.following ? this.following.map((id) => this.session(id)) : [this._own]
  }

  /**
   * Where the stream starts, asked before the snapshots: each followed session's position (one
   * poll each, so that each id is known to be its session's), or the unscoped stream's ('').
   * @returns {Promise<[string, string|null][]>}
   */
  async _position() {
    if (!this.following) {
      const { lastEventId } = await this._get('/events/poll')
      return [['', lastEventId]]
    }
    return Promise.all(this.following.map(async (id) => {
      const { lastEventId } = await this._get(`/events/poll?session=${enc(id)}`)
      return /** @type {[string, string|null]} */ ([id, lastEventId])
    }))
  }

  /** The stream filter: `&session=a,b` for the sessions followed ('' for the unscoped client). */
  _filter() {
    return this.following ? `&session=${this.following.map(enc).join(',')}` : ''
  }

  /**
   * Reload the snapshots while the stream goes on: envelopes that arrive meanwhile are held
   * and applied after, so a snapshot answered just before an event can never hide it.
   * @param {'resync'|'history sync'} why
   */
  async _reload(why) {
    if (!this._cache.hold()) return
    for (let attempt = 0; this._running; attempt++) {
      try {
        await this._loadSnapshots()
        break
      } catch (err) {
        this._emit('error', { message: `reloading after ${why} failed: ${errorText(err)}` })
        if (err instanceof WaError && err.status === 401) break
        await this._sleep(this._backoff(attempt))
      }
    }
    for (const envelope of this._cache.release()) this._receive(envelope)
  }

  /** History-synced messages are not streamed one by one: refetch, at most twice a second. */
  _scheduleSyncRefetch() {
    if (this._syncRefetch) return
    this._syncRefetch = setTimeout(() => {
      this._syncRefetch = null
      if (this._running) void this._reload('history sync')
    }, 500)
  }

  // ---- HTTP -------------------------------------------------------------------------------

  /** @param {string} path @param {AbortSignal} [signal] */
  _get(path, signal) {
    return this._request('GET', path, undefined, signal)
  }

  /**
   * @param {string} method @param {string} path @param {unknown} [body] @param {AbortSignal} [signal]
   * @returns {Promise<any>}
   */
  async _request(method, path, body, signal) {
    const response = await this._fetchResponse(method, path, body, signal)
    if (!response.ok) throw await this._failure(response, method, path)
    try {
      return await response.json()
    } catch {
      return null
    }
  }

  /**
   * The response, with the token in the header; a network failure as a WaError.
   * @param {string} method @param {string} path @param {unknown} [body] @param {AbortSignal} [signal]
   * @returns {Promise<Response>}
   */
  async _fetchResponse(method, path, body, signal) {
    try {
      return await this._fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { Authorization: `Bearer ${this.token}`, ...(body === undefined ? {} : { 'Content-Type': 'application/json' }) },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal,
        cache: 'no-store',
      })
    } catch (err) {
      throw new WaError(0, 'network', `cannot reach the server: ${errorText(err)}`)
    }
  }

  /**
   * A failed response as a WaError (its JSON `error`); a 401 stops the client.
   * @param {Response} response @param {string} method @param {string} path @returns {Promise<WaError>}
   */
  async _failure(response, method, path) {
    let payload = null
    try {
      payload = await response.json()
    } catch {
      payload = null
    }
    const error = payload?.error ?? {}
    if (response.status === 401) this._unauthorized()
    return new WaError(response.status, error.code ?? 'http_error', error.message ?? `${method} ${path}: HTTP ${response.status}`)
  }

  _unauthorized() {
    if (this._state.link === 'unauthorized') return
    this._running = false
    this._gen++
    this._stopTransports()
    this._setState({ link: 'unauthorized', transport: null, nextRetryAt: null, error: 'the token was refused' })
  }
}

/**
 * One session's (WhatsApp number's) calls and cached data, on its client's connection and cache
 * (`client.session(id)`). Its REST calls go to `/sessions/{id}/...`; the client's own, without
 * a `session` option, to the unscoped routes (the `default` session's).
 */
export class WaSession {
  /** @param {WaClient} client @param {string|null} id null: the unscoped routes */
  constructor(client, id) {
    this.client = client
    /** The session's id (`default` for the unscoped routes). */
    this.id = id ?? DEFAULT_SESSION
    this._prefix = id === null ? '' : `/sessions/${enc(id)}`
  }

  /** @param {string} route */
  _path(route) {
    return this._prefix + route
  }

  /** @returns {Chat[]} */
  chats() {
    return this.client._cache.chats(this.id)
  }

  /** @param {string} chatId @returns {Chat|undefined} */
  chat(chatId) {
    return this.client._cache.chat(chatId, this.id)
  }

  /** @returns {Status|null} */
  status() {
    return this.client._cache.status(this.id)
  }

  qr() {
    return this.client._cache.qr(this.id)
  }

  syncProgress() {
    return this.client._cache.syncProgress(this.id)
  }

  /** @param {string} chatId */
  presence(chatId) {
    return this.client._cache.presence(chatId, this.id)
  }

  /** The sum of this session's chats' unreadCount, as cached. */
  unread() {
    return this.client._cache.unread(this.id)
  }

  /** @param {string} chatId */
  cachedMessages(chatId) {
    return this.client._cache.messages(chatId, this.id)
  }

  /** @param {string} chatId */
  hasOlder(chatId) {
    return this.client._cache.hasOlder(chatId, this.id)
  }

  /** @param {Message} message */
  mediaUrl(message) {
    return this.client.mediaUrl(message)
  }

  /**
   * A chat's messages, oldest first; the newest page is fetched on first use.
   * @param {string} chatId @returns {Promise<Message[]>}
   */
  async messages(chatId) {
    const c = this.client
    const entry = c._cache.messageList(chatId, this.id)
    if (entry) {
      const loading = c._loading.get(entry)
      if (loading) await loading
      return entry.list.slice()
    }
    await this._loadLatest(chatId)
    return this.cachedMessages(chatId)
  }

  /**
   * Fetch the page before the oldest cached message; resolves to the messages added.
   * @param {string} chatId @returns {Promise<Message[]>}
   */
  async loadOlder(chatId) {
    const c = this.client
    const entry = c._cache.messageList(chatId, this.id)
    if (!entry) {
      await this.messages(chatId)
      return this.cachedMessages(chatId)
    }
    const loading = c._loading.get(entry)
    if (loading) await loading
    if (!entry.hasOlder || entry.list.length === 0) return []
    const before = entry.list[0].id
    const task = c._get(this._path(`/chats/${enc(chatId)}/messages?limit=${PAGE_SIZE}&before=${enc(before)}`)).then((body) => {
      const { added, changes } = c._cache.applyOlder(entry, body.messages, this.id)
      c._listsChanged(changes)
      return added
    })
    c._loading.set(entry, task)
    try {
      return await task
    } finally {
      if (c._loading.get(entry) === task) c._loading.delete(entry)
    }
  }

  /** @param {string} chatId */
  async _loadLatest(chatId) {
    const c = this.client
    const entry = c._cache.startLatest(chatId, this.id)
    const task = c._get(this._path(`/chats/${enc(chatId)}/messages?limit=${PAGE_SIZE}`)).then((body) => {
      c._listsChanged(c._cache.applyLatest(entry, body.messages, this.id))
      return entry.list
    })
    c._loading.set(entry, task)
    try {
      await task
    } catch (err) {
      c._cache.dropLatest(chatId, this.id)
      throw err
    } finally {
      c._loading.delete(entry)
    }
  }

  /**
   * The QR image (GET qr.svg, the token in a header), or null when there is no QR. Show it
   * with URL.createObjectURL (and revoke the previous one): a URL with the token would land in
   * the browser's history and in proxies' logs.
   * @returns {Promise<Blob|null>}
   */
  async qrImage() {
    const path = this._path('/qr.svg')
    const response = await this.client._fetchResponse('GET', path)
    if (response.status === 404) return null
    if (!response.ok) throw await this.client._failure(response, 'GET', path)
    return response.blob()
  }

  /**
   * Send a message (text, a reply with quotedId, media); resolves to the sent Message (pending,
   * or the stream's newer copy if that came first), which is in the cache at once; its acks
   * follow on the stream.
   * @param {SendOptions} options @returns {Promise<Message>}
   */
  async send({ chatId, text, quotedId, media }) {
    const c = this.client
    /** @type {Record<string, unknown>} */
    const body = { chatId }
    if (text) body.text = text
    if (quotedId) body.quotedId = quotedId
    if (media) body.media = media
    const { message } = await c._request('POST', this._path('/send'), body)
    // The stream can bring the sent message (with its media url and acks) before this answer
    // arrives: the pending copy must not replace it (the cache's rule).
    const sent = c._cache.applySent(message, this.id)
    c._listsChanged(sent.changes)
    return sent.message
  }

  /**
   * React to a message ('' removes our reaction). The change arrives as `message_update`.
   * @param {string} chatId @param {string} messageId @param {string} emoji
   */
  async react(chatId, messageId, emoji) {
    const { message } = await this.client._request('POST', this._path('/send'), { chatId, reaction: { messageId, emoji } })
    return message
  }

  /**
   * Mark a chat read: read receipts for its unread messages go to WhatsApp, and its unreadCount
   * drops to 0 for everyone when they have gone (a chat_update on the stream).
   * @param {string} chatId @returns {Promise<{chatId: string, receipts: number}>}
   */
  markRead(chatId) {
    return this.client._request('POST', this._path(`/chats/${enc(chatId)}/read`))
  }

  /**
   * Search the text of this session's stored messages (GET /search), best match first, in the
   * chats the caller may see; `nextOffset` is the next page's offset, or null after the last.
   * @param {string} q @param {import('./wa-client').SearchOptions} [options] @returns {Promise<import('./wa-client').SearchResults>}
   */
  search(q, { chatId, limit, offset } = {}) {
    const query = new URLSearchParams({ q })
    if (chatId) query.set('chatId', chatId)
    if (limit !== undefined) query.set('limit', String(limit))
    if (offset) query.set('offset', String(offset))
    return this.client._get(this._path(`/search?${query}`))
  }

  /**
   * One message of a chat from RAM or the store, loaded or not (a quoted message, a search
   * hit); rejects with a WaError 404 `unknown_message` when the server has none.
   * @param {string} chatId @param {string} messageId @returns {Promise<Message>}
   */
  message(chatId, messageId) {
    return this.client._get(this._path(`/chats/${enc(chatId)}/messages/${enc(messageId)}`))
  }

  /** This session's helpdesk settings (GET /settings): business hours, messages, assignment. @returns {Promise<import('./wa-client').HelpdeskSettings>} */
  settings() {
    return this.client._get(this._path('/settings'))
  }

  /**
   * Replace this session's helpdesk settings with the whole document (admins); resolves to the
   * document stored. A refused field rejects with a WaError `bad_<field>`.
   * @param {import('./wa-client').HelpdeskSettings} doc @returns {Promise<import('./wa-client').HelpdeskSettings>}
   */
  saveSettings(doc) {
    return this.client._request('PUT', this._path('/settings'), doc)
  }

  /**
   * Tell the contact we are typing (`composing`, `recording`) or stopped (`paused`); or show the
   * whole account online or not (`available`, `unavailable`). The server subscribes to the
   * chat's presence first when needed.
   * @param {string} chatId @param {'composing'|'recording'|'paused'|'available'|'unavailable'} state
   */
  sendPresence(chatId, state) {
    return this.client._request('POST', this._path(`/chats/${enc(chatId)}/presence`), { state })
  }

  /**
   * Everyone who may work on this session, with `online` (holds a stream now) and `activity`
   * (`[{chatId, state}]`: viewing or typing, in the chats we may see): the snapshot that the
   * `agent_presence` envelopes then keep current.
   * @returns {Promise<import('./wa-api').Agent[]>}
   */
  async agents() {
    const { agents } = await this.client._get(this._path('/agents'))
    return agents
  }

  /**
   * Show the other agents what we do in a chat: `viewing` (lapses after ~60 s) or `typing`
   * (~6 s) unless sent again; `idle` ends both.
   * @param {string} chatId @param {'viewing'|'typing'|'idle'} state
   * @returns {Promise<import('./wa-api').AgentPresenceSet>}
   */
  setAgentPresence(chatId, state) {
    return this.client._request('POST', this._path(`/chats/${enc(chatId)}/agent-presence`), { state })
  }

  /** Ask WhatsApp for a pairing code for a phone number (POST admin/pairing-code). @param {string} phone */
  pairingCode(phone) {
    return this.client._request('POST', this._path('/admin/pairing-code'), { phone })
  }

  // ---- helpdesk (issue #16): tags, assignment, status, notes, inbox counts ---------------

  /** The tags a chat can carry (GET /tags). @returns {Promise<Tag[]>} */
  async tags() {
    const { tags } = await this.client._request('GET', this._path('/tags'))
    return tags
  }

  /**
   * Assign (take, transfer) a chat: PUT /chats/{chatId}/assignment. Every screen, this one
   * too, hears of it from the stream's `assignment_changed`.
   * @param {string} chatId @param {string} agentId @returns {Promise<ChatAssignment>}
   */
  assign(chatId, agentId) {
    return this.client._request('PUT', this._path(`/chats/${enc(chatId)}/assignment`), { agentId })
  }

  /** Release a chat: DELETE /chats/{chatId}/assignment. @param {string} chatId @returns {Promise<ChatAssignment>} */
  unassign(chatId) {
    return this.client._request('DELETE', this._path(`/chats/${enc(chatId)}/assignment`))
  }

  /**
   * A conversation's status (PUT /chats/{chatId}/status); the stream's `chat_update` brings it.
   * @param {string} chatId @param {ConversationStatus} status @returns {Promise<{chatId: string, status: ConversationStatus}>}
   */
  setStatus(chatId, status) {
    return this.client._request('PUT', this._path(`/chats/${enc(chatId)}/status`), { status })
  }

  /** A chat's private notes, oldest first (GET /chats/{chatId}/notes). @param {string} chatId @returns {Promise<Note[]>} */
  async notes(chatId) {
    const { notes } = await this.client._request('GET', this._path(`/chats/${enc(chatId)}/notes`))
    return notes
  }

  /**
   * Add a private note (POST /chats/{chatId}/notes): the team sees it (`note_added`), the
   * customer never does (nothing goes to WhatsApp).
   * @param {string} chatId @param {string} body @returns {Promise<Note>}
   */
  addNote(chatId, body) {
    return this.client._request('POST', this._path(`/chats/${enc(chatId)}/notes`), { body })
  }

  /** The inbox views' counts (GET /inbox/counts), within a status when given. @param {ConversationStatus} [status] @returns {Promise<InboxCounts>} */
  inboxCounts(status) {
    return this.client._request('GET', this._path(`/inbox/counts${status ? `?status=${enc(status)}` : ''}`))
  }

  /**
   * Fetch a chat that became visible to this user (assigned to them, released by another
   * agent: its earlier events were not theirs to see) and add it to the cache.
   * @param {string} chatId @returns {Promise<Chat>}
   */
  async adoptChat(chatId) {
    const c = this.client
    const chat = await c._get(this._path(`/chats/${enc(chatId)}`))
    c._listsChanged(c._cache.adoptChat(chat, this.id))
    return chat
  }

  /** Drop a chat this user may no longer see (another agent took it) from the cache. @param {string} chatId */
  forgetChat(chatId) {
    const c = this.client
    c._listsChanged(c._cache.forgetChat(chatId, this.id))
  }

  /** Status, every chat, and the newest page of each loaded chat: this session's snapshot. @returns {Promise<import('./wa-cache').Snapshot>} */
  async _snapshot() {
    const c = this.client
    const [status, chats] = await Promise.all([c._get(this._path('/status')), this._allChats()])
    const loaded = c._cache.loadedChatIds(chats, this.id)
    const pages = await Promise.all(loaded.map((id) => c._get(this._path(`/chats/${enc(id)}/messages?limit=${PAGE_SIZE}`)).catch(() => null)))
    let qr = null
    if (status.state === 'qr') ({ qr } = await c._get(this._path('/qr')).catch(() => ({ qr: null })))
    /** @type {Map<string, Message[]>} */
    const byChat = new Map()
    loaded.forEach((id, i) => {
      if (pages[i]) byChat.set(id, pages[i].messages)
    })
    return { status, chats, qr, pages: byChat }
  }

  /** @returns {Promise<Chat[]>} */
  async _allChats() {
    /** @type {Chat[]} */
    const all = []
    let before = ''
    for (let i = 0; i < MAX_CHAT_PAGES; i++) {
      const { chats } = await this.client._get(this._path(`/chats?limit=${CHAT_PAGE}${before}`))
      all.push(...chats)
      if (chats.length < CHAT_PAGE) break
      before = `&before=${enc(chats[chats.length - 1].id)}`
    }
    return all
  }
}

/**
 * A File (or Blob with a name) as the `media` of send(): base64 and the kind from its type.
 * @param {File} file @returns {Promise<import('./wa-client').SendMedia>}
 */
export async function mediaFromFile(file) {
  const bytes = new Uint8Array(await file.arrayBuffer())
  let binary = ''
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000))
  const mimetype = file.type || 'application/octet-stream'
  const kind = /^image\/(jpeg|png)$/.test(mimetype) ? 'image' : mimetype.startsWith('video/') ? 'video' : mimetype.startsWith('audio/') ? 'audio' : 'document'
  return { type: kind, base64: btoa(binary), mimetype, fileName: file.name || 'file' }
}

/** @param {string} s */
function enc(s) {
  return encodeURIComponent(s)
}

/** @param {unknown} err */
function errorText(err) {
  return err instanceof Error ? err.message : String(err)
}

/**
 * A WebSocket close's reason: the server's JSON `{"code","message"}`, or the text as it is.
 * @param {CloseEvent} e
 */
function closeMessage(e) {
  try {
    const reason = JSON.parse(e.reason)
    if (reason && typeof reason.message === 'string') return reason.code ? `${reason.code}: ${reason.message}` : reason.message
  } catch {
    // not JSON
  }
  return e.reason || `closed with ${e.code}`
}

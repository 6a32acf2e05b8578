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
 *   cannot set headers, pass `?access_token=`.
 *
 * Events for UI code (`on(type, fn)` and `subscribe(fn)` both return an unsubscribe function):
 * every stream envelope type after it was applied (`new_message`, `message_ack`, ...; the
 * listener gets `(data, envelope)`), plus `chats` (the ordered list changed), `messages`
 * (`{chatId}`: a loaded chat's messages changed), `status`, `qr`, `sync`, `presence`,
 * `client` (link state), `snapshot` (snapshots (re)loaded) and `error`.
 */

// From /wa-client.js this is /static/wa-cache.js (a URL's ".." stops at the root); from
// /static/wa-client.js and from the source tree (Node) it is the file beside this one.
import { ENVELOPE_TYPES, PAGE_SIZE, WaCache } from '../static/wa-cache.js'

const CHAT_PAGE = 500
const MAX_CHAT_PAGES = 40
const POLL_TIMEOUT_S = 25
/** A stream that opened but closed within this time without delivering anything failed. */
const HEALTHY_AFTER_MS = 3000

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

    /** Everything known, and the rules that change it. */
    this._cache = new WaCache()
    /** @type {WeakMap<MessageList, Promise<unknown>>} a page in flight for a message list */
    this._loading = new WeakMap()

    /** @type {Map<string, Set<Function>>} */
    this._listeners = new Map()
    /** @type {Set<Function>} */
    this._subscribers = new Set()
    this._dirtyChats = false
    /** @type {Set<string>} */
    this._dirtyMessages = new Set()
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
      const dirty = [...this._dirtyMessages]
      this._dirtyMessages.clear()
      for (const chatId of dirty) this._emit('messages', { chatId })
    })
  }

  /** Lists changed: tell UI code (once per batch). @param {Changes} changes */
  _listsChanged(changes) {
    if (changes.chats) this._dirtyChats = true
    for (const chatId of changes.messages) this._dirtyMessages.add(chatId)
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

  /** Chats, most recent activity first. @returns {Chat[]} */
  chats() {
    return this._cache.chats()
  }

  /** @param {string} chatId @returns {Chat|undefined} */
  chat(chatId) {
    return this._cache.chat(chatId)
  }

  /** Connection status (GET /status, then `connection_status` envelopes). @returns {Status|null} */
  status() {
    return this._cache.status()
  }

  /** The QR string while WhatsApp waits to be linked, else null. */
  qr() {
    return this._cache.qr()
  }

  /** The last `sync_progress`, or null. */
  syncProgress() {
    return this._cache.syncProgress()
  }

  /** @param {string} chatId */
  presence(chatId) {
    return this._cache.presence(chatId)
  }

  /** The client's own link state: transport, reconnection, fallback. @returns {ClientState} */
  clientState() {
    return { ...this._state, lastEventId: this.lastEventId }
  }

  /** Messages of a chat as cached now, oldest first (empty until loaded). @param {string} chatId */
  cachedMessages(chatId) {
    return this._cache.messages(chatId)
  }

  /** Whether older messages may exist before the cached ones. @param {string} chatId */
  hasOlder(chatId) {
    return this._cache.hasOlder(chatId)
  }

  /**
   * A chat's messages, oldest first; the newest page is fetched on first use.
   * @param {string} chatId @returns {Promise<Message[]>}
   */
  async messages(chatId) {
    const entry = this._cache.messageList(chatId)
    if (entry) {
      const loading = this._loading.get(entry)
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
    const entry = this._cache.messageList(chatId)
    if (!entry) {
      await this.messages(chatId)
      return this.cachedMessages(chatId)
    }
    const loading = this._loading.get(entry)
    if (loading) await loading
    if (!entry.hasOlder || entry.list.length === 0) return []
    const before = entry.list[0].id
    const task = this._get(`/chats/${enc(chatId)}/messages?limit=${PAGE_SIZE}&before=${enc(before)}`).then((body) => {
      const { added, changes } = this._cache.applyOlder(entry, body.messages)
      this._listsChanged(changes)
      return added
    })
    this._loading.set(entry, task)
    try {
      return await task
    } finally {
      if (this._loading.get(entry) === task) this._loading.delete(entry)
    }
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

  /**
   * The QR image (GET /qr.svg, the token in a header), or null when there is no QR. Show it
   * with URL.createObjectURL (and revoke the previous one): a URL with the token would land in
   * the browser's history and in proxies' logs.
   * @returns {Promise<Blob|null>}
   */
  async qrImage() {
    const response = await this._fetchResponse('GET', '/qr.svg')
    if (response.status === 404) return null
    if (!response.ok) throw await this._failure(response, 'GET', '/qr.svg')
    return response.blob()
  }

  // ---- writing ----------------------------------------------------------------------------

  /**
   * Send a message (text, a reply with quotedId, media); resolves to the sent Message (pending,
   * or the stream's newer copy if that came first), which is in the cache at once; its acks
   * follow on the stream.
   * @param {SendOptions} options @returns {Promise<Message>}
   */
  async send({ chatId, text, quotedId, media }) {
    /** @type {Record<string, unknown>} */
    const body = { chatId }
    if (text) body.text = text
    if (quotedId) body.quotedId = quotedId
    if (media) body.media = media
    const { message } = await this._request('POST', '/send', body)
    // The stream can bring the sent message (with its media url and acks) before this answer
    // arrives: the pending copy must not replace it (the cache's rule).
    const sent = this._cache.applySent(message)
    this._listsChanged(sent.changes)
    return sent.message
  }

  /**
   * React to a message ('' removes our reaction). The change arrives as `message_update`.
   * @param {string} chatId @param {string} messageId @param {string} emoji
   */
  async react(chatId, messageId, emoji) {
    const { message } = await this._request('POST', '/send', { chatId, reaction: { messageId, emoji } })
    return message
  }

  /**
   * Mark a chat read: read receipts for its unread messages go to WhatsApp, and its unreadCount
   * drops to 0 for everyone when they have gone (a chat_update on the stream).
   * @param {string} chatId @returns {Promise<{chatId: string, receipts: number}>}
   */
  async markRead(chatId) {
    return this._request('POST', `/chats/${encodeURIComponent(chatId)}/read`)
  }

  /**
   * Tell the contact we are typing (`composing`, `recording`) or stopped (`paused`); or show the
   * whole account online or not (`available`, `unavailable`). The server subscribes to the
   * chat's presence first when needed.
   * @param {string} chatId @param {'composing'|'recording'|'paused'|'available'|'unavailable'} state
   */
  async sendPresence(chatId, state) {
    return this._request('POST', `/chats/${encodeURIComponent(chatId)}/presence`, { state })
  }

  /** Ask WhatsApp for a pairing code for a phone number (POST /admin/pairing-code). @param {string} phone */
  async pairingCode(phone) {
    return this._request('POST', '/admin/pairing-code', { phone })
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
        const { lastEventId } = await this._get('/events/poll')
        await this._loadSnapshots()
        if (gen !== this._gen) throw new WaError(0, 'closed', 'the client was closed')
        this.lastEventId = lastEventId
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
        const { lastEventId } = await this._get('/events/poll')
        await this._loadSnapshots()
        if (gen !== this._gen) return
        this.lastEventId = lastEventId
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
    const since = this.lastEventId === null ? '' : `&lastEventId=${enc(this.lastEventId)}`
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
        const body = await this._get(`/events/poll?since=${since}&timeout=${this.pollTimeout}`, abort.signal)
        if (gen !== this._gen || this._state.transport !== 'poll') return
        for (const envelope of body.events) this._receive(envelope)
        // An answer without events still moves us past entries filtered out for this client.
        if (body.events.length === 0 && body.lastEventId) this.lastEventId = body.lastEventId
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
    if (changes.status) this._emit('status', this._cache.status())
    if (changes.qr) this._emit('qr', this._cache.qr())
    for (const presence of changes.presence) this._emit('presence', presence)
    if (changes.sync) this._emit('sync', this._cache.syncProgress())
    if (changes.refetch) this._scheduleSyncRefetch()
    if (changes.reload) void this._reload(changes.reload)
    // qr and presence were announced above, in their client-level shape.
    if (envelope.type !== 'qr' && envelope.type !== 'presence') this._emit(envelope.type, envelope.data ?? {}, envelope)
  }

  // ---- snapshots --------------------------------------------------------------------------

  /** Status, every chat, and the newest page of each chat whose messages are loaded. */
  async _loadSnapshots() {
    const [status, chats] = await Promise.all([this._get('/status'), this._allChats()])
    const loaded = this._cache.loadedChatIds(chats)
    const pages = await Promise.all(loaded.map((id) => this._get(`/chats/${enc(id)}/messages?limit=${PAGE_SIZE}`).catch(() => null)))
    let qr = null
    if (status.state === 'qr') ({ qr } = await this._get('/qr').catch(() => ({ qr: null })))
    /** @type {Map<string, Message[]>} */
    const byChat = new Map()
    loaded.forEach((id, i) => {
      if (pages[i]) byChat.set(id, pages[i].messages)
    })
    const changes = this._cache.applySnapshot({ status, chats, qr, pages: byChat })
    this._listsChanged(changes)
    this._emit('status', this._cache.status())
    this._emit('qr', this._cache.qr())
    // Only a sync still running: one that finished before this snapshot is no news.
    const sync = this._cache.syncProgress()
    if (changes.sync && sync && (sync.progress ?? 0) < 100) this._emit('sync', sync)
    this._emit('snapshot', { chats: this._cache.chats().length })
  }

  /** @returns {Promise<Chat[]>} */
  async _allChats() {
    /** @type {Chat[]} */
    const all = []
    let before = ''
    for (let i = 0; i < MAX_CHAT_PAGES; i++) {
      const { chats } = await this._get(`/chats?limit=${CHAT_PAGE}${before}`)
      all.push(...chats)
      if (chats.length < CHAT_PAGE) break
      before = `&before=${enc(chats[chats.length - 1].id)}`
    }
    return all
  }

  /** @param {string} chatId */
  async _loadLatest(chatId) {
    const entry = this._cache.startLatest(chatId)
    const task = this._get(`/chats/${enc(chatId)}/messages?limit=${PAGE_SIZE}`).then((body) => {
      this._listsChanged(this._cache.applyLatest(entry, body.messages))
      return entry.list
    })
    this._loading.set(entry, task)
    try {
      await task
    } catch (err) {
      this._cache.dropLatest(chatId)
      throw err
    } finally {
      this._loading.delete(entry)
    }
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

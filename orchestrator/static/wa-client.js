// Built from clients/js/src/wa-client.ts (@wa-helpdesk/client): edit that, then
// `cd clients/js && npm run build && npm run sync-console`. Never edit this copy.
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
 *   failed sign-ins) a failure with backoff; 4401 (or HTTP 401) stops with link `unauthorized`
 *   (with `getToken`: once it gives no new token).
 * - The token never goes into a URL that is shown: media URLs are signed by the server, and
 *   the QR image is fetched with the header (qrImage()). Only EventSource and WebSocket, which
 *   cannot set headers, pass `?access_token=`. A token that expires (a Supabase session's) is
 *   replaced with setToken(): later calls and reconnections use the new one, and the stream
 *   that is open goes on (the server checks a token when a stream opens). Or the client asks
 *   `getToken` (a short-lived stream token from the app's server) before connecting and after
 *   a 401 or a close 4401, and retries with the new one.
 * - Apps with their own server (issue #17): `proxy` sends REST calls to the app's routes
 *   (which add the server-side token; no Authorization header from here), `wsUrl` names the
 *   WebSocket's origin when it is not baseUrl's.
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
import { DEFAULT_SESSION, ENVELOPE_TYPES, PAGE_SIZE, WaCache } from '../static/wa-cache.js';
const CHAT_PAGE = 500;
const MAX_CHAT_PAGES = 40;
const POLL_TIMEOUT_S = 25;
/** A stream that opened but closed within this time without delivering anything failed. */
const HEALTHY_AFTER_MS = 3000;
/** Every stream also carries agent presence (ephemeral envelopes: id "", no position). */
const EPHEMERAL = '&ephemeral=true';
/** An API error: `status` (HTTP, 0 for a network failure), `code` and a human message. */
export class WaError extends Error {
    status;
    code;
    constructor(status, code, message) {
        super(message);
        this.name = 'WaError';
        this.status = status;
        this.code = code;
    }
}
export class WaClient {
    baseUrl;
    /** @internal */
    _token;
    /** Where WebSockets connect (no trailing slash), or null: baseUrl (or the page's origin) with http->ws. */
    wsUrl;
    transport;
    /** @internal */
    _getToken;
    /** @internal */
    _proxy;
    /** getToken's call in flight, shared by every caller that needs a new token @internal */
    _tokenRefresh = null;
    /** The last token getToken gave, and whether the server has accepted it since @internal */
    _fetchedToken = null;
    /** @internal */
    _tokenWorked = false;
    /** Why the last token refresh failed (the link state's error) @internal */
    _tokenError = '';
    /** @internal */
    _fetch;
    /** @internal */
    _EventSource;
    /** @internal */
    _WebSocket;
    streamFailuresBeforePoll;
    streamRetryMs;
    backoffInitialMs;
    backoffMaxMs;
    pollTimeout;
    /** @internal */
    _scopes = new Map();
    /** @internal */
    _following;
    /** The client's own calls: its `session` option's routes (`/sessions/{id}/...`), else the unscoped ones. @internal */
    _own;
    /** Everything known, and the rules that change it. @internal */
    _cache = new WaCache();
    /** a page in flight for a message list @internal */
    _loading = new WeakMap();
    /** @internal */
    _listeners = new Map();
    /** @internal */
    _subscribers = new Set();
    /** @internal */
    _dirtyChats = false;
    /** loaded chats changed, by session and chat @internal */
    _dirtyMessages = new Map();
    /** @internal */
    _flushQueued = false;
    /** @internal */
    _state = { link: 'idle', transport: null, attempt: 0, blockedStreams: 0, nextRetryAt: null, lastEventId: null, error: null };
    /** @internal */
    _running = false;
    /** bumps on every (re)connection: late callbacks of an old one are ignored @internal */
    _gen = 0;
    /** @internal */
    _stream = null;
    /** @internal */
    _probe = null;
    /** @internal */
    _pollAbort = null;
    /** @internal */
    _timers = new Set();
    /** @internal */
    _syncRefetch = null;
    /** @internal */
    _onOnline;
    constructor(options) {
        const o = options ?? {};
        if (!o.token && !o.getToken)
            throw new TypeError('WaClient: a token (or getToken) is required');
        this.baseUrl = (o.baseUrl ?? '').replace(/\/+$/, '');
        this._token = o.token || null;
        this._getToken = o.getToken ?? null;
        this.wsUrl = o.wsUrl ? o.wsUrl.replace(/\/+$/, '') : null;
        this._proxy = o.proxy ?? null;
        this.transport = o.transport === 'websocket' ? 'websocket' : 'sse';
        this._fetch = o.fetch ?? globalThis.fetch.bind(globalThis);
        this._EventSource = o.EventSource ?? globalThis.EventSource;
        this._WebSocket = o.WebSocket ?? globalThis.WebSocket;
        this.streamFailuresBeforePoll = o.streamFailuresBeforePoll ?? 3;
        this.streamRetryMs = o.streamRetryMs ?? 30000;
        this.backoffInitialMs = o.backoffInitialMs ?? 500;
        this.backoffMaxMs = o.backoffMaxMs ?? 15000;
        this.pollTimeout = o.pollTimeout ?? POLL_TIMEOUT_S;
        this._following = o.sessions ? [...o.sessions] : o.session ? [o.session] : null;
        this._own = o.session ? this.session(o.session) : new WaSession(this, null);
        this._onOnline = () => {
            if (this._running && this._state.link === 'reconnecting')
                this._restartNow();
        };
    }
    /** The token REST calls and streams carry (setToken() replaces it); null until getToken gave one. */
    get token() {
        return this._token;
    }
    /** The sessions streamed and cached: `sessions`, else `session` alone, else (null) the unscoped stream. */
    get following() {
        return this._following;
    }
    // ---- subscriptions ----------------------------------------------------------------------
    /** Listen for one event type; returns the unsubscribe function. */
    on(type, fn) {
        let set = this._listeners.get(type);
        if (!set)
            this._listeners.set(type, (set = new Set()));
        const listeners = set;
        listeners.add(fn);
        return () => void listeners.delete(fn);
    }
    /** Listen for everything, as `{type, data, envelope?}`; returns the unsubscribe function. */
    subscribe(fn) {
        this._subscribers.add(fn);
        return () => void this._subscribers.delete(fn);
    }
    /** @internal */
    _emit(type, data, envelope) {
        for (const fn of this._listeners.get(type) ?? [])
            this._call(fn, data, envelope);
        for (const fn of this._subscribers)
            this._call(fn, { type, data, envelope });
    }
    /** A listener that throws must not break the client (nor the other listeners). @internal */
    _call(fn, a, b) {
        try {
            fn(a, b);
        }
        catch (err) {
            queueMicrotask(() => {
                throw err;
            });
        }
    }
    /** Coalesce list notifications: many envelopes in one batch render once. @internal */
    _queueFlush() {
        if (this._flushQueued)
            return;
        this._flushQueued = true;
        queueMicrotask(() => {
            this._flushQueued = false;
            if (this._dirtyChats) {
                this._dirtyChats = false;
                this._emit('chats', this.chats());
            }
            const dirty = [...this._dirtyMessages.values()];
            this._dirtyMessages.clear();
            for (const which of dirty)
                this._emit('messages', which);
        });
    }
    /** Lists changed: tell UI code (once per batch). @internal */
    _listsChanged(changes) {
        if (changes.chats)
            this._dirtyChats = true;
        for (const chatId of changes.messages)
            this._dirtyMessages.set(`${changes.session}\n${chatId}`, { chatId, session: changes.session });
        if (changes.chats || changes.messages.size > 0)
            this._queueFlush();
    }
    // ---- reading the cache ------------------------------------------------------------------
    /** The position: the last id applied of each session, comma-separated (one id with one session). */
    get lastEventId() {
        return this._cache.lastEventId;
    }
    set lastEventId(id) {
        this._cache.lastEventId = id;
    }
    /**
     * One session's calls and cached data on this client's connection and cache, e.g.
     * `client.session('sales').send({chatId, text})` is `POST /sessions/sales/send`. The client's
     * own methods below are those of its `session` option (none: the unscoped routes, which are
     * the `default` session's).
     */
    session(id) {
        let scope = this._scopes.get(id);
        if (!scope)
            this._scopes.set(id, (scope = new WaSession(this, id)));
        return scope;
    }
    /** Every session's chats, each with its `session`, most recent first (the "all numbers" view). */
    allChats() {
        return this._cache.allChats();
    }
    /** The sum of a session's chats' unreadCount, as cached. */
    unread(session) {
        return this._cache.unread(session);
    }
    /** Chats, most recent activity first. */
    chats() {
        return this._own.chats();
    }
    chat(chatId) {
        return this._own.chat(chatId);
    }
    /** Connection status (GET /status, then `connection_status` envelopes). */
    status() {
        return this._own.status();
    }
    /** The QR string while WhatsApp waits to be linked, else null. */
    qr() {
        return this._own.qr();
    }
    /** The last `sync_progress`, or null. */
    syncProgress() {
        return this._own.syncProgress();
    }
    presence(chatId) {
        return this._own.presence(chatId);
    }
    /** The client's own link state: transport, reconnection, fallback. */
    clientState() {
        return { ...this._state, lastEventId: this.lastEventId };
    }
    /** Messages of a chat as cached now, oldest first (empty until loaded). */
    cachedMessages(chatId) {
        return this._own.cachedMessages(chatId);
    }
    /** Whether older messages may exist before the cached ones. */
    hasOlder(chatId) {
        return this._own.hasOlder(chatId);
    }
    /** A chat's messages, oldest first; the newest page is fetched on first use. */
    messages(chatId) {
        return this._own.messages(chatId);
    }
    /** Fetch the page before the oldest cached message; resolves to the messages added. */
    loadOlder(chatId) {
        return this._own.loadOlder(chatId);
    }
    /**
     * The media URL of a message (for <img src> and links), or null. The server signs it (an
     * expiry and a signature in its query): it never carries the token.
     */
    mediaUrl(message) {
        const url = message?.media?.url;
        return url ? `${this.baseUrl}${url}` : null;
    }
    /** The QR image (see WaSession.qrImage). */
    qrImage() {
        return this._own.qrImage();
    }
    /** Search message text (see WaSession.search). */
    search(q, options) {
        return this._own.search(q, options);
    }
    /** One message, from RAM or the store (see WaSession.message). */
    message(chatId, messageId) {
        return this._own.message(chatId, messageId);
    }
    /** The helpdesk settings (see WaSession.settings). */
    settings() {
        return this._own.settings();
    }
    /** Replace the helpdesk settings (admins; see WaSession.saveSettings). */
    saveSettings(doc) {
        return this._own.saveSettings(doc);
    }
    // ---- quick replies (every session's: they are the helpdesk's, not a number's) ----------
    /** The quick replies (GET /quick-replies). */
    async quickReplies() {
        const { quickReplies } = await this._get('/quick-replies');
        return quickReplies;
    }
    /**
     * Create a quick reply, or edit one when `id` is given (staff). Shortcuts are unique whatever
     * their case: a taken one is refused with `quick_reply_exists`.
     */
    saveQuickReply({ id, shortcut, body }) {
        return id === undefined || id === null
            ? this._request('POST', '/quick-replies', { shortcut, body })
            : this._request('PUT', `/quick-replies/${enc(String(id))}`, { shortcut, body });
    }
    /** Delete a quick reply (staff). */
    async deleteQuickReply(id) {
        await this._request('DELETE', `/quick-replies/${enc(String(id))}`);
    }
    /** Send a message (see WaSession.send). */
    send(options) {
        return this._own.send(options);
    }
    /** React to a message (see WaSession.react). */
    react(chatId, messageId, emoji) {
        return this._own.react(chatId, messageId, emoji);
    }
    /** Mark a chat read (see WaSession.markRead). */
    markRead(chatId) {
        return this._own.markRead(chatId);
    }
    /** Our chat state or presence for the contact (see WaSession.sendPresence). */
    sendPresence(chatId, state) {
        return this._own.sendPresence(chatId, state);
    }
    /** A pairing code for a phone number (see WaSession.pairingCode). */
    pairingCode(phone) {
        return this._own.pairingCode(phone);
    }
    // ---- helpdesk (see WaSession) ------------------------------------------------------------
    /** GET /tags. */
    tags() {
        return this._own.tags();
    }
    /** PUT /chats/{chatId}/assignment: take or transfer. */
    assign(chatId, agentId) {
        return this._own.assign(chatId, agentId);
    }
    /** DELETE /chats/{chatId}/assignment: release. */
    unassign(chatId) {
        return this._own.unassign(chatId);
    }
    /** PUT /chats/{chatId}/status. */
    setStatus(chatId, status) {
        return this._own.setStatus(chatId, status);
    }
    /** GET /chats/{chatId}/notes, oldest first. */
    notes(chatId) {
        return this._own.notes(chatId);
    }
    /** POST /chats/{chatId}/notes: private, never sent to WhatsApp. */
    addNote(chatId, body) {
        return this._own.addNote(chatId, body);
    }
    /** GET /inbox/counts. */
    inboxCounts(status) {
        return this._own.inboxCounts(status);
    }
    /** GET /chats/{chatId}, added to the cache (a chat that became visible). */
    adoptChat(chatId) {
        return this._own.adoptChat(chatId);
    }
    /** Drop a chat from the cache (no longer visible to this user). */
    forgetChat(chatId) {
        return this._own.forgetChat(chatId);
    }
    // ---- sessions ---------------------------------------------------------------------------
    /**
     * Use another token from now on (a refreshed Supabase access token): REST calls and the next
     * stream (re)connection carry it; the stream open now is not dropped.
     */
    setToken(token) {
        if (!token)
            throw new TypeError('WaClient.setToken: a token is required');
        this._token = token;
    }
    /**
     * A new token from getToken, after `refused` was refused (null: there is none yet). Callers
     * that need one at the same time share one call; a token already replaced is not refreshed
     * again. False without getToken, when it rejects, or when the token it gave last was refused
     * before the server ever accepted it (asking again would loop).
     * @internal
     */
    _refreshToken(refused) {
        const provider = this._getToken;
        if (!provider)
            return Promise.resolve(false);
        if (this._tokenRefresh)
            return this._tokenRefresh;
        if (this.token !== refused)
            return Promise.resolve(this.token !== null);
        if (refused !== null && refused === this._fetchedToken && !this._tokenWorked) {
            this._tokenError = 'the token from getToken was refused';
            return Promise.resolve(false);
        }
        const refresh = (async () => {
            try {
                const token = await provider();
                if (typeof token !== 'string' || token === '')
                    throw new TypeError('getToken resolved to no token');
                this._token = token;
                this._fetchedToken = token;
                this._tokenWorked = false;
                this._tokenError = '';
                return true;
            }
            catch (err) {
                this._tokenError = `getToken failed: ${errorText(err)}`;
                return false;
            }
        })();
        this._tokenRefresh = refresh;
        void refresh.then(() => {
            if (this._tokenRefresh === refresh)
                this._tokenRefresh = null;
        });
        return refresh;
    }
    /** A token from getToken when there is none yet; none to be had stops the client. @internal */
    async _ensureToken() {
        if (this.token !== null || !this._getToken)
            return;
        if (!(await this._refreshToken(null))) {
            this._unauthorized(this._tokenError);
            throw new WaError(401, 'unauthorized', this._tokenError);
        }
    }
    /** Who the token names (GET /me). */
    me() {
        return this._get('/me');
    }
    /** The agents with who is online and what they do (see WaSession.agents). */
    agents() {
        return this._own.agents();
    }
    /** What we do in a chat, for the other agents (see WaSession.setAgentPresence). */
    setAgentPresence(chatId, state) {
        return this._own.setAgentPresence(chatId, state);
    }
    /** The sessions the caller may use (GET /sessions). */
    async sessions() {
        const { sessions } = await this._get('/sessions');
        return sessions;
    }
    /** Add a session (admins): `{id, name?, bridge?, proxy?}`. */
    createSession(body) {
        return this._request('POST', '/sessions', body);
    }
    /**
     * Delete a session (admins); its data is kept unless `purge`. Its stream clients get
     * `session_deleted`.
     */
    async deleteSession(id, { purge = false } = {}) {
        await this._request('DELETE', `/sessions/${enc(id)}${purge ? '?purge=true' : ''}`);
    }
    // ---- lifecycle --------------------------------------------------------------------------
    /**
     * Start: position, snapshots, then the stream. Resolves once the snapshots are loaded
     * (retrying while the server is unreachable); rejects with a WaError `unauthorized` for a
     * bad token, and when close() is called before it is done.
     */
    async connect() {
        if (this._running)
            return;
        this._running = true;
        globalThis.addEventListener?.('online', this._onOnline);
        this._setState({ link: 'connecting', error: null });
        const gen = ++this._gen;
        // No token yet: the provider's first, so that even a client whose REST calls are all
        // proxied has one for its stream.
        if (this.token === null)
            await this._ensureToken();
        for (let attempt = 0;; attempt++) {
            try {
                const position = await this._position();
                await this._loadSnapshots();
                if (gen !== this._gen)
                    throw new WaError(0, 'closed', 'the client was closed');
                this._cache.startAt(position);
                break;
            }
            catch (err) {
                if (err instanceof WaError && err.status === 401)
                    throw err;
                if (!this._running || gen !== this._gen)
                    throw new WaError(0, 'closed', 'the client was closed');
                const delay = this._backoff(attempt);
                this._setState({ link: 'reconnecting', attempt: attempt + 1, nextRetryAt: Date.now() + delay, error: errorText(err) });
                await this._sleep(delay);
            }
        }
        this._setState({ attempt: 0, nextRetryAt: null });
        this._startStream(gen);
    }
    /** Reconnect at once instead of waiting for the next backoff step (a "Retry now" button). */
    reconnectNow() {
        if (this._running && this._state.link !== 'connecting')
            this._restartNow();
    }
    /** Stop streaming and polling; the cache stays readable. */
    close() {
        this._running = false;
        this._gen++;
        globalThis.removeEventListener?.('online', this._onOnline);
        this._stopTransports();
        for (const t of this._timers)
            clearTimeout(t);
        this._timers.clear();
        if (this._syncRefetch)
            clearTimeout(this._syncRefetch);
        this._setState({ link: 'closed', transport: null, nextRetryAt: null });
    }
    /** @internal */
    _stopTransports() {
        this._stream?.close();
        this._stream = null;
        this._probe?.close();
        this._probe = null;
        this._pollAbort?.abort();
        this._pollAbort = null;
    }
    /** @internal */
    _setState(patch) {
        const before = JSON.stringify(this._state);
        Object.assign(this._state, patch);
        if (JSON.stringify(this._state) !== before)
            this._emit('client', this.clientState());
    }
    /** Full jitter over the upper half: never zero, never in lock-step with other clients. @internal */
    _backoff(attempt) {
        const cap = Math.min(this.backoffMaxMs, this.backoffInitialMs * 2 ** Math.min(attempt, 16));
        return Math.round(cap / 2 + (Math.random() * cap) / 2);
    }
    /** @internal */
    _sleep(ms) {
        return new Promise((resolve) => {
            const t = setTimeout(() => {
                this._timers.delete(t);
                resolve(undefined);
            }, ms);
            this._timers.add(t);
        });
    }
    /** @internal */
    _later(fn, ms) {
        const t = setTimeout(() => {
            this._timers.delete(t);
            fn();
        }, ms);
        this._timers.add(t);
    }
    /** @internal */
    _restartNow() {
        for (const t of this._timers)
            clearTimeout(t);
        this._timers.clear();
        if (this.lastEventId === null) {
            // No position (not yet, or dropped): streaming from "now" would leave a gap.
            void this._startOver('reconnecting now', false);
            return;
        }
        const gen = ++this._gen;
        this._stopTransports();
        this._startStream(gen);
    }
    // ---- streaming --------------------------------------------------------------------------
    /** @internal */
    _startStream(gen) {
        if (gen !== this._gen || !this._running)
            return;
        if (this.token === null) {
            // Reached without a REST call that fetched one (a start over whose calls are proxied).
            void this._refreshToken(null).then((ok) => {
                if (gen !== this._gen)
                    return;
                if (ok)
                    this._startStream(gen);
                else
                    this._unauthorized(this._tokenError);
            });
            return;
        }
        if (this._state.blockedStreams >= this.streamFailuresBeforePoll) {
            this._startPolling(gen);
            return;
        }
        this._stream = this._open(this.transport, {
            healthy: () => {
                if (gen !== this._gen)
                    return;
                this._tokenWorked = true;
                this._setState({ link: 'live', transport: this.transport, attempt: 0, blockedStreams: 0, nextRetryAt: null, error: null });
            },
            failed: (wasHealthy, close) => {
                if (gen !== this._gen)
                    return;
                this._stream = null;
                void this._streamFailed(gen, wasHealthy, close);
            },
        });
    }
    /** @internal */
    async _streamFailed(gen, wasHealthy, close = null) {
        const attempt = wasHealthy ? 0 : this._state.attempt;
        if (close?.code === 4400) {
            // The server cannot resume from our position (not one of its ids): drop it, start over.
            void this._startOver(`the server refused the stream position (${close.message})`);
            return;
        }
        if (close?.code === 4401) {
            // The token expired (a short-lived one): reconnect at once with the provider's next.
            const renewed = await this._refreshToken(close.token);
            if (gen !== this._gen)
                return;
            if (renewed)
                this._startStream(gen);
            else
                this._unauthorized(this._tokenError);
            return;
        }
        // Blocked (a proxy, a firewall) or down? Only the former is a reason to poll. A close the
        // server chose (a restart, a refusal) is neither: it reached us.
        const fromServer = close !== null && (close.code === 1012 || (close.code >= 4000 && close.code < 5000));
        const reachable = !wasHealthy && !fromServer && (await this._reachable());
        if (gen !== this._gen)
            return;
        if (reachable && this.transport === 'sse' && this._getToken) {
            // An EventSource cannot tell a refused token from a blocked stream: ask a REST route with
            // the token. A 401 there fetches a new one (see _fetchResponse): then it was the token.
            const before = this.token;
            await this._get('/me').catch(() => undefined);
            if (gen !== this._gen)
                return;
            if (this.token !== before) {
                this._startStream(gen);
                return;
            }
        }
        const blocked = reachable ? this._state.blockedStreams + 1 : this._state.blockedStreams;
        if (blocked >= this.streamFailuresBeforePoll) {
            this._setState({ blockedStreams: blocked });
            this._startPolling(gen);
            return;
        }
        const delay = this._backoff(attempt);
        const refused = close && close.code >= 4000 ? { error: close.message } : {};
        this._setState({ link: 'reconnecting', attempt: attempt + 1, blockedStreams: blocked, nextRetryAt: Date.now() + delay, ...refused });
        this._later(() => this._startStream(gen), delay);
    }
    /**
     * Start over as connect() does, after the server refused our position: a new position, the
     * snapshots, then the stream from there. After a backoff (unless `wait` is false), so that a
     * server that keeps refusing is not asked in a tight loop.
     * @internal
     */
    async _startOver(why, wait = true) {
        const gen = ++this._gen;
        this._stopTransports();
        this.lastEventId = null;
        for (let attempt = this._state.attempt;; attempt++) {
            if (wait) {
                const delay = this._backoff(attempt);
                this._setState({ link: 'reconnecting', attempt: attempt + 1, nextRetryAt: Date.now() + delay, error: why });
                await this._sleep(delay);
                if (gen !== this._gen || !this._running)
                    return;
            }
            wait = true;
            try {
                const position = await this._position();
                await this._loadSnapshots();
                if (gen !== this._gen)
                    return;
                this._cache.startAt(position);
                break;
            }
            catch (err) {
                if (gen !== this._gen || (err instanceof WaError && err.status === 401))
                    return;
                why = errorText(err);
            }
        }
        this._setState({ nextRetryAt: null });
        this._startStream(gen);
    }
    /** @internal */
    async _reachable() {
        try {
            const r = await this._fetch(`${this.baseUrl}/health`, { cache: 'no-store' });
            return r.ok;
        }
        catch {
            return false;
        }
    }
    /**
     * Open one stream from lastEventId. `healthy` fires once it has proved itself (SSE open; a
     * WebSocket that delivered a frame or stayed up HEALTHY_AFTER_MS); `failed(wasHealthy, close)`
     * once when it ends for any reason but close(), with the WebSocket's close code and reason
     * when the server chose them (else null).
     * @internal
     */
    _open(transport, hooks) {
        const since = (this.lastEventId === null ? '' : `&lastEventId=${enc(this.lastEventId)}`) + EPHEMERAL + this._filter();
        const token = this.token;
        let ended = false;
        let healthy = false;
        let timer = null;
        const proved = () => {
            if (healthy || ended)
                return;
            healthy = true;
            if (timer)
                clearTimeout(timer);
            hooks.healthy();
        };
        let shut = () => { };
        let closed = null;
        const end = () => {
            if (ended)
                return;
            ended = true;
            if (timer)
                clearTimeout(timer);
            shut();
            hooks.failed(healthy, closed);
        };
        const onFrame = (text) => {
            let envelope;
            try {
                envelope = JSON.parse(text);
            }
            catch {
                return; // not an envelope (nothing else is sent, but never die on it)
            }
            proved();
            this._receive(envelope);
        };
        if (transport === 'sse') {
            const es = new this._EventSource(`${this.baseUrl}/events?access_token=${enc(token ?? '')}${since}`);
            es.onopen = proved;
            // We reconnect ourselves (with backoff and ?lastEventId=), never EventSource by itself.
            es.onerror = end;
            const handler = (e) => {
                if (!ended)
                    onFrame(e.data);
            };
            for (const type of ENVELOPE_TYPES)
                es.addEventListener(type, handler);
            es.onmessage = handler;
            shut = () => es.close();
        }
        else {
            const base = this.wsUrl ?? (this.baseUrl || globalThis.location.origin);
            const url = `${base.replace(/^http/, 'ws')}/ws?access_token=${enc(token ?? '')}${since}`;
            const ws = new this._WebSocket(url);
            ws.onopen = () => {
                timer = setTimeout(proved, HEALTHY_AFTER_MS);
            };
            ws.onmessage = (e) => {
                if (!ended)
                    onFrame(String(e.data));
            };
            ws.onerror = end;
            ws.onclose = (e) => {
                // The server refuses with an accepted connection closed at once: 4401 the token,
                // 4400 the position, 4403/4404/4429 the rest; 1012 is a restart. Reason: JSON
                // {"code","message"}. Anything else (1006...) did not come from it.
                if (e.code === 1012 || (e.code >= 4000 && e.code < 5000))
                    closed = { code: e.code, message: closeMessage(e), token };
                // Without a token provider a refused token is the end; with one, _streamFailed renews it.
                if (e.code === 4401 && !this._getToken)
                    this._unauthorized();
                end();
            };
            shut = () => {
                ws.onclose = ws.onerror = ws.onmessage = ws.onopen = null;
                ws.close();
            };
        }
        return {
            close: () => {
                ended = true;
                if (timer)
                    clearTimeout(timer);
                shut();
            },
        };
    }
    // ---- long-poll fallback -----------------------------------------------------------------
    /** @internal */
    _startPolling(gen) {
        this._setState({ link: 'live', transport: 'poll', nextRetryAt: null });
        void this._pollLoop(gen);
        this._scheduleProbe(gen);
    }
    /** @internal */
    async _pollLoop(gen) {
        let failures = 0;
        while (gen === this._gen && this._state.transport === 'poll') {
            const abort = new AbortController();
            this._pollAbort = abort;
            try {
                const since = enc(this.lastEventId ?? '');
                const body = await this._get(`/events/poll?since=${since}&timeout=${this.pollTimeout}${EPHEMERAL}${this._filter()}`, abort.signal);
                if (gen !== this._gen || this._state.transport !== 'poll')
                    return;
                for (const envelope of body.events)
                    this._receive(envelope);
                // An answer without events still moves us past entries filtered out for this client.
                if (body.events.length === 0 && body.lastEventId)
                    this._cache.advance(body.lastEventId);
                failures = 0;
                this._setState({ link: 'live', attempt: 0, error: null });
            }
            catch (err) {
                if (abort.signal.aborted || gen !== this._gen)
                    return;
                if (err instanceof WaError && err.status === 401)
                    return;
                if (err instanceof WaError && err.code === 'bad_event_id') {
                    void this._startOver(`the server refused the stream position (${err.message})`);
                    return;
                }
                const delay = this._backoff(failures++);
                this._setState({ link: 'reconnecting', attempt: failures, nextRetryAt: Date.now() + delay, error: errorText(err) });
                await this._sleep(delay);
            }
        }
    }
    /** While polling, try a stream every streamRetryMs; switch back when one proves itself. @internal */
    _scheduleProbe(gen) {
        this._later(() => {
            if (gen !== this._gen || this._state.transport !== 'poll')
                return;
            this._probe = this._open(this.transport, {
                healthy: () => {
                    if (gen !== this._gen)
                        return;
                    this._tokenWorked = true;
                    // Same generation: the probe becomes the stream, the poll stops. Whatever both
                    // delivered is applied once (ids).
                    this._stream = this._probe;
                    this._probe = null;
                    this._pollAbort?.abort();
                    this._pollAbort = null;
                    this._setState({ link: 'live', transport: this.transport, attempt: 0, blockedStreams: 0, error: null });
                },
                failed: (wasHealthy, close) => {
                    if (gen !== this._gen)
                        return;
                    if (this._stream && this._state.transport !== 'poll') {
                        // It was promoted and has now dropped: reconnect as any stream would.
                        this._stream = null;
                        void this._streamFailed(gen, wasHealthy, close);
                        return;
                    }
                    this._probe = null;
                    this._scheduleProbe(gen);
                },
            });
        }, this.streamRetryMs);
    }
    // ---- applying envelopes -----------------------------------------------------------------
    /** Apply one envelope (the cache's rules), then tell UI code and act on its hooks. @internal */
    _receive(envelope) {
        const changes = this._cache.receive(envelope);
        if (!changes.applied)
            return;
        this._listsChanged(changes);
        const { session } = changes;
        if (changes.status)
            this._emit('status', this._cache.status(session), envelope);
        if (changes.qr)
            this._emit('qr', this._cache.qr(session), envelope);
        for (const presence of changes.presence)
            this._emit('presence', { ...presence, session }, envelope);
        if (changes.sync)
            this._emit('sync', this._cache.syncProgress(session), envelope);
        if (changes.deleted)
            this._sessionDeleted(changes.deleted);
        if (changes.refetch)
            this._scheduleSyncRefetch();
        if (changes.reload)
            void this._reload(changes.reload);
        // qr and presence were announced above, in their client-level shape.
        if (envelope.type !== 'qr' && envelope.type !== 'presence')
            this._emit(envelope.type, envelope.data ?? {}, envelope);
    }
    /**
     * A followed session was deleted: stop following it (the server ends a stream whose filter
     * named only deleted sessions; the next one leaves it out). With none left, the client stops.
     * @internal
     */
    _sessionDeleted(id) {
        if (!this.following?.includes(id))
            return;
        this._following = this.following.filter((s) => s !== id);
        if (this.following.length > 0)
            return;
        this.close();
        this._setState({ error: `the session ${id} was deleted` });
    }
    // ---- snapshots --------------------------------------------------------------------------
    /**
     * The snapshots of every session followed (status, every chat, the newest page of each chat
     * whose messages are loaded), applied together once all have arrived.
     * @internal
     */
    async _loadSnapshots() {
        const scopes = this._followed();
        const snapshots = await Promise.all(scopes.map((scope) => scope._snapshot()));
        scopes.forEach((scope, i) => {
            const changes = this._cache.applySnapshot(snapshots[i], scope.id);
            this._listsChanged(changes);
            this._emit('status', scope.status());
            this._emit('qr', scope.qr());
            // Only a sync still running: one that finished before this snapshot is no news.
            const sync = scope.syncProgress();
            if (changes.sync && sync && (sync.progress ?? 0) < 100)
                this._emit('sync', sync);
        });
        this._emit('snapshot', { chats: this._cache.allChats().length });
    }
    /** The sessions this client streams and caches: its `sessions` option, else its own. @internal */
    _followed() {
        return this.following ? this.following.map((id) => this.session(id)) : [this._own];
    }
    /**
     * Where the stream starts, asked before the snapshots: each followed session's position (one
     * poll each, so that each id is known to be its session's), or the unscoped stream's ('').
     * @internal
     */
    async _position() {
        if (!this.following) {
            const { lastEventId } = await this._get('/events/poll');
            return [['', lastEventId]];
        }
        return Promise.all(this.following.map(async (id) => {
            const { lastEventId } = await this._get(`/events/poll?session=${enc(id)}`);
            return [id, lastEventId];
        }));
    }
    /** The stream filter: `&session=a,b` for the sessions followed ('' for the unscoped client). @internal */
    _filter() {
        return this.following ? `&session=${this.following.map(enc).join(',')}` : '';
    }
    /**
     * Reload the snapshots while the stream goes on: envelopes that arrive meanwhile are held
     * and applied after, so a snapshot answered just before an event can never hide it.
     * @internal
     */
    async _reload(why) {
        if (!this._cache.hold())
            return;
        for (let attempt = 0; this._running; attempt++) {
            try {
                await this._loadSnapshots();
                break;
            }
            catch (err) {
                this._emit('error', { message: `reloading after ${why} failed: ${errorText(err)}` });
                if (err instanceof WaError && err.status === 401)
                    break;
                await this._sleep(this._backoff(attempt));
            }
        }
        for (const envelope of this._cache.release())
            this._receive(envelope);
    }
    /** History-synced messages are not streamed one by one: refetch, at most twice a second. @internal */
    _scheduleSyncRefetch() {
        if (this._syncRefetch)
            return;
        this._syncRefetch = setTimeout(() => {
            this._syncRefetch = null;
            if (this._running)
                void this._reload('history sync');
        }, 500);
    }
    // ---- HTTP -------------------------------------------------------------------------------
    /** @internal */
    _get(path, signal) {
        return this._request('GET', path, undefined, signal);
    }
    /** @internal */
    async _request(method, path, body, signal) {
        const response = await this._fetchResponse(method, path, body, signal);
        if (!response.ok)
            throw await this._failure(response, method, path);
        try {
            return await response.json();
        }
        catch {
            return null;
        }
    }
    /**
     * The response, with the token in the header (none through the proxy option's URL); a
     * network failure as a WaError. A 401 with a token provider: once more with a new token.
     * @internal
     */
    async _fetchResponse(method, path, body, signal, retry = true) {
        const proxied = this._proxy?.(path, method);
        const direct = typeof proxied !== 'string';
        // Only when there is none: the request goes out in the same tick as the call, as before.
        if (direct && this.token === null)
            await this._ensureToken();
        const token = this.token;
        const headers = body === undefined ? {} : { 'Content-Type': 'application/json' };
        let response;
        try {
            response = await this._fetch(direct ? `${this.baseUrl}${path}` : proxied, {
                method,
                headers: direct ? { Authorization: `Bearer ${token}`, ...headers } : headers,
                body: body === undefined ? undefined : JSON.stringify(body),
                signal,
                cache: 'no-store',
            });
        }
        catch (err) {
            throw new WaError(0, 'network', `cannot reach the server: ${errorText(err)}`);
        }
        if (!direct)
            return response;
        if (response.status !== 401) {
            if (token === this.token)
                this._tokenWorked = true;
        }
        else if (retry && this._getToken && (await this._refreshToken(token))) {
            return this._fetchResponse(method, path, body, signal, false);
        }
        return response;
    }
    /** A failed response as a WaError (its JSON `error`); a 401 stops the client. @internal */
    async _failure(response, method, path) {
        let payload = null;
        try {
            payload = await response.json();
        }
        catch {
            payload = null;
        }
        const error = payload?.error ?? {};
        if (response.status === 401)
            this._unauthorized(this._tokenError || undefined);
        return new WaError(response.status, error.code ?? 'http_error', error.message ?? `${method} ${path}: HTTP ${response.status}`);
    }
    /** @internal */
    _unauthorized(why = 'the token was refused') {
        if (this._state.link === 'unauthorized')
            return;
        this._running = false;
        this._gen++;
        this._stopTransports();
        this._setState({ link: 'unauthorized', transport: null, nextRetryAt: null, error: why });
    }
}
/**
 * One session's (WhatsApp number's) calls and cached data, on its client's connection and cache
 * (`client.session(id)`). Its REST calls go to `/sessions/{id}/...`; the client's own, without
 * a `session` option, to the unscoped routes (the `default` session's).
 */
export class WaSession {
    client;
    /** The session's id (`default` for the unscoped routes). */
    id;
    /** @internal */
    _prefix;
    /** @param id null: the unscoped routes */
    constructor(client, id) {
        this.client = client;
        this.id = id ?? DEFAULT_SESSION;
        this._prefix = id === null ? '' : `/sessions/${enc(id)}`;
    }
    /** @internal */
    _path(route) {
        return this._prefix + route;
    }
    chats() {
        return this.client._cache.chats(this.id);
    }
    chat(chatId) {
        return this.client._cache.chat(chatId, this.id);
    }
    status() {
        return this.client._cache.status(this.id);
    }
    qr() {
        return this.client._cache.qr(this.id);
    }
    syncProgress() {
        return this.client._cache.syncProgress(this.id);
    }
    presence(chatId) {
        return this.client._cache.presence(chatId, this.id);
    }
    /** The sum of this session's chats' unreadCount, as cached. */
    unread() {
        return this.client._cache.unread(this.id);
    }
    cachedMessages(chatId) {
        return this.client._cache.messages(chatId, this.id);
    }
    hasOlder(chatId) {
        return this.client._cache.hasOlder(chatId, this.id);
    }
    mediaUrl(message) {
        return this.client.mediaUrl(message);
    }
    /** A chat's messages, oldest first; the newest page is fetched on first use. */
    async messages(chatId) {
        const c = this.client;
        const entry = c._cache.messageList(chatId, this.id);
        if (entry) {
            const loading = c._loading.get(entry);
            if (loading)
                await loading;
            return entry.list.slice();
        }
        await this._loadLatest(chatId);
        return this.cachedMessages(chatId);
    }
    /** Fetch the page before the oldest cached message; resolves to the messages added. */
    async loadOlder(chatId) {
        const c = this.client;
        const entry = c._cache.messageList(chatId, this.id);
        if (!entry) {
            await this.messages(chatId);
            return this.cachedMessages(chatId);
        }
        const loading = c._loading.get(entry);
        if (loading)
            await loading;
        if (!entry.hasOlder || entry.list.length === 0)
            return [];
        const before = entry.list[0].id;
        const task = c._get(this._path(`/chats/${enc(chatId)}/messages?limit=${PAGE_SIZE}&before=${enc(before)}`)).then((body) => {
            const { added, changes } = c._cache.applyOlder(entry, body.messages, this.id);
            c._listsChanged(changes);
            return added;
        });
        c._loading.set(entry, task);
        try {
            return await task;
        }
        finally {
            if (c._loading.get(entry) === task)
                c._loading.delete(entry);
        }
    }
    /** @internal */
    async _loadLatest(chatId) {
        const c = this.client;
        const entry = c._cache.startLatest(chatId, this.id);
        const task = c._get(this._path(`/chats/${enc(chatId)}/messages?limit=${PAGE_SIZE}`)).then((body) => {
            c._listsChanged(c._cache.applyLatest(entry, body.messages, this.id));
            return entry.list;
        });
        c._loading.set(entry, task);
        try {
            await task;
        }
        catch (err) {
            c._cache.dropLatest(chatId, this.id);
            throw err;
        }
        finally {
            c._loading.delete(entry);
        }
    }
    /**
     * The QR image (GET qr.svg, the token in a header), or null when there is no QR. Show it
     * with URL.createObjectURL (and revoke the previous one): a URL with the token would land in
     * the browser's history and in proxies' logs.
     */
    async qrImage() {
        const path = this._path('/qr.svg');
        const response = await this.client._fetchResponse('GET', path);
        if (response.status === 404)
            return null;
        if (!response.ok)
            throw await this.client._failure(response, 'GET', path);
        return response.blob();
    }
    /**
     * Send a message (text, a reply with quotedId, media); resolves to the sent Message (pending,
     * or the stream's newer copy if that came first), which is in the cache at once; its acks
     * follow on the stream.
     */
    async send({ chatId, text, quotedId, media }) {
        const c = this.client;
        const body = { chatId };
        if (text)
            body.text = text;
        if (quotedId)
            body.quotedId = quotedId;
        if (media)
            body.media = media;
        const { message } = await c._request('POST', this._path('/send'), body);
        // The stream can bring the sent message (with its media url and acks) before this answer
        // arrives: the pending copy must not replace it (the cache's rule).
        const sent = c._cache.applySent(message, this.id);
        c._listsChanged(sent.changes);
        return sent.message;
    }
    /** React to a message ('' removes our reaction). The change arrives as `message_update`. */
    async react(chatId, messageId, emoji) {
        const { message } = await this.client._request('POST', this._path('/send'), { chatId, reaction: { messageId, emoji } });
        return message;
    }
    /**
     * Mark a chat read: read receipts for its unread messages go to WhatsApp, and its unreadCount
     * drops to 0 for everyone when they have gone (a chat_update on the stream).
     */
    markRead(chatId) {
        return this.client._request('POST', this._path(`/chats/${enc(chatId)}/read`));
    }
    /**
     * Search the text of this session's stored messages (GET /search), best match first, in the
     * chats the caller may see; `nextOffset` is the next page's offset, or null after the last.
     */
    search(q, { chatId, limit, offset } = {}) {
        const query = new URLSearchParams({ q });
        if (chatId)
            query.set('chatId', chatId);
        if (limit !== undefined)
            query.set('limit', String(limit));
        if (offset)
            query.set('offset', String(offset));
        return this.client._get(this._path(`/search?${query}`));
    }
    /**
     * One message of a chat from RAM or the store, loaded or not (a quoted message, a search
     * hit); rejects with a WaError 404 `unknown_message` when the server has none.
     */
    message(chatId, messageId) {
        return this.client._get(this._path(`/chats/${enc(chatId)}/messages/${enc(messageId)}`));
    }
    /** This session's helpdesk settings (GET /settings): business hours, messages, assignment. */
    settings() {
        return this.client._get(this._path('/settings'));
    }
    /**
     * Replace this session's helpdesk settings with the whole document (admins); resolves to the
     * document stored. A refused field rejects with a WaError `bad_<field>`.
     */
    saveSettings(doc) {
        return this.client._request('PUT', this._path('/settings'), doc);
    }
    /**
     * Tell the contact we are typing (`composing`, `recording`) or stopped (`paused`); or show the
     * whole account online or not (`available`, `unavailable`). The server subscribes to the
     * chat's presence first when needed.
     */
    sendPresence(chatId, state) {
        return this.client._request('POST', this._path(`/chats/${enc(chatId)}/presence`), { state });
    }
    /**
     * Everyone who may work on this session, with `online` (holds a stream now) and `activity`
     * (`[{chatId, state}]`: viewing or typing, in the chats we may see): the snapshot that the
     * `agent_presence` envelopes then keep current.
     */
    async agents() {
        const { agents } = await this.client._get(this._path('/agents'));
        return agents;
    }
    /**
     * Show the other agents what we do in a chat: `viewing` (lapses after ~60 s) or `typing`
     * (~6 s) unless sent again; `idle` ends both.
     */
    setAgentPresence(chatId, state) {
        return this.client._request('POST', this._path(`/chats/${enc(chatId)}/agent-presence`), { state });
    }
    /** Ask WhatsApp for a pairing code for a phone number (POST admin/pairing-code). */
    pairingCode(phone) {
        return this.client._request('POST', this._path('/admin/pairing-code'), { phone });
    }
    // ---- helpdesk (issue #16): tags, assignment, status, notes, inbox counts ---------------
    /** The tags a chat can carry (GET /tags). */
    async tags() {
        const { tags } = await this.client._request('GET', this._path('/tags'));
        return tags;
    }
    /**
     * Assign (take, transfer) a chat: PUT /chats/{chatId}/assignment. Every screen, this one
     * too, hears of it from the stream's `assignment_changed`.
     */
    assign(chatId, agentId) {
        return this.client._request('PUT', this._path(`/chats/${enc(chatId)}/assignment`), { agentId });
    }
    /** Release a chat: DELETE /chats/{chatId}/assignment. */
    unassign(chatId) {
        return this.client._request('DELETE', this._path(`/chats/${enc(chatId)}/assignment`));
    }
    /** A conversation's status (PUT /chats/{chatId}/status); the stream's `chat_update` brings it. */
    setStatus(chatId, status) {
        return this.client._request('PUT', this._path(`/chats/${enc(chatId)}/status`), { status });
    }
    /** A chat's private notes, oldest first (GET /chats/{chatId}/notes). */
    async notes(chatId) {
        const { notes } = await this.client._request('GET', this._path(`/chats/${enc(chatId)}/notes`));
        return notes;
    }
    /**
     * Add a private note (POST /chats/{chatId}/notes): the team sees it (`note_added`), the
     * customer never does (nothing goes to WhatsApp).
     */
    addNote(chatId, body) {
        return this.client._request('POST', this._path(`/chats/${enc(chatId)}/notes`), { body });
    }
    /** The inbox views' counts (GET /inbox/counts), within a status when given. */
    inboxCounts(status) {
        return this.client._request('GET', this._path(`/inbox/counts${status ? `?status=${enc(status)}` : ''}`));
    }
    /**
     * Fetch a chat that became visible to this user (assigned to them, released by another
     * agent: its earlier events were not theirs to see) and add it to the cache.
     */
    async adoptChat(chatId) {
        const c = this.client;
        const chat = await c._get(this._path(`/chats/${enc(chatId)}`));
        c._listsChanged(c._cache.adoptChat(chat, this.id));
        return chat;
    }
    /** Drop a chat this user may no longer see (another agent took it) from the cache. */
    forgetChat(chatId) {
        const c = this.client;
        c._listsChanged(c._cache.forgetChat(chatId, this.id));
    }
    /** Status, every chat, and the newest page of each loaded chat: this session's snapshot. @internal */
    async _snapshot() {
        const c = this.client;
        const [status, chats] = await Promise.all([c._get(this._path('/status')), this._allChats()]);
        const loaded = c._cache.loadedChatIds(chats, this.id);
        const pages = await Promise.all(loaded.map((id) => c._get(this._path(`/chats/${enc(id)}/messages?limit=${PAGE_SIZE}`)).catch(() => null)));
        let qr = null;
        if (status.state === 'qr')
            ({ qr } = await c._get(this._path('/qr')).catch(() => ({ qr: null })));
        const byChat = new Map();
        loaded.forEach((id, i) => {
            const page = pages[i];
            if (page)
                byChat.set(id, page.messages);
        });
        return { status, chats, qr, pages: byChat };
    }
    /** @internal */
    async _allChats() {
        const all = [];
        let before = '';
        for (let i = 0; i < MAX_CHAT_PAGES; i++) {
            const { chats } = await this.client._get(this._path(`/chats?limit=${CHAT_PAGE}${before}`));
            all.push(...chats);
            if (chats.length < CHAT_PAGE)
                break;
            before = `&before=${enc(chats[chats.length - 1].id)}`;
        }
        return all;
    }
}
/** A File (or Blob with a name) as the `media` of send(): base64 and the kind from its type. */
export async function mediaFromFile(file) {
    const bytes = new Uint8Array(await file.arrayBuffer());
    let binary = '';
    for (let i = 0; i < bytes.length; i += 0x8000)
        binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
    const mimetype = file.type || 'application/octet-stream';
    const kind = /^image\/(jpeg|png)$/.test(mimetype) ? 'image' : mimetype.startsWith('video/') ? 'video' : mimetype.startsWith('audio/') ? 'audio' : 'document';
    return { type: kind, base64: btoa(binary), mimetype, fileName: file.name || 'file' };
}
function enc(s) {
    return encodeURIComponent(s);
}
function errorText(err) {
    return err instanceof Error ? err.message : String(err);
}
/** A WebSocket close's reason: the server's JSON `{"code","message"}`, or the text as it is. */
function closeMessage(e) {
    try {
        const reason = JSON.parse(e.reason);
        if (reason && typeof reason.message === 'string')
            return reason.code ? `${reason.code}: ${reason.message}` : reason.message;
    }
    catch {
        // not JSON
    }
    return e.reason || `closed with ${e.code}`;
}

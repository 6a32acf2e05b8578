// Built from clients/js/src/wa-cache.ts (@wa-helpdesk/client): edit that, then
// `cd clients/js && npm run build && npm run sync-console`. Never edit this copy.
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
 * - Sessions (WhatsApp numbers) are apart: a chat is keyed by session and chat id (the same
 *   contact on two numbers is two chats), an envelope applies to its `session`, and the
 *   position is the last id applied of each session. Without sessions (every call naming
 *   none, envelopes without `session`) all of this is the `default` session's, as before.
 */
/** Envelope types this cache handles (an EventSource listens for them by name). */
export const ENVELOPE_TYPES = Object.freeze([
    'connection_status', 'qr', 'new_message', 'message_update', 'message_ack', 'new_chat',
    'chat_update', 'chat_deleted', 'contact_update', 'presence', 'sync_progress', 'resync',
    'assignment_changed', 'tags_changed', 'note_added', 'label_update', 'call',
    'session_deleted', 'agent_presence',
]);
/** The session of an envelope, a snapshot or a call that names none (every unscoped route's). */
export const DEFAULT_SESSION = 'default';
/** Messages per page: a page this long may have older messages before it. */
export const PAGE_SIZE = 50;
/** Envelope ids remembered for deduplication. */
export const SEEN_IDS = 20000;
/** A record of nothing changed yet (in `session`). */
export function noChanges(session = DEFAULT_SESSION) {
    return { applied: false, held: false, session, chats: false, messages: new Set(), status: false, qr: false, sync: false, presence: [], reload: null, refetch: false, deleted: null };
}
/** One session's (one WhatsApp number's) data: its chats are not another session's. */
class SessionData {
    chats = new Map();
    sorted = null;
    messages = new Map();
    presence = new Map();
    status = null;
    qr = null;
    /** Bumped whenever a QR arrives or the snapshot's differs. */
    qrVersion = 0;
    sync = null;
}
/** The epoch of an event id (`<epoch>:<seq>:<k>`): one bridge run, so one session. */
function epochOf(id) {
    return id.split(':')[0];
}
/** An envelope's data; a malformed envelope without any is applied as an empty one (never a throw). */
function dataOf(envelope) {
    return envelope.data ?? {};
}
export class WaCache {
    pageSize;
    /** @internal */
    seenIds;
    /** @internal */
    _sessions = new Map();
    /** every session's chats, most recent first @internal */
    _allSorted = null;
    /** The last id applied of each session: the composite position. @internal */
    _positions = new Map();
    /**
     * The position the server gave before the snapshots, by session ('' when the server did
     * not say whose), each until an id of its session is applied. @internal
     */
    _base = new Map();
    /** Each epoch (a bridge run: one session's) seen in an envelope id, and its session. @internal */
    _epochs = new Map();
    /** @internal */
    _seen = new Set();
    /** envelopes held while snapshots reload @internal */
    _held = null;
    constructor(options = {}) {
        this.pageSize = options.pageSize ?? PAGE_SIZE;
        this.seenIds = options.seenIds ?? SEEN_IDS;
    }
    /** @internal */
    _data(session) {
        let data = this._sessions.get(session);
        if (!data)
            this._sessions.set(session, (data = new SessionData()));
        return data;
    }
    // ---- the position -----------------------------------------------------------------------
    /**
     * The position to resume from: the last id applied of each session, comma-separated ("a,b":
     * each session resumes after its own id, exact even after an orchestrator restart, whose
     * rebuilt log interleaves sessions differently), with the server's ids of the sessions that
     * have applied nothing since. One session: one id, as before sessions existed.
     * Setting it (the server's, or one given by hand) forgets what each session applied.
     */
    get lastEventId() {
        const ids = [...this._positions.values()];
        for (const [session, id] of this._base) {
            // Whose it is unknown: it stands only until anything is applied (as before sessions).
            if (session === '' ? ids.length === 0 : !this._positions.has(session))
                ids.push(id);
        }
        // Ids are unique across sessions; one twice is a server that answered every session's
        // position with its one head (a server from before sessions): name it once.
        return ids.length > 0 ? [...new Set(ids)].join(',') : null;
    }
    set lastEventId(id) {
        this._positions.clear();
        this._base = id ? new Map([['', id]]) : new Map();
    }
    /**
     * Start from each session's position as the server gave it (one `/events/poll?session=`
     * each, so each id is known to be its session's): a session that applies nothing before a
     * restart still resumes from its own id, not from another session's.
     * @param positions session, id
     */
    startAt(positions) {
        this.lastEventId = null;
        for (const [session, id] of positions)
            if (id)
                this._base.set(session, id);
    }
    /**
     * Move past ids a poll answered without events (entries filtered out for this client): each
     * id of a session known by its epoch is that session's position now. An answer the client
     * cannot place, while it has no session's own, is the position (as before sessions).
     */
    advance(position) {
        for (const id of position.split(',')) {
            const session = this._epochs.get(epochOf(id));
            if (session === undefined)
                continue;
            if (this._positions.has(session))
                this._positions.set(session, id);
            else
                this._base.set(session, id);
        }
        if (this._positions.size === 0 && [...this._base.keys()].every((session) => session === ''))
            this.lastEventId = position;
    }
    /** An id of `session` was applied: it is that session's position. @internal */
    _passed(session, id) {
        this._epochs.set(epochOf(id), session);
        this._positions.set(session, id);
    }
    // ---- reading ----------------------------------------------------------------------------
    /** The sessions this cache holds data of. */
    sessionIds() {
        return [...this._sessions.keys()];
    }
    /** A session's chats, most recent activity first (then by id). */
    chats(session = DEFAULT_SESSION) {
        const data = this._sessions.get(session);
        if (!data)
            return [];
        if (!data.sorted)
            data.sorted = [...data.chats.values()].sort(byRecency);
        return data.sorted.slice();
    }
    /**
     * Every session's chats, each with its `session`, most recent activity first: the "all
     * numbers" view. The same contact on two numbers is two chats.
     */
    allChats() {
        if (!this._allSorted) {
            const all = [];
            for (const [session, data] of this._sessions)
                for (const chat of data.chats.values())
                    all.push({ ...chat, session });
            this._allSorted = all.sort((a, b) => byRecency(a, b) || (a.session < b.session ? -1 : a.session > b.session ? 1 : 0));
        }
        return this._allSorted.slice();
    }
    /** The sum of a session's chats' unread counts. */
    unread(session = DEFAULT_SESSION) {
        let n = 0;
        for (const chat of this._sessions.get(session)?.chats.values() ?? [])
            n += chat.unreadCount ?? 0;
        return n;
    }
    chat(chatId, session = DEFAULT_SESSION) {
        return this._sessions.get(session)?.chats.get(chatId);
    }
    status(session = DEFAULT_SESSION) {
        return this._sessions.get(session)?.status ?? null;
    }
    qr(session = DEFAULT_SESSION) {
        return this._sessions.get(session)?.qr ?? null;
    }
    /** The default session's QR version (see qrVersionOf). */
    get qrVersion() {
        return this.qrVersionOf(DEFAULT_SESSION);
    }
    /** Bumped whenever a session's QR arrives or its snapshot's differs. */
    qrVersionOf(session) {
        return this._sessions.get(session)?.qrVersion ?? 0;
    }
    syncProgress(session = DEFAULT_SESSION) {
        return this._sessions.get(session)?.sync ?? null;
    }
    presence(chatId, session = DEFAULT_SESSION) {
        return this._sessions.get(session)?.presence.get(chatId) ?? null;
    }
    /** A loaded chat's message list (the live object: read it, never change it), or undefined. */
    messageList(chatId, session = DEFAULT_SESSION) {
        return this._sessions.get(session)?.messages.get(chatId);
    }
    /** A copy of a chat's messages, oldest first (empty unless loaded). */
    messages(chatId, session = DEFAULT_SESSION) {
        return this.messageList(chatId, session)?.list.slice() ?? [];
    }
    /** Whether older messages may exist before the cached ones. */
    hasOlder(chatId, session = DEFAULT_SESSION) {
        return this.messageList(chatId, session)?.hasOlder ?? true;
    }
    /** The ids of a session's loaded chats that are among `chats` (whose pages a snapshot refetches). */
    loadedChatIds(chats, session = DEFAULT_SESSION) {
        return [...(this._sessions.get(session)?.messages.keys() ?? [])].filter((id) => chats.some((c) => c.id === id));
    }
    /** Whether envelopes are being held (a reload is under way). */
    get holding() {
        return this._held !== null;
    }
    // ---- envelopes --------------------------------------------------------------------------
    /**
     * Apply one stream envelope (held instead while holding; a duplicate id changes nothing).
     * `applied` says whether UI code should hear of it. An envelope belongs to its `session`
     * (`default` when it names none: a server from before sessions).
     */
    receive(envelope) {
        const session = (envelope && envelope.session) || DEFAULT_SESSION;
        const changes = noChanges(session);
        if (!envelope || typeof envelope.type !== 'string')
            return changes;
        if (this._held) {
            this._held.push(envelope);
            changes.held = true;
            return changes;
        }
        if (envelope.type === 'resync') {
            // Not an event but an instruction, and it carries the id of the log's newest entry (of
            // its session: a client reading several gets one each), which may be one we have
            // applied already: never deduplicated.
            if (envelope.id)
                this._passed(session, envelope.id);
        }
        else if (envelope.id) {
            if (this._seen.has(envelope.id))
                return changes;
            this._seen.add(envelope.id);
            if (this._seen.size > this.seenIds) {
                // Sets iterate in insertion order: drop the oldest half.
                let drop = this.seenIds / 2;
                for (const id of this._seen) {
                    if (drop-- <= 0)
                        break;
                    this._seen.delete(id);
                }
            }
            // A deleted session's last word has an id of no bridge run: it names no position.
            if (envelope.type !== 'session_deleted')
                this._passed(session, envelope.id);
        }
        changes.applied = true;
        this._apply(envelope, this._data(session), changes);
        return changes;
    }
    /** Start holding envelopes (a reload begins); false when already holding. */
    hold() {
        if (this._held)
            return false;
        this._held = [];
        return true;
    }
    /** Stop holding: the held envelopes, in order, for the caller to receive() again. */
    release() {
        const held = this._held ?? [];
        this._held = null;
        return held;
    }
    /** Forget a session (deleted on the server): its chats, messages and position. */
    dropSession(session) {
        const changes = noChanges(session);
        const data = this._sessions.get(session);
        this._sessions.delete(session);
        this._positions.delete(session);
        this._base.delete(session);
        if (data) {
            for (const chatId of data.messages.keys())
                changes.messages.add(chatId);
            this._allSorted = null;
            changes.chats = true;
        }
        return changes;
    }
    /** @internal */
    _apply(envelope, s, changes) {
        switch (envelope.type) {
            case 'resync':
                changes.reload = 'resync';
                break;
            case 'connection_status': {
                const data = dataOf(envelope);
                s.status = { ...(s.status ?? {}), ...data };
                if (data.state && data.state !== 'qr')
                    s.qr = null;
                changes.status = true;
                break;
            }
            case 'qr':
                s.qr = dataOf(envelope).qr ?? null;
                s.qrVersion++;
                changes.qr = true;
                break;
            case 'new_message': {
                const data = dataOf(envelope);
                this._upsertMessage(s, data, changes);
                this._stoppedTyping(s, data, changes);
                break;
            }
            case 'message_update':
                this._upsertMessage(s, dataOf(envelope), changes);
                break;
            case 'message_ack':
                this._ack(s, dataOf(envelope), changes);
                break;
            case 'new_chat':
            case 'chat_update': {
                const data = dataOf(envelope);
                s.chats.set(data.id, { ...s.chats.get(data.id), ...data });
                this._chatsChanged(s, changes);
                break;
            }
            case 'chat_deleted': {
                // A merged chat (`mergedInto`) is gone too: its messages arrive under the other chat.
                const data = dataOf(envelope);
                s.chats.delete(data.id);
                s.messages.delete(data.id);
                this._chatsChanged(s, changes);
                break;
            }
            case 'contact_update': {
                const data = dataOf(envelope);
                const chat = s.chats.get(data.id);
                if (chat && !chat.name && (data.name || data.notify)) {
                    s.chats.set(chat.id, { ...chat, name: data.name || data.notify });
                    this._chatsChanged(s, changes);
                }
                break;
            }
            case 'presence': {
                const data = dataOf(envelope);
                const presences = (data.presences ?? {});
                s.presence.set(data.chatId, presences);
                changes.presence.push({ chatId: data.chatId, presences });
                break;
            }
            case 'sync_progress': {
                const data = dataOf(envelope);
                s.sync = { progress: data.progress ?? null, syncType: data.syncType ?? null, isLatest: data.isLatest ?? null };
                changes.sync = true;
                // History-synced messages are not streamed one by one: the snapshots must be refetched.
                changes.refetch = true;
                break;
            }
            case 'assignment_changed':
            case 'tags_changed': {
                const data = dataOf(envelope);
                const chat = s.chats.get(data.chatId);
                if (chat) {
                    const patch = envelope.type === 'tags_changed' ? { tags: dataOf(envelope).tags } : { assignment: dataOf(envelope).assignment };
                    s.chats.set(chat.id, { ...chat, ...patch });
                    this._chatsChanged(s, changes);
                }
                break;
            }
            case 'session_deleted': {
                // The last word of a deleted session: everything of it goes.
                const data = dataOf(envelope);
                const gone = typeof data.sessionId === 'string' ? data.sessionId : changes.session;
                const dropped = this.dropSession(gone);
                changes.session = gone;
                changes.chats = dropped.chats;
                changes.messages = dropped.messages;
                changes.deleted = gone;
                break;
            }
            default:
                break;
        }
    }
    /** @internal */
    _chatsChanged(s, changes) {
        s.sorted = null;
        this._allSorted = null;
        changes.chats = true;
    }
    /** @internal */
    _messagesChanged(s, chatId, changes) {
        if (s.messages.has(chatId))
            changes.messages.add(chatId);
    }
    /** @internal */
    _upsertMessage(s, m, changes) {
        if (!m || !m.id || !m.chatId)
            return;
        const entry = s.messages.get(m.chatId);
        let merged = m;
        if (entry) {
            const old = entry.byId.get(m.id);
            // Acks only go forward (a late pending copy must not undo a delivery).
            if (old && old.ack > m.ack && m.ack !== 0)
                merged = { ...m, ack: old.ack, status: old.status };
            entry.byId.set(m.id, merged);
            entry.list = old && old.timestamp === merged.timestamp
                ? entry.list.map((x) => (x.id === m.id ? merged : x))
                : insertSorted(old ? entry.list.filter((x) => x.id !== m.id) : entry.list, merged);
            this._messagesChanged(s, m.chatId, changes);
        }
        const chat = s.chats.get(m.chatId);
        if (chat && (chat.lastMessage?.id === m.id || (m.timestamp ?? 0) >= (chat.lastMessage?.timestamp ?? 0))) {
            if (m.type !== 'reaction') {
                s.chats.set(chat.id, { ...chat, lastMessage: merged, timestamp: Math.max(chat.timestamp ?? 0, m.timestamp ?? 0) });
                this._chatsChanged(s, changes);
            }
        }
    }
    /** A message from someone ends their "typing…", as WhatsApp's own apps show it. @internal */
    _stoppedTyping(s, m, changes) {
        const presences = s.presence.get(m.chatId);
        const who = m.sender ?? m.chatId;
        const state = presences?.[who]?.lastKnownPresence;
        if (m.fromMe || !presences || (state !== 'composing' && state !== 'recording'))
            return;
        const next = { ...presences, [who]: { ...presences[who], lastKnownPresence: 'available' } };
        s.presence.set(m.chatId, next);
        changes.presence.push({ chatId: m.chatId, presences: next });
    }
    /** @internal */
    _ack(s, a, changes) {
        const forward = (m) => (a.ack === 0 ? m.ack <= 1 : a.ack > m.ack);
        const entry = s.messages.get(a.chatId);
        const m = entry?.byId.get(a.messageId);
        if (entry && m && forward(m)) {
            const updated = { ...m, ack: a.ack, status: a.status };
            entry.byId.set(m.id, updated);
            entry.list = entry.list.map((x) => (x.id === m.id ? updated : x));
            this._messagesChanged(s, a.chatId, changes);
        }
        const chat = s.chats.get(a.chatId);
        if (chat?.lastMessage?.id === a.messageId && forward(chat.lastMessage)) {
            s.chats.set(chat.id, { ...chat, lastMessage: { ...chat.lastMessage, ack: a.ack, status: a.status } });
            this._chatsChanged(s, changes);
        }
    }
    // ---- REST answers -----------------------------------------------------------------------
    /**
     * Replace a session's data with its REST snapshots: the status, every chat, the QR (when the
     * status says `qr`), and the newest page of the chats in `pages` (from loadedChatIds(); a
     * chat whose page failed is left out, and unloaded). The lists loaded before are reported
     * changed, whether or not they still are.
     */
    applySnapshot({ status, chats, qr = null, pages = new Map() }, session = DEFAULT_SESSION) {
        const changes = noChanges(session);
        const s = this._data(session);
        s.status = status;
        if (status?.state === 'qr') {
            if (qr !== s.qr)
                s.qrVersion++;
            s.qr = qr;
        }
        else {
            s.qr = null;
        }
        s.chats = new Map(chats.map((c) => [c.id, c]));
        const previous = s.messages;
        s.messages = new Map();
        for (const [chatId, page] of pages)
            this._setPage(s, chatId, page, changes);
        for (const id of previous.keys())
            changes.messages.add(id);
        this._chatsChanged(s, changes);
        changes.status = true;
        changes.qr = true;
        // A client that starts mid-sync learns the progress from /status; envelopes carry it on.
        if (status?.sync) {
            s.sync = { progress: status.sync.progress ?? null, syncType: status.sync.syncType ?? null, isLatest: status.sync.isLatest ?? null };
            changes.sync = true;
        }
        return changes;
    }
    /** @internal */
    _setPage(s, chatId, page, changes) {
        const byId = new Map(page.map((m) => [m.id, m]));
        s.messages.set(chatId, { chatId, list: sortMessages([...byId.values()]), byId, hasOlder: page.length >= this.pageSize });
        this._messagesChanged(s, chatId, changes);
    }
    /**
     * A chat's messages start loading: an empty list that envelopes already fill while its newest
     * page is in flight. Returns it, for applyLatest() (a snapshot may replace it meanwhile: the
     * page then lands in this list, no longer the cache's).
     */
    startLatest(chatId, session = DEFAULT_SESSION) {
        const entry = { chatId, list: [], byId: new Map(), hasOlder: true };
        this._data(session).messages.set(chatId, entry);
        return entry;
    }
    /**
     * The newest page arrived for a list from startLatest(). Envelopes applied while it was in
     * flight are kept: merge, never drop. The page is in the server's order, so a message it has
     * keeps its place there (with the stream's copy, which may be newer); one it lacks reached
     * the server after it was answered, so it goes after the page's messages of its second.
     */
    applyLatest(entry, page, session = DEFAULT_SESSION) {
        const changes = noChanges(session);
        for (const m of page)
            if (!entry.byId.has(m.id))
                entry.byId.set(m.id, m);
        const paged = new Set(page.map((m) => m.id));
        let list = page.map((m) => entry.byId.get(m.id));
        for (const m of entry.list)
            if (!paged.has(m.id))
                list = insertSorted(list, m);
        entry.list = list;
        entry.hasOlder = page.length >= this.pageSize;
        this._messagesChanged(this._data(session), entry.chatId, changes);
        return changes;
    }
    /** The newest page could not be fetched: the chat is unloaded again. */
    dropLatest(chatId, session = DEFAULT_SESSION) {
        this._sessions.get(session)?.messages.delete(chatId);
    }
    /** A page older than the list's oldest message arrived: the messages it adds, and the changes. */
    applyOlder(entry, page, session = DEFAULT_SESSION) {
        const changes = noChanges(session);
        const added = page.filter((m) => !entry.byId.has(m.id));
        for (const m of added)
            entry.byId.set(m.id, m);
        entry.list = sortMessages([...added, ...entry.list]);
        entry.hasOlder = page.length >= this.pageSize;
        this._messagesChanged(this._data(session), entry.chatId, changes);
        return { added, changes };
    }
    /**
     * The answer to a send: the pending copy of our message. The stream can bring the message
     * (with its media url and acks) before this answer arrives: the pending copy then must not
     * replace it, and the stream's copy is the message. Returns the message the send resolves to.
     */
    applySent(message, session = DEFAULT_SESSION) {
        const changes = noChanges(session);
        const s = this._data(session);
        const cached = s.messages.get(message.chatId)?.byId.get(message.id);
        if (cached)
            return { message: cached, changes };
        if (s.chats.get(message.chatId)?.lastMessage?.id !== message.id)
            this._upsertMessage(s, message, changes);
        return { message, changes };
    }
    /**
     * A chat that became visible to this user (assigned to them, or released by another agent):
     * fetched by REST, it joins the list. A copy the stream brought meanwhile is newer and stays.
     */
    adoptChat(chat, session = DEFAULT_SESSION) {
        const changes = noChanges(session);
        const s = this._data(session);
        if (!chat?.id || s.chats.has(chat.id))
            return changes;
        s.chats.set(chat.id, chat);
        this._chatsChanged(s, changes);
        return changes;
    }
    /**
     * A chat this user may no longer see (another agent took it): it leaves the list, with its
     * messages. The server sends nothing more of it; if it comes back, adoptChat() brings it.
     */
    forgetChat(chatId, session = DEFAULT_SESSION) {
        const changes = noChanges(session);
        const s = this._data(session);
        if (s.messages.delete(chatId))
            changes.messages.add(chatId);
        if (s.chats.delete(chatId))
            this._chatsChanged(s, changes);
        return changes;
    }
}
/** Most recent activity first, then by id. */
function byRecency(a, b) {
    return (b.timestamp ?? 0) - (a.timestamp ?? 0) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);
}
/**
 * The server's order: oldest first. Within one second (WhatsApp's resolution) the server
 * orders by arrival, which a client cannot see: messages of the same second keep the order
 * they came in (from a REST page, or appended from the stream), as sorts here are stable.
 */
export function compareMessages(a, b) {
    return (a.timestamp ?? 0) - (b.timestamp ?? 0);
}
export function sortMessages(list) {
    return [...list].sort(compareMessages);
}
/** After the last message not newer than `m`: the same second's keep their order. `list` is sorted. */
export function insertSorted(list, m) {
    let i = list.length;
    while (i > 0 && compareMessages(list[i - 1], m) > 0)
        i--;
    return [...list.slice(0, i), m, ...list.slice(i)];
}

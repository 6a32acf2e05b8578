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
import type { SessionChat } from './wa-cache.js';
import type { Agent, AgentPresence, AgentPresenceSet, AssignmentChanged, Chat, ChatAssignment, ChatDeleted, Envelope, HelpdeskSettings, InboxCounts, MediaBody, Me, Message, MessageAck, Note, NoteAdded, Presence, PresenceSent, QuickReply, QuickReplyBody, Resync, SearchResults, SendBody, Session, SessionBody, SessionDeleted, Status, SyncProgress, Tag } from './wa-api.js';
export type * from './wa-api.js';
export type { SessionChat };
export type Ack = 0 | 1 | 2 | 3 | 4 | 5;
export interface ClientState {
    /** idle -> connecting -> live; reconnecting while the stream (or poll) is down. */
    link: 'idle' | 'connecting' | 'live' | 'reconnecting' | 'unauthorized' | 'closed';
    /** What carries the envelopes now; 'poll' after repeated blocked streams. */
    transport: 'sse' | 'websocket' | 'poll' | null;
    attempt: number;
    /** Stream attempts that failed while the server was reachable (3 -> long-polling). */
    blockedStreams: number;
    /** When the next reconnection attempt is due (ms since epoch), or null. */
    nextRetryAt: number | null;
    lastEventId: string | null;
    error: string | null;
}
export interface WaClientOptions {
    /** The orchestrator's origin, '' for the page's own. */
    baseUrl?: string;
    /** The API token, or a user's (Supabase) access token; required unless getToken is given. */
    token?: string;
    /**
     * A token provider: called before connecting when no token is set, and after a 401 / close
     * 4401 (an expired short-lived token); the client then retries with the new token instead of
     * stopping at link 'unauthorized'. Rejecting -> link 'unauthorized'. A token it gave that is
     * refused before anything accepted it stops the client too (it is not asked again in a loop).
     */
    getToken?: () => Promise<string>;
    /** WebSocket base URL (e.g. NEXT_PUBLIC_BACKEND_WS_URL), default: baseUrl with http->ws. */
    wsUrl?: string;
    /**
     * REST calls through the app's own server routes (Next.js proxy routes adding the server-side
     * token): given the backend path with its query ('/chats?limit=50', '/send',
     * '/chats/123%40s.us/messages?limit=50') and the method, return the URL to call instead, or
     * undefined to call the backend. Proxied calls carry no Authorization header (a 401 from one
     * stops the client: the token refused is the app's, which getToken cannot replace).
     */
    proxy?: (path: string, method: string) => string | undefined;
    /** 'sse' (default) or 'websocket'. */
    transport?: 'sse' | 'websocket';
    fetch?: typeof fetch;
    EventSource?: typeof EventSource;
    WebSocket?: typeof WebSocket;
    /** Blocked stream attempts before falling back to long-polling (3). */
    streamFailuresBeforePoll?: number;
    /** While polling, how often to try streaming again (30000 ms). */
    streamRetryMs?: number;
    backoffInitialMs?: number;
    backoffMaxMs?: number;
    /** Long-poll timeout in seconds (25). */
    pollTimeout?: number;
    /**
     * The session (WhatsApp number) of the client's own calls: `/sessions/{id}/...`, and the
     * stream of that session only. Without it: the unscoped routes (the `default` session).
     */
    session?: string;
    /** The sessions to stream and cache (`?session=a,b`); their calls: `client.session(id)`. */
    sessions?: string[];
}
/** GET /sessions's items: the generated Session. */
export type SessionInfo = Session;
/** POST /sessions's body (admins): the generated SessionBody. */
export type CreateSession = SessionBody;
export type SendMedia = MediaBody;
/** POST /send's body without the reaction (see react()). */
export type SendOptions = Omit<SendBody, 'reaction'>;
/** A conversation's status (issue #16): open by default, pending, resolved. */
export type ConversationStatus = Chat['status'];
/** A chat with its conversation status (every Chat has one now; kept for the console's JSDoc). */
export type HelpdeskChat = Chat;
/** What a chat's presence holds: participant jid -> what WhatsApp last said of them. */
export type ChatPresences = Record<string, {
    lastKnownPresence?: string;
}>;
/** GET /search's options: one chat only, the page size, the offset of a page (its nextOffset). */
export interface SearchOptions {
    chatId?: string;
    limit?: number;
    offset?: number;
}
export type { SearchResults };
/** The events UI code can listen for (on()), and what their listeners get. */
export interface ClientEvents {
    chats: Chat[];
    messages: {
        chatId: string;
        session: string;
    };
    status: Status | null;
    qr: string | null;
    sync: SyncProgress;
    presence: Presence & {
        session: string;
    };
    client: ClientState;
    snapshot: {
        chats: number;
    };
    error: {
        message: string;
    };
    new_message: Message;
    message_update: Message;
    message_ack: MessageAck;
    new_chat: Chat;
    chat_update: Chat;
    chat_deleted: ChatDeleted;
    resync: Resync;
    session_deleted: SessionDeleted;
    assignment_changed: AssignmentChanged;
    note_added: NoteAdded;
    /** Ephemeral (id ""): who of the helpdesk is online, viewing or typing where. */
    agent_presence: AgentPresence;
    [type: string]: unknown;
}
/** Every event as subscribe() delivers it. */
export interface ClientEvent {
    type: string;
    data: unknown;
    envelope?: Envelope;
}
/** An API error: `status` (HTTP, 0 for a network failure), `code` and a human message. */
export declare class WaError extends Error {
    status: number;
    code: string;
    constructor(status: number, code: string, message: string);
}
export declare class WaClient {
    readonly baseUrl: string;
    /** Where WebSockets connect (no trailing slash), or null: baseUrl (or the page's origin) with http->ws. */
    readonly wsUrl: string | null;
    readonly transport: 'sse' | 'websocket';
    streamFailuresBeforePoll: number;
    streamRetryMs: number;
    backoffInitialMs: number;
    backoffMaxMs: number;
    pollTimeout: number;
    constructor(options: WaClientOptions);
    /** The token REST calls and streams carry (setToken() replaces it); null until getToken gave one. */
    get token(): string | null;
    /** The sessions streamed and cached: `sessions`, else `session` alone, else (null) the unscoped stream. */
    get following(): string[] | null;
    /** Listen for one event type; returns the unsubscribe function. */
    on<K extends keyof ClientEvents>(type: K, fn: (data: ClientEvents[K], envelope?: Envelope) => void): () => void;
    /** Listen for everything, as `{type, data, envelope?}`; returns the unsubscribe function. */
    subscribe(fn: (event: ClientEvent) => void): () => void;
    /** The position: the last id applied of each session, comma-separated (one id with one session). */
    get lastEventId(): string | null;
    set lastEventId(id: string | null);
    /**
     * One session's calls and cached data on this client's connection and cache, e.g.
     * `client.session('sales').send({chatId, text})` is `POST /sessions/sales/send`. The client's
     * own methods below are those of its `session` option (none: the unscoped routes, which are
     * the `default` session's).
     */
    session(id: string): WaSession;
    /** Every session's chats, each with its `session`, most recent first (the "all numbers" view). */
    allChats(): SessionChat[];
    /** The sum of a session's chats' unreadCount, as cached. */
    unread(session: string): number;
    /** Chats, most recent activity first. */
    chats(): Chat[];
    chat(chatId: string): Chat | undefined;
    /** Connection status (GET /status, then `connection_status` envelopes). */
    status(): Status | null;
    /** The QR string while WhatsApp waits to be linked, else null. */
    qr(): string | null;
    /** The last `sync_progress`, or null. */
    syncProgress(): SyncProgress | null;
    presence(chatId: string): ChatPresences | null;
    /** The client's own link state: transport, reconnection, fallback. */
    clientState(): ClientState;
    /** Messages of a chat as cached now, oldest first (empty until loaded). */
    cachedMessages(chatId: string): Message[];
    /** Whether older messages may exist before the cached ones. */
    hasOlder(chatId: string): boolean;
    /** A chat's messages, oldest first; the newest page is fetched on first use. */
    messages(chatId: string): Promise<Message[]>;
    /** Fetch the page before the oldest cached message; resolves to the messages added. */
    loadOlder(chatId: string): Promise<Message[]>;
    /**
     * The media URL of a message (for <img src> and links), or null. The server signs it (an
     * expiry and a signature in its query): it never carries the token.
     */
    mediaUrl(message: Message): string | null;
    /** The QR image (see WaSession.qrImage). */
    qrImage(): Promise<Blob | null>;
    /** Search message text (see WaSession.search). */
    search(q: string, options?: SearchOptions): Promise<SearchResults>;
    /** One message, from RAM or the store (see WaSession.message). */
    message(chatId: string, messageId: string): Promise<Message>;
    /** The helpdesk settings (see WaSession.settings). */
    settings(): Promise<HelpdeskSettings>;
    /** Replace the helpdesk settings (admins; see WaSession.saveSettings). */
    saveSettings(doc: HelpdeskSettings): Promise<HelpdeskSettings>;
    /** The quick replies (GET /quick-replies). */
    quickReplies(): Promise<QuickReply[]>;
    /**
     * Create a quick reply, or edit one when `id` is given (staff). Shortcuts are unique whatever
     * their case: a taken one is refused with `quick_reply_exists`.
     */
    saveQuickReply({ id, shortcut, body }: {
        id?: number | null;
    } & QuickReplyBody): Promise<QuickReply>;
    /** Delete a quick reply (staff). */
    deleteQuickReply(id: number): Promise<void>;
    /** Send a message (see WaSession.send). */
    send(options: SendOptions): Promise<Message>;
    /** React to a message (see WaSession.react). */
    react(chatId: string, messageId: string, emoji: string): Promise<Message>;
    /** Mark a chat read (see WaSession.markRead). */
    markRead(chatId: string): Promise<{
        chatId: string;
        receipts: number;
    }>;
    /** Our chat state or presence for the contact (see WaSession.sendPresence). */
    sendPresence(chatId: string, state: PresenceSent['state']): Promise<PresenceSent>;
    /** A pairing code for a phone number (see WaSession.pairingCode). */
    pairingCode(phone: string): Promise<{
        code: string;
    }>;
    /** GET /tags. */
    tags(): Promise<Tag[]>;
    /** PUT /chats/{chatId}/assignment: take or transfer. */
    assign(chatId: string, agentId: string): Promise<ChatAssignment>;
    /** DELETE /chats/{chatId}/assignment: release. */
    unassign(chatId: string): Promise<ChatAssignment>;
    /** PUT /chats/{chatId}/status. */
    setStatus(chatId: string, status: ConversationStatus): Promise<{
        chatId: string;
        status: ConversationStatus;
    }>;
    /** GET /chats/{chatId}/notes, oldest first. */
    notes(chatId: string): Promise<Note[]>;
    /** POST /chats/{chatId}/notes: private, never sent to WhatsApp. */
    addNote(chatId: string, body: string): Promise<Note>;
    /** GET /inbox/counts. */
    inboxCounts(status?: ConversationStatus): Promise<InboxCounts>;
    /** GET /chats/{chatId}, added to the cache (a chat that became visible). */
    adoptChat(chatId: string): Promise<Chat>;
    /** Drop a chat from the cache (no longer visible to this user). */
    forgetChat(chatId: string): void;
    /**
     * Use another token from now on (a refreshed Supabase access token): REST calls and the next
     * stream (re)connection carry it; the stream open now is not dropped.
     */
    setToken(token: string): void;
    /** Who the token names (GET /me). */
    me(): Promise<Me>;
    /** The agents with who is online and what they do (see WaSession.agents). */
    agents(): Promise<Agent[]>;
    /** What we do in a chat, for the other agents (see WaSession.setAgentPresence). */
    setAgentPresence(chatId: string, state: 'viewing' | 'typing' | 'idle'): Promise<AgentPresenceSet>;
    /** The sessions the caller may use (GET /sessions). */
    sessions(): Promise<SessionInfo[]>;
    /** Add a session (admins): `{id, name?, bridge?, proxy?}`. */
    createSession(body: CreateSession): Promise<SessionInfo>;
    /**
     * Delete a session (admins); its data is kept unless `purge`. Its stream clients get
     * `session_deleted`.
     */
    deleteSession(id: string, { purge }?: {
        purge?: boolean;
    }): Promise<void>;
    /**
     * Start: position, snapshots, then the stream. Resolves once the snapshots are loaded
     * (retrying while the server is unreachable); rejects with a WaError `unauthorized` for a
     * bad token, and when close() is called before it is done.
     */
    connect(): Promise<void>;
    /** Reconnect at once instead of waiting for the next backoff step (a "Retry now" button). */
    reconnectNow(): void;
    /** Stop streaming and polling; the cache stays readable. */
    close(): void;
}
/**
 * One session's (WhatsApp number's) calls and cached data, on its client's connection and cache
 * (`client.session(id)`). Its REST calls go to `/sessions/{id}/...`; the client's own, without
 * a `session` option, to the unscoped routes (the `default` session's).
 */
export declare class WaSession {
    readonly client: WaClient;
    /** The session's id (`default` for the unscoped routes). */
    readonly id: string;
    /** @param id null: the unscoped routes */
    constructor(client: WaClient, id: string | null);
    chats(): Chat[];
    chat(chatId: string): Chat | undefined;
    status(): Status | null;
    qr(): string | null;
    syncProgress(): SyncProgress | null;
    presence(chatId: string): ChatPresences | null;
    /** The sum of this session's chats' unreadCount, as cached. */
    unread(): number;
    cachedMessages(chatId: string): Message[];
    hasOlder(chatId: string): boolean;
    mediaUrl(message: Message): string | null;
    /** A chat's messages, oldest first; the newest page is fetched on first use. */
    messages(chatId: string): Promise<Message[]>;
    /** Fetch the page before the oldest cached message; resolves to the messages added. */
    loadOlder(chatId: string): Promise<Message[]>;
    /**
     * The QR image (GET qr.svg, the token in a header), or null when there is no QR. Show it
     * with URL.createObjectURL (and revoke the previous one): a URL with the token would land in
     * the browser's history and in proxies' logs.
     */
    qrImage(): Promise<Blob | null>;
    /**
     * Send a message (text, a reply with quotedId, media); resolves to the sent Message (pending,
     * or the stream's newer copy if that came first), which is in the cache at once; its acks
     * follow on the stream.
     */
    send({ chatId, text, quotedId, media }: SendOptions): Promise<Message>;
    /** React to a message ('' removes our reaction). The change arrives as `message_update`. */
    react(chatId: string, messageId: string, emoji: string): Promise<Message>;
    /**
     * Mark a chat read: read receipts for its unread messages go to WhatsApp, and its unreadCount
     * drops to 0 for everyone when they have gone (a chat_update on the stream).
     */
    markRead(chatId: string): Promise<{
        chatId: string;
        receipts: number;
    }>;
    /**
     * Search the text of this session's stored messages (GET /search), best match first, in the
     * chats the caller may see; `nextOffset` is the next page's offset, or null after the last.
     */
    search(q: string, { chatId, limit, offset }?: SearchOptions): Promise<SearchResults>;
    /**
     * One message of a chat from RAM or the store, loaded or not (a quoted message, a search
     * hit); rejects with a WaError 404 `unknown_message` when the server has none.
     */
    message(chatId: string, messageId: string): Promise<Message>;
    /** This session's helpdesk settings (GET /settings): business hours, messages, assignment. */
    settings(): Promise<HelpdeskSettings>;
    /**
     * Replace this session's helpdesk settings with the whole document (admins); resolves to the
     * document stored. A refused field rejects with a WaError `bad_<field>`.
     */
    saveSettings(doc: HelpdeskSettings): Promise<HelpdeskSettings>;
    /**
     * Tell the contact we are typing (`composing`, `recording`) or stopped (`paused`); or show the
     * whole account online or not (`available`, `unavailable`). The server subscribes to the
     * chat's presence first when needed.
     */
    sendPresence(chatId: string, state: PresenceSent['state']): Promise<PresenceSent>;
    /**
     * Everyone who may work on this session, with `online` (holds a stream now) and `activity`
     * (`[{chatId, state}]`: viewing or typing, in the chats we may see): the snapshot that the
     * `agent_presence` envelopes then keep current.
     */
    agents(): Promise<Agent[]>;
    /**
     * Show the other agents what we do in a chat: `viewing` (lapses after ~60 s) or `typing`
     * (~6 s) unless sent again; `idle` ends both.
     */
    setAgentPresence(chatId: string, state: 'viewing' | 'typing' | 'idle'): Promise<AgentPresenceSet>;
    /** Ask WhatsApp for a pairing code for a phone number (POST admin/pairing-code). */
    pairingCode(phone: string): Promise<{
        code: string;
    }>;
    /** The tags a chat can carry (GET /tags). */
    tags(): Promise<Tag[]>;
    /**
     * Assign (take, transfer) a chat: PUT /chats/{chatId}/assignment. Every screen, this one
     * too, hears of it from the stream's `assignment_changed`.
     */
    assign(chatId: string, agentId: string): Promise<ChatAssignment>;
    /** Release a chat: DELETE /chats/{chatId}/assignment. */
    unassign(chatId: string): Promise<ChatAssignment>;
    /** A conversation's status (PUT /chats/{chatId}/status); the stream's `chat_update` brings it. */
    setStatus(chatId: string, status: ConversationStatus): Promise<{
        chatId: string;
        status: ConversationStatus;
    }>;
    /** A chat's private notes, oldest first (GET /chats/{chatId}/notes). */
    notes(chatId: string): Promise<Note[]>;
    /**
     * Add a private note (POST /chats/{chatId}/notes): the team sees it (`note_added`), the
     * customer never does (nothing goes to WhatsApp).
     */
    addNote(chatId: string, body: string): Promise<Note>;
    /** The inbox views' counts (GET /inbox/counts), within a status when given. */
    inboxCounts(status?: ConversationStatus): Promise<InboxCounts>;
    /**
     * Fetch a chat that became visible to this user (assigned to them, released by another
     * agent: its earlier events were not theirs to see) and add it to the cache.
     */
    adoptChat(chatId: string): Promise<Chat>;
    /** Drop a chat this user may no longer see (another agent took it) from the cache. */
    forgetChat(chatId: string): void;
}
/** A File (or Blob with a name) as the `media` of send(): base64 and the kind from its type. */
export declare function mediaFromFile(file: File): Promise<SendMedia>;

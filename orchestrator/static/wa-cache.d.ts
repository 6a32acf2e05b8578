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
import type { Chat, Envelope, Message, Status, SyncProgress } from './wa-api.js';
export type { SyncProgress };
/** Envelope types this cache handles (an EventSource listens for them by name). */
export declare const ENVELOPE_TYPES: readonly string[];
/** The session of an envelope, a snapshot or a call that names none (every unscoped route's). */
export declare const DEFAULT_SESSION: string;
/** Messages per page: a page this long may have older messages before it. */
export declare const PAGE_SIZE: number;
/** Envelope ids remembered for deduplication. */
export declare const SEEN_IDS: number;
/** A chat's presences: participant jid -> what WhatsApp last said of them. */
export type Presences = Record<string, {
    lastKnownPresence?: string;
}>;
/** A loaded chat's messages. Read it; only WaCache changes it. */
export interface MessageList {
    chatId: string;
    /** Oldest first. */
    list: Message[];
    byId: Map<string, Message>;
    hasOlder: boolean;
}
/** A chat with the session (WhatsApp number) it is on: allChats(). */
export type SessionChat = Chat & {
    session: string;
};
/** What one change did, and what the caller must do about it. */
export interface Changes {
    /** The session the change is in (`default` for an envelope or call that names none). */
    session: string;
    /** The envelope was applied (UI code hears of it); false for a duplicate, a held one, or anything else. */
    applied: boolean;
    /** The envelope was held (a reload is under way). */
    held: boolean;
    /** The chat list (or a chat) changed. */
    chats: boolean;
    /** Chats whose loaded messages changed. */
    messages: Set<string>;
    status: boolean;
    qr: boolean;
    sync: boolean;
    presence: {
        chatId: string;
        presences: Presences;
    }[];
    /** Refetch the snapshots (hold() first, applySnapshot(), then receive what release() gives back). */
    reload: 'resync' | null;
    /** A history sync happened: its messages come only with refetched snapshots. */
    refetch: boolean;
    /** A session was deleted (`session_deleted`): its data is gone from the cache. */
    deleted: string | null;
}
/** A session's REST snapshot, as applySnapshot() takes it. */
export interface Snapshot {
    status: Status | null;
    chats: Chat[];
    /** GET /qr's answer, when the status says 'qr'. */
    qr?: string | null;
    /** The newest page of each chat of loadedChatIds(); a chat left out is unloaded. */
    pages?: Map<string, Message[]>;
}
/** A record of nothing changed yet (in `session`). */
export declare function noChanges(session?: string): Changes;
export declare class WaCache {
    readonly pageSize: number;
    constructor(options?: {
        pageSize?: number;
        seenIds?: number;
    });
    /**
     * The position to resume from: the last id applied of each session, comma-separated ("a,b":
     * each session resumes after its own id, exact even after an orchestrator restart, whose
     * rebuilt log interleaves sessions differently), with the server's ids of the sessions that
     * have applied nothing since. One session: one id, as before sessions existed.
     * Setting it (the server's, or one given by hand) forgets what each session applied.
     */
    get lastEventId(): string | null;
    set lastEventId(id: string | null);
    /**
     * Start from each session's position as the server gave it (one `/events/poll?session=`
     * each, so each id is known to be its session's): a session that applies nothing before a
     * restart still resumes from its own id, not from another session's.
     * @param positions session, id
     */
    startAt(positions: Iterable<[string, string | null]>): void;
    /**
     * Move past ids a poll answered without events (entries filtered out for this client): each
     * id of a session known by its epoch is that session's position now. An answer the client
     * cannot place, while it has no session's own, is the position (as before sessions).
     */
    advance(position: string): void;
    /** The sessions this cache holds data of. */
    sessionIds(): string[];
    /** A session's chats, most recent activity first (then by id). */
    chats(session?: string): Chat[];
    /**
     * Every session's chats, each with its `session`, most recent activity first: the "all
     * numbers" view. The same contact on two numbers is two chats.
     */
    allChats(): SessionChat[];
    /** The sum of a session's chats' unread counts. */
    unread(session?: string): number;
    chat(chatId: string, session?: string): Chat | undefined;
    status(session?: string): Status | null;
    qr(session?: string): string | null;
    /** The default session's QR version (see qrVersionOf). */
    get qrVersion(): number;
    /** Bumped whenever a session's QR arrives or its snapshot's differs. */
    qrVersionOf(session: string): number;
    syncProgress(session?: string): SyncProgress | null;
    presence(chatId: string, session?: string): Presences | null;
    /** A loaded chat's message list (the live object: read it, never change it), or undefined. */
    messageList(chatId: string, session?: string): MessageList | undefined;
    /** A copy of a chat's messages, oldest first (empty unless loaded). */
    messages(chatId: string, session?: string): Message[];
    /** Whether older messages may exist before the cached ones. */
    hasOlder(chatId: string, session?: string): boolean;
    /** The ids of a session's loaded chats that are among `chats` (whose pages a snapshot refetches). */
    loadedChatIds(chats: Chat[], session?: string): string[];
    /** Whether envelopes are being held (a reload is under way). */
    get holding(): boolean;
    /**
     * Apply one stream envelope (held instead while holding; a duplicate id changes nothing).
     * `applied` says whether UI code should hear of it. An envelope belongs to its `session`
     * (`default` when it names none: a server from before sessions).
     */
    receive(envelope: Envelope): Changes;
    /** Start holding envelopes (a reload begins); false when already holding. */
    hold(): boolean;
    /** Stop holding: the held envelopes, in order, for the caller to receive() again. */
    release(): Envelope[];
    /** Forget a session (deleted on the server): its chats, messages and position. */
    dropSession(session: string): Changes;
    /**
     * Replace a session's data with its REST snapshots: the status, every chat, the QR (when the
     * status says `qr`), and the newest page of the chats in `pages` (from loadedChatIds(); a
     * chat whose page failed is left out, and unloaded). The lists loaded before are reported
     * changed, whether or not they still are.
     */
    applySnapshot({ status, chats, qr, pages }: Snapshot, session?: string): Changes;
    /**
     * A chat's messages start loading: an empty list that envelopes already fill while its newest
     * page is in flight. Returns it, for applyLatest() (a snapshot may replace it meanwhile: the
     * page then lands in this list, no longer the cache's).
     */
    startLatest(chatId: string, session?: string): MessageList;
    /**
     * The newest page arrived for a list from startLatest(). Envelopes applied while it was in
     * flight are kept: merge, never drop. The page is in the server's order, so a message it has
     * keeps its place there (with the stream's copy, which may be newer); one it lacks reached
     * the server after it was answered, so it goes after the page's messages of its second.
     */
    applyLatest(entry: MessageList, page: Message[], session?: string): Changes;
    /** The newest page could not be fetched: the chat is unloaded again. */
    dropLatest(chatId: string, session?: string): void;
    /** A page older than the list's oldest message arrived: the messages it adds, and the changes. */
    applyOlder(entry: MessageList, page: Message[], session?: string): {
        added: Message[];
        changes: Changes;
    };
    /**
     * The answer to a send: the pending copy of our message. The stream can bring the message
     * (with its media url and acks) before this answer arrives: the pending copy then must not
     * replace it, and the stream's copy is the message. Returns the message the send resolves to.
     */
    applySent(message: Message, session?: string): {
        message: Message;
        changes: Changes;
    };
    /**
     * A chat that became visible to this user (assigned to them, or released by another agent):
     * fetched by REST, it joins the list. A copy the stream brought meanwhile is newer and stays.
     */
    adoptChat(chat: Chat, session?: string): Changes;
    /**
     * A chat this user may no longer see (another agent took it): it leaves the list, with its
     * messages. The server sends nothing more of it; if it comes back, adoptChat() brings it.
     */
    forgetChat(chatId: string, session?: string): Changes;
}
/**
 * The server's order: oldest first. Within one second (WhatsApp's resolution) the server
 * orders by arrival, which a client cannot see: messages of the same second keep the order
 * they came in (from a REST page, or appended from the stream), as sorts here are stable.
 */
export declare function compareMessages(a: Message, b: Message): number;
export declare function sortMessages(list: Message[]): Message[];
/** After the last message not newer than `m`: the same second's keep their order. `list` is sorted. */
export declare function insertSorted(list: Message[], m: Message): Message[];

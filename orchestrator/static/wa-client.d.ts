// Types for wa-client.js (the orchestrator's browser client). See README.md, "API".

import type {
  Agent,
  AgentPresence,
  AgentPresenceSet,
  AssignmentChanged,
  Chat,
  ChatAssignment,
  ChatDeleted,
  Envelope,
  InboxCounts,
  MediaBody,
  Message,
  MessageAck,
  Note,
  NoteAdded,
  Presence,
  PresenceSent,
  Resync,
  SendBody,
  Session,
  SessionBody,
  SessionDeleted,
  Status,
  SyncProgress,
  Tag,
} from './wa-api'

// The API's shapes are generated from the server's OpenAPI document (wa-api.d.ts); only the
// client's own types are written here.
export type * from './wa-api'

export type Ack = 0 | 1 | 2 | 3 | 4 | 5

export interface ClientState {
  /** idle -> connecting -> live; reconnecting while the stream (or poll) is down. */
  link: 'idle' | 'connecting' | 'live' | 'reconnecting' | 'unauthorized' | 'closed'
  /** What carries the envelopes now; 'poll' after repeated blocked streams. */
  transport: 'sse' | 'websocket' | 'poll' | null
  attempt: number
  /** Stream attempts that failed while the server was reachable (3 -> long-polling). */
  blockedStreams: number
  /** When the next reconnection attempt is due (ms since epoch), or null. */
  nextRetryAt: number | null
  lastEventId: string | null
  error: string | null
}

export interface WaClientOptions {
  /** The orchestrator's origin, '' for the page's own. */
  baseUrl?: string
  token: string
  /** 'sse' (default) or 'websocket'. */
  transport?: 'sse' | 'websocket'
  fetch?: typeof fetch
  EventSource?: typeof EventSource
  WebSocket?: typeof WebSocket
  /** Blocked stream attempts before falling back to long-polling (3). */
  streamFailuresBeforePoll?: number
  /** While polling, how often to try streaming again (30000 ms). */
  streamRetryMs?: number
  backoffInitialMs?: number
  backoffMaxMs?: number
  /** Long-poll timeout in seconds (25). */
  pollTimeout?: number
  /**
   * The session (WhatsApp number) of the client's own calls: `/sessions/{id}/...`, and the
   * stream of that session only. Without it: the unscoped routes (the `default` session).
   */
  session?: string
  /** The sessions to stream and cache (`?session=a,b`); their calls: `client.session(id)`. */
  sessions?: string[]
}

/** A session as GET /sessions describes it (README "Sessions"). */
/** GET /sessions's items: the generated Session. */
export type SessionInfo = Session

/** POST /sessions's body (admins): the generated SessionBody. */
export type CreateSession = SessionBody

/** A chat with the session it is on (allChats()). */
export type SessionChat = Chat & { session: string }

export type SendMedia = MediaBody

/** POST /send's body without the reaction (see react()). */
export type SendOptions = Omit<SendBody, 'reaction'>

/** A conversation's status (issue #16): open by default, pending, resolved. */
export type ConversationStatus = Chat['status']

/** A chat with its conversation status (every Chat has one now; kept for the console's JSDoc). */
export type HelpdeskChat = Chat

export interface ClientEvents {
  chats: Chat[]
  messages: { chatId: string; session: string }
  status: Status | null
  qr: string | null
  sync: SyncProgress
  presence: Presence & { session: string }
  client: ClientState
  snapshot: { chats: number }
  error: { message: string }
  new_message: Message
  message_update: Message
  message_ack: MessageAck
  new_chat: Chat
  chat_update: Chat
  chat_deleted: ChatDeleted
  resync: Resync
  session_deleted: SessionDeleted
  assignment_changed: AssignmentChanged
  note_added: NoteAdded
  /** Ephemeral (id ""): who of the helpdesk is online, viewing or typing where. */
  agent_presence: AgentPresence
  [type: string]: unknown
}

export class WaError extends Error {
  status: number
  code: string
  constructor(status: number, code: string, message: string)
}

/** One session's calls and cached data on its client's connection (client.session(id)). */
export interface WaSession {
  readonly client: WaClient
  readonly id: string
  chats(): Chat[]
  chat(chatId: string): Chat | undefined
  status(): Status | null
  qr(): string | null
  syncProgress(): ClientEvents['sync'] | null
  presence(chatId: string): Record<string, { lastKnownPresence?: string }> | null
  unread(): number
  messages(chatId: string): Promise<Message[]>
  cachedMessages(chatId: string): Message[]
  hasOlder(chatId: string): boolean
  loadOlder(chatId: string): Promise<Message[]>
  /** GET /search: message text, best match first, in the chats the caller may see. */
  search(q: string, options?: SearchOptions): Promise<SearchResults>
  /** GET /chats/{chatId}/messages/{messageId}: one message, loaded or not (404 unknown_message). */
  message(chatId: string, messageId: string): Promise<Message>
  /** GET /settings. */
  settings(): Promise<HelpdeskSettings>
  /** PUT /settings (admins): the whole document; resolves to the stored one. */
  saveSettings(doc: HelpdeskSettings): Promise<HelpdeskSettings>
  send(options: SendOptions): Promise<Message>
  react(chatId: string, messageId: string, emoji: string): Promise<Message>
  markRead(chatId: string): Promise<{ chatId: string; receipts: number }>
  sendPresence(chatId: string, state: PresenceSent['state']): Promise<PresenceSent>
  /** GET /agents: everyone who may work on the session, with online and activity. */
  agents(): Promise<Agent[]>
  /** POST /chats/{chatId}/agent-presence: what we do in the chat, for the other agents. */
  setAgentPresence(chatId: string, state: 'viewing' | 'typing' | 'idle'): Promise<AgentPresenceSet>
  pairingCode(phone: string): Promise<{ code: string }>
  mediaUrl(message: Message): string | null
  qrImage(): Promise<Blob | null>
  /** GET /tags. */
  tags(): Promise<Tag[]>
  /** PUT /chats/{chatId}/assignment: take or transfer. */
  assign(chatId: string, agentId: string): Promise<ChatAssignment>
  /** DELETE /chats/{chatId}/assignment: release. */
  unassign(chatId: string): Promise<ChatAssignment>
  /** PUT /chats/{chatId}/status. */
  setStatus(chatId: string, status: ConversationStatus): Promise<{ chatId: string; status: ConversationStatus }>
  /** GET /chats/{chatId}/notes, oldest first. */
  notes(chatId: string): Promise<Note[]>
  /** POST /chats/{chatId}/notes: private, never sent to WhatsApp. */
  addNote(chatId: string, body: string): Promise<Note>
  /** GET /inbox/counts. */
  inboxCounts(status?: ConversationStatus): Promise<InboxCounts>
  /** GET /chats/{chatId}, added to the cache (a chat that became visible). */
  adoptChat(chatId: string): Promise<Chat>
  /** Drop a chat from the cache (no longer visible to this user). */
  forgetChat(chatId: string): void
}

export class WaClient {
  constructor(options: WaClientOptions)
  readonly baseUrl: string
  readonly token: string
  /** Use another token from now on (a refreshed access token); the open stream goes on. */
  setToken(token: string): void
  readonly transport: 'sse' | 'websocket'
  /** The sessions streamed and cached, or null (the unscoped stream). */
  readonly following: string[] | null
  /** The last id applied of each session, comma-separated (one id with one session). */
  lastEventId: string | null

  /** One session's calls and cached data, on this client's connection. */
  session(id: string): WaSession
  /** Every session's chats, each with its session, most recent first. */
  allChats(): SessionChat[]
  /** The sum of a session's chats' unreadCount, as cached. */
  unread(session: string): number
  /** GET /me. */
  me(): Promise<{ userId: string; role: string; name: string | null; sessions?: string[] }>
  /** GET /sessions: the sessions the caller may use. */
  sessions(): Promise<SessionInfo[]>
  /** POST /sessions (admins). */
  createSession(body: CreateSession): Promise<SessionInfo>
  /** DELETE /sessions/{id} (admins); the data is kept unless purge. */
  deleteSession(id: string, options?: { purge?: boolean }): Promise<void>

  connect(): Promise<void>
  close(): void
  /** Reconnect now instead of at the next backoff step. */
  reconnectNow(): void

  on<K extends keyof ClientEvents>(type: K, fn: (data: ClientEvents[K], envelope?: Envelope) => void): () => void
  subscribe(fn: (event: { type: string; data: unknown; envelope?: Envelope }) => void): () => void

  chats(): Chat[]
  chat(chatId: string): Chat | undefined
  /** The newest page is fetched on first use; oldest first. */
  messages(chatId: string): Promise<Message[]>
  cachedMessages(chatId: string): Message[]
  hasOlder(chatId: string): boolean
  /** Resolves to the messages added (older than the cached ones). */
  loadOlder(chatId: string): Promise<Message[]>
  search(q: string, options?: SearchOptions): Promise<SearchResults>
  message(chatId: string, messageId: string): Promise<Message>
  settings(): Promise<HelpdeskSettings>
  saveSettings(doc: HelpdeskSettings): Promise<HelpdeskSettings>
  /** GET /quick-replies (the helpdesk's, on every session). */
  quickReplies(): Promise<QuickReply[]>
  /** POST /quick-replies, or PUT /quick-replies/{id} when id is given (staff). */
  saveQuickReply(reply: { id?: number | null } & QuickReplyBody): Promise<QuickReply>
  /** DELETE /quick-replies/{id} (staff). */
  deleteQuickReply(id: number): Promise<void>
  status(): Status | null
  qr(): string | null
  syncProgress(): ClientEvents['sync'] | null
  presence(chatId: string): Record<string, { lastKnownPresence?: string }> | null
  clientState(): ClientState

  send(options: SendOptions): Promise<Message>
  react(chatId: string, messageId: string, emoji: string): Promise<Message>
  markRead(chatId: string): Promise<{ chatId: string; receipts: number }>
  /** POST /chats/{chatId}/presence: our chat state for the contact, or the account online or not. */
  sendPresence(chatId: string, state: PresenceSent['state']): Promise<PresenceSent>
  /** GET /agents (the client's own session). */
  agents(): Promise<Agent[]>
  /** POST /chats/{chatId}/agent-presence (the client's own session). */
  setAgentPresence(chatId: string, state: 'viewing' | 'typing' | 'idle'): Promise<AgentPresenceSet>
  pairingCode(phone: string): Promise<{ code: string }>
  /** GET /tags. */
  tags(): Promise<Tag[]>
  /** PUT /chats/{chatId}/assignment: take or transfer. */
  assign(chatId: string, agentId: string): Promise<ChatAssignment>
  /** DELETE /chats/{chatId}/assignment: release. */
  unassign(chatId: string): Promise<ChatAssignment>
  /** PUT /chats/{chatId}/status. */
  setStatus(chatId: string, status: ConversationStatus): Promise<{ chatId: string; status: ConversationStatus }>
  /** GET /chats/{chatId}/notes, oldest first. */
  notes(chatId: string): Promise<Note[]>
  /** POST /chats/{chatId}/notes: private, never sent to WhatsApp. */
  addNote(chatId: string, body: string): Promise<Note>
  /** GET /inbox/counts. */
  inboxCounts(status?: ConversationStatus): Promise<InboxCounts>
  /** GET /chats/{chatId}, added to the cache (a chat that became visible). */
  adoptChat(chatId: string): Promise<Chat>
  /** Drop a chat from the cache (no longer visible to this user). */
  forgetChat(chatId: string): void

  /** baseUrl + the message's media url (signed by the server; never the token), or null. */
  mediaUrl(message: Message): string | null
  /** GET /qr.svg with the token in a header, or null when there is no QR: show it with URL.createObjectURL. */
  qrImage(): Promise<Blob | null>
}

export function mediaFromFile(file: File): Promise<SendMedia>

// ---- the helpdesk tools' calls (issue #16): search, one message, settings, quick replies ----

type HelpdeskSettings = import('./wa-api').HelpdeskSettings
type QuickReply = import('./wa-api').QuickReply
type QuickReplyBody = import('./wa-api').QuickReplyBody

/** GET /search's options: one chat only, the page size, the offset of a page (its nextOffset). */
export interface SearchOptions {
  chatId?: string
  limit?: number
  offset?: number
}

/** GET /search's answer: the matches, best first, and the next page's offset (null: none). */
export interface SearchResults {
  messages: Message[]
  nextOffset: number | null
}

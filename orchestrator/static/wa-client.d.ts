// Types for wa-client.js (the orchestrator's browser client). See README.md, "API".

export type Ack = 0 | 1 | 2 | 3 | 4 | 5
export type AckStatus = 'error' | 'pending' | 'sent' | 'delivered' | 'read' | 'played'

export interface Media {
  mimetype: string | null
  fileName: string | null
  size: number | null
  seconds: number | null
  /** Served by the orchestrator (`GET /media/...`); see WaClient.mediaUrl. */
  url: string | null
}

export interface Reaction {
  emoji: string
  sender: string
}

export interface Message {
  id: string
  chatId: string
  fromMe: boolean
  sender: string | null
  senderName: string | null
  /** Unix seconds. */
  timestamp: number
  type: 'text' | 'image' | 'video' | 'audio' | 'document' | 'sticker' | 'location' | 'contact' | 'poll' | 'reaction' | 'unknown' | string
  rawKind?: string | null
  text: string | null
  quotedId: string | null
  media: Media | null
  ack: Ack
  status: AckStatus | null
  edited: boolean
  deleted: boolean
  reactions: Reaction[]
}

export interface Assignment {
  agentId: string
  agentName: string | null
  assignedBy?: string | null
  assignedAt?: string | null
}

export interface Tag {
  id: string | number
  name: string
  color: string | null
}

export interface Chat {
  id: string
  name: string | null
  isGroup: boolean
  unreadCount: number
  /** Last activity, unix seconds. */
  timestamp: number | null
  lastMessage: Message | null
  archived: boolean
  pinned: boolean
  muted: boolean
  /** Helpdesk metadata, when the server has it. */
  assignment?: Assignment | null
  tags?: Tag[]
}

export interface Status {
  connected: boolean
  state: 'connecting' | 'open' | 'close' | 'qr' | 'logged_out' | 'replaced' | 'stopped' | string
  reason: { statusCode?: number | null; message?: string | null; unreachable?: boolean } | null
  attempt?: number
  nextRetryAt?: number | null
  me?: { id: string; name?: string } | null
  bridge?: { alive: boolean; epoch: string | null }
}

export interface Envelope<T = unknown> {
  id: string
  type: string
  data: T
}

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
}

export interface SendMedia {
  type: 'image' | 'video' | 'audio' | 'document' | 'sticker'
  base64?: string
  url?: string
  mimetype?: string
  fileName?: string
  ptt?: boolean
}

export interface SendOptions {
  /** A jid or a phone number. */
  chatId: string
  text?: string
  quotedId?: string
  media?: SendMedia
}

export interface ClientEvents {
  chats: Chat[]
  messages: { chatId: string }
  status: Status | null
  qr: string | null
  sync: { progress: number | null; syncType: number | null; isLatest: boolean | null }
  presence: { chatId: string; presences: Record<string, { lastKnownPresence?: string }> }
  client: ClientState
  snapshot: { chats: number }
  error: { message: string }
  new_message: Message
  message_update: Message
  message_ack: { chatId: string; messageId: string; ack: Ack; status: AckStatus }
  new_chat: Chat
  chat_update: Chat
  chat_deleted: { id: string; mergedInto?: string }
  resync: { reason: string }
  [type: string]: unknown
}

export class WaError extends Error {
  status: number
  code: string
  constructor(status: number, code: string, message: string)
}

export class WaClient {
  constructor(options: WaClientOptions)
  readonly baseUrl: string
  readonly token: string
  readonly transport: 'sse' | 'websocket'
  lastEventId: string | null

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
  status(): Status | null
  qr(): string | null
  syncProgress(): ClientEvents['sync'] | null
  presence(chatId: string): Record<string, { lastKnownPresence?: string }> | null
  clientState(): ClientState

  send(options: SendOptions): Promise<Message>
  react(chatId: string, messageId: string, emoji: string): Promise<Message>
  markRead(chatId: string): Promise<{ chatId: string; receipts: number }>
  pairingCode(phone: string): Promise<{ code: string }>

  /** baseUrl + the message's media url (signed by the server; never the token), or null. */
  mediaUrl(message: Message): string | null
  /** GET /qr.svg with the token in a header, or null when there is no QR: show it with URL.createObjectURL. */
  qrImage(): Promise<Blob | null>
}

export function mediaFromFile(file: File): Promise<SendMedia>

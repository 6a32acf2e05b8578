// Generated from the orchestrator's OpenAPI document by orchestrator/typescript.py
// (`make types`). Do not edit: change orchestrator/shapes.py and regenerate.

export interface Activity {
  id: number
  actorId: string | null
  action: string
  chatId: string | null
  details: unknown
  createdAt: string
}

export interface ActivityList {
  activity: Activity[]
}

export interface Agent {
  id: string
  name: string | null
  role: 'admin' | 'supervisor' | 'agent'
  /** holds a stream connection (SSE, WebSocket or long-poll) now */
  online: boolean
  /** the chats (of those the caller may see) they view or type in now */
  activity: AgentActivity[]
}

export interface AgentActivity {
  chatId: string
  state: 'viewing' | 'typing'
}

export interface AgentList {
  agents: Agent[]
}

export interface AgentPresence {
  userId: string
  name: string | null
  online: boolean
  /** null: the agent as a whole (online or not) */
  chatId: string | null
  /** what they do in chatId now; null: nothing (a state ended or lapsed) */
  state: 'viewing' | 'typing' | null
}

export interface AgentPresenceBody {
  /** viewing lapses after about 60 s, typing after about 6 s, unless posted again; idle ends both at once */
  state: 'viewing' | 'typing' | 'idle'
}

export interface AgentPresenceEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'agent_presence'
  /** the session (WhatsApp number) */
  session: string
  data: AgentPresence
}

export interface AgentPresenceSet {
  chatId: string
  /** the state now (idle: null) */
  state: 'viewing' | 'typing' | null
}

export interface Applied {
  epoch: string
  seq: number
}

export interface AssignBody {
  agentId: string
}

export interface Assignment {
  agentId: string
  agentName: string | null
  assignedBy: string | null
  assignedAt: string
}

export interface AssignmentChanged {
  chatId: string
  assignment: Assignment | null
  /** who had the chat before (null: it was unassigned) */
  previousAgentId: string | null
}

export interface AssignmentChangedEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'assignment_changed'
  /** the session (WhatsApp number) */
  session: string
  data: AssignmentChanged
}

export interface AssignmentSettings {
  /** round_robin: an unassigned chat a customer writes to goes to the next online agent */
  rule: 'none' | 'round_robin'
}

export interface AutoReply {
  enabled: boolean
  /** not blank when enabled */
  text: string
}

export interface BridgeIdentity {
  /** the id of the bridge's data dir */
  bridgeId: string
  /** the session the bridge says it serves */
  session: string
}

export interface BridgeReport {
  alive: boolean
  epoch: string | null
  seq: number | null
  connection: string | null
  mode: string | null
  applied: Applied | null
  lastHeartbeatAgeMs: number | null
  received: number
  appliedEvents: number
  duplicates: number
  malformed: number
  gaps: number
  replays: number
  replayed: number
  epochChanges: number
  positionsLost: number
  /** envelopes of a bridge that is not ours */
  refused: number
  reconnects: number
  lastFrameAgeMs: number | null
  store: StoreReport
  spawned: SpawnedBridge | null
  transport: TransportReport
}

export interface BridgeStatus {
  /** ok: ours, heard from; down: not heard from; wrong_bridge: another bridge holds our endpoints, and nothing of it is applied or sent to it */
  state: 'ok' | 'down' | 'wrong_bridge'
  /** why the bridge is refused, for people */
  error: string | null
  /** what the bridge at our endpoints last said it is; null before */
  identity: BridgeIdentity | null
  /** its heartbeats arrive */
  alive: boolean
  /** names one bridge process run */
  epoch: string | null
  /** restarts of the spawned bridge; null when not spawned */
  restarts: number | null
  /** unix time the spawned bridge starts again, if down */
  nextStartAt: number | null
}

export interface BusinessHours {
  /** false: always open (no away message) */
  enabled: boolean
  /** an IANA time zone, e.g. America/Sao_Paulo */
  timezone: string
  week: Week
}

export interface CallEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'call'
  /** the session (WhatsApp number) */
  session: string
  data: CallEvent
}

export interface CallEvent {
  /** the call id, also the id of its call Message */
  id: string
  /** the caller's chat, or the group's */
  chatId: string
  /** the caller's jid */
  from: string
  direction: 'incoming' | 'outgoing'
  kind: 'voice' | 'video'
  isGroup: boolean
  /** this step, as Baileys named it: offer, ringing, preaccept, transport, relaylatency, accept, reject, timeout, terminate */
  status: string
  outcome: 'ringing' | 'accepted' | 'rejected' | 'missed'
  /** unix seconds of this step */
  timestamp: number
  /** delivered while the number was offline */
  offline: boolean
}

export interface CallInfo {
  /** incoming: made to this number (Baileys reports no other kind yet) */
  direction: 'incoming' | 'outgoing'
  kind: 'voice' | 'video'
  /** ringing; accepted (answered on one of the account's devices); rejected (declined there, or by ORCH_REJECT_CALLS); missed (nobody answered: it timed out or the caller hung up first; counts as unread) */
  outcome: 'ringing' | 'accepted' | 'rejected' | 'missed'
  isGroup: boolean
}

export interface Chat {
  /** jid */
  id: string
  name: string | null
  isGroup: boolean
  unreadCount: number
  /** last activity, unix seconds */
  timestamp: number
  lastMessage: Message | null
  archived: boolean
  pinned: boolean
  muted: boolean
  assignment: Assignment | null
  tags: Tag[]
  /** a group's members; null for a person */
  participants: Participant[] | null
  /** WhatsApp Business labels on the chat */
  labels: Label[]
  /** the conversation's helpdesk status; a customer's message reopens it */
  status: 'open' | 'pending' | 'resolved'
}

export interface ChatAssignment {
  chatId: string
  assignment: Assignment | null
}

export interface ChatDeleted {
  id: string
  /** a LID chat merged into this phone-number chat */
  mergedInto?: string
}

export interface ChatDeletedEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'chat_deleted'
  /** the session (WhatsApp number) */
  session: string
  data: ChatDeleted
}

export interface ChatList {
  chats: Chat[]
}

export interface ChatStatusChange {
  chatId: string
  status: 'open' | 'pending' | 'resolved'
}

export interface ChatTagBody {
  tagId: number
}

export interface ChatTags {
  chatId: string
  tags: Tag[]
}

export interface ChatUpdateEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'chat_update'
  /** the session (WhatsApp number) */
  session: string
  data: Chat
}

export interface CloseReason {
  /** Baileys' DisconnectReason */
  statusCode: number | null
  message: string
  /** a network error: WhatsApp not reached */
  unreachable: boolean
  /** what an operator can do about it */
  hint: string | null
}

export interface ConnectionStatus {
  connected: boolean
  state: 'connecting' | 'open' | 'close' | 'qr' | 'logged_out' | 'replaced' | 'stopped'
  reason: CloseReason | null
}

export interface ConnectionStatusEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'connection_status'
  /** the session (WhatsApp number) */
  session: string
  data: ConnectionStatus
}

export interface ConsoleConfig {
  /** where the console signs users in; null: API tokens only */
  supabase: SupabaseAuthConfig | null
}

export interface Contact {
  id: string
  name: string | null
  /** push name */
  notify: string | null
  verifiedName: string | null
}

export interface ContactCardBody {
  name: string
  /** international format, in any usual notation */
  phone: string
}

export interface ContactList {
  contacts: Contact[]
}

export interface ContactUpdateEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'contact_update'
  /** the session (WhatsApp number) */
  session: string
  data: Contact
}

export interface DeleteBody {
  messageId: string
  /** revoke it for everyone; false deletes it for this account only */
  forEveryone: boolean
}

export interface EditBody {
  /** one of your own text messages in the chat */
  messageId: string
  text: string
}

export type Envelope = ConnectionStatusEnvelope | QrEnvelope | NewMessageEnvelope | MessageUpdateEnvelope | MessageAckEnvelope | NewChatEnvelope | ChatUpdateEnvelope | ChatDeletedEnvelope | ContactUpdateEnvelope | PresenceEnvelope | SyncProgressEnvelope | ResyncEnvelope | AssignmentChangedEnvelope | TagsChangedEnvelope | NoteAddedEnvelope | LabelUpdateEnvelope | CallEnvelope | SessionDeletedEnvelope | AgentPresenceEnvelope

export interface ForwardBody {
  /** a message in any chat you may see */
  messageId: string
}

export interface Health {
  status: 'ok'
}

export interface HelpdeskSettings {
  businessHours: BusinessHours
  /** sent outside business hours, once per conversation */
  awayMessage: AutoReply
  /** sent on a customer's first message in a chat */
  greeting: AutoReply
  assignment: AssignmentSettings
}

export interface InboxCounts {
  /** assigned to the caller */
  mine: number
  unassigned: number
  /** every chat the caller may see */
  all: number
  /** per status (whatever `status` the request names) */
  statuses: StatusCounts
  /** tag id -> chats carrying it */
  tags: Record<string, number>
}

export interface Interval {
  /** HH:MM, 24-hour, local */
  start: string
  /** HH:MM, 24-hour, local; 24:00 is the end of the day */
  end: string
}

export interface Label {
  /** WhatsApp's label id */
  id: string
  name: string
  /** WhatsApp's label colour: its palette index, 0-19 */
  color: number
}

export interface LabelList {
  labels: Label[]
}

export interface LabelUpdate {
  /** WhatsApp's label id */
  id: string
  name: string
  /** WhatsApp's label colour: its palette index, 0-19 */
  color: number
  deleted: boolean
  /** one of WhatsApp's predefined labels */
  predefinedId: string | null
}

export interface LabelUpdateEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'label_update'
  /** the session (WhatsApp number) */
  session: string
  data: LabelUpdate
}

export interface LocationBody {
  latitude: number
  longitude: number
  name?: string
  address?: string
}

export interface Me {
  /** null for the API token */
  userId: string | null
  role: 'admin' | 'supervisor' | 'agent'
  name: string | null
  /** the sessions their profile lists (a narrowed stream token: its own) */
  sessions: string[]
  /** staff: every session, listed or not (not with a narrowed token) */
  allSessions: boolean
}

export interface Media {
  mimetype: string | null
  fileName: string | null
  size: number | null
  seconds: number | null
  /** a signed link to the bytes (no token needed) that expires after ORCH_MEDIA_LINK_TTL; null on a message still pending */
  url: string | null
}

export interface MediaBody {
  type: 'image' | 'video' | 'audio' | 'document' | 'sticker'
  /** the bytes (or give url) */
  base64?: string
  /** fetched by the server */
  url?: string
  mimetype?: string
  fileName?: string
  /** an audio sent as a voice note */
  ptt?: boolean
}

export interface Message {
  /** WhatsApp's key.id */
  id: string
  chatId: string
  fromMe: boolean
  /** author jid; null for your own */
  sender: string | null
  senderName: string | null
  /** unix seconds, the message's own time */
  timestamp: number
  type: 'text' | 'image' | 'video' | 'audio' | 'document' | 'sticker' | 'location' | 'contact' | 'poll' | 'reaction' | 'unknown' | 'call' | 'waiting'
  /** for unknown: WhatsApp's message kind */
  rawKind: string | null
  /** body or caption */
  text: string | null
  quotedId: string | null
  media: Media | null
  /** 0 error .. 5 played */
  ack: number
  status: 'error' | 'pending' | 'sent' | 'delivered' | 'read' | 'played' | null
  edited: boolean
  deleted: boolean
  reactions: Reaction[]
  /** on type "call" only: the call and its outcome */
  call?: CallInfo
}

export interface MessageAck {
  chatId: string
  messageId: string
  ack: number
  status: 'error' | 'pending' | 'sent' | 'delivered' | 'read' | 'played'
}

export interface MessageAckEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'message_ack'
  /** the session (WhatsApp number) */
  session: string
  data: MessageAck
}

export interface MessageList {
  messages: Message[]
}

export interface MessageUpdateEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'message_update'
  /** the session (WhatsApp number) */
  session: string
  data: Message
}

export interface NewChatEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'new_chat'
  /** the session (WhatsApp number) */
  session: string
  data: Chat
}

export interface NewMessageEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'new_message'
  /** the session (WhatsApp number) */
  session: string
  data: Message
}

export interface Note {
  id: number
  chatId: string
  authorId: string | null
  body: string
  createdAt: string
}

export interface NoteAdded {
  chatId: string
  note: Note
}

export interface NoteAddedEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'note_added'
  /** the session (WhatsApp number) */
  session: string
  data: NoteAdded
}

export interface NoteBody {
  body: string
}

export interface NoteList {
  notes: Note[]
}

export interface PairingBody {
  /** the number in international format */
  phone: string
}

export interface PairingCode {
  code: string
}

export interface Participant {
  id: string
  /** null for a plain member */
  admin: 'admin' | 'superadmin' | null
}

export interface Picture {
  url: string | null
}

export interface Poll {
  events: Envelope[]
  lastEventId: string
}

export interface PollBody {
  name: string
  /** 2..12, distinct */
  options: string[]
  /** how many a voter may pick; 0 any, default 1 */
  selectableCount?: number
}

export interface Presence {
  chatId: string
  /** participant jid -> {lastKnownPresence, lastSeen?} */
  presences: Record<string, Record<string, unknown>>
}

export interface PresenceBody {
  /** composing, recording (audio) or paused in this chat; available or unavailable: the whole account online or not */
  state: 'composing' | 'recording' | 'paused' | 'available' | 'unavailable'
}

export interface PresenceEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'presence'
  /** the session (WhatsApp number) */
  session: string
  data: Presence
}

export interface PresenceSent {
  chatId: string
  state: 'composing' | 'recording' | 'paused' | 'available' | 'unavailable'
  /** a presence subscribe to the chat went first (once per connection) */
  subscribed: boolean
}

export interface Profile {
  id: string
  displayName: string | null
  role: 'admin' | 'supervisor' | 'agent'
  /** the sessions (WhatsApp numbers) they work on */
  sessions: string[]
}

export interface ProfileBody {
  role: 'admin' | 'supervisor' | 'agent'
  displayName?: string
  /** the sessions an agent works on (absent: unchanged; a new profile gets ["default"]); ids of sessions not created yet are kept */
  sessions?: string[]
}

export interface Qr {
  qr: string
}

export interface QrEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'qr'
  /** the session (WhatsApp number) */
  session: string
  data: Qr
}

export interface QrText {
  qr: string | null
}

export interface QuickReply {
  id: number
  shortcut: string
  body: string
}

export interface QuickReplyBody {
  shortcut: string
  body: string
}

export interface QuickReplyList {
  quickReplies: QuickReply[]
}

export interface Reaction {
  emoji: string
  sender: string
}

export interface ReactionBody {
  messageId: string
  /** one emoji; '' removes your reaction */
  emoji: string
}

export interface ReadReceipts {
  chatId: string
  receipts: number
}

export interface ReplayBody {
  /** a stream id: every stored event after it, in order */
  since?: string
  /** true: the endpoint's dead letters, in order */
  deadLetters?: boolean
}

export interface ReplayQueued {
  queued: number
}

export interface Restarting {
  restarting: true
}

export interface Resync {
  /** refetch the REST snapshots, then carry on */
  reason: string
}

export interface ResyncEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'resync'
  /** the session (WhatsApp number) */
  session: string
  data: Resync
}

export interface SearchResults {
  messages: Message[]
  nextOffset: number | null
}

export interface SendAccepted {
  /** status pending; the rest on the streams. For an edit or a delete: the target as it will look once applied */
  message: Message
  /** the id of the message that goes out; null for a delete for you only */
  sendId: string | null
  /** the message an edit or delete changes */
  targetId: string | null
}

export interface SendBody {
  /** a jid, or a phone number in any usual notation */
  chatId: string
  text?: string
  quotedId?: string
  media?: MediaBody
  reaction?: ReactionBody
  location?: LocationBody
  contacts?: ContactCardBody[]
  poll?: PollBody
  forward?: ForwardBody
  edit?: EditBody
  delete?: DeleteBody
}

export interface Session {
  id: string
  name: string
  connected: boolean
  /** the connection's state, as in /status */
  state: string
  /** the linked account (id, name) */
  me: Record<string, unknown> | null
  bridge: SessionBridge
  /** scheme://host:port; never credentials */
  proxy: string | null
  /** unread messages in the chats the caller may see */
  unread: number
}

export interface SessionBody {
  /** a slug: lowercase letters, digits, '-' and '_', at most 40 */
  id: string
  name?: string
  /** a bridge running elsewhere; without it, one is spawned */
  bridge?: SessionBridgeBody
  /** the outbound proxy of this number's connection */
  proxy?: string
}

export interface SessionBridge {
  /** its heartbeats arrive */
  alive: boolean
  /** the orchestrator runs it */
  spawned: boolean
  /** the spawned process, while it runs */
  pid: number | null
  /** restarts of a spawned bridge */
  restarts: number | null
}

export interface SessionBridgeBody {
  /** the bridge's PUB endpoint (tcp:// or ipc://) */
  pub: string
  /** the bridge's ROUTER endpoint */
  router: string
}

export interface SessionDeleted {
  sessionId: string
  /** its helpdesk data (and stored chats) deleted too */
  purged: boolean
}

export interface SessionDeletedEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'session_deleted'
  /** the session (WhatsApp number) */
  session: string
  data: SessionDeleted
}

export interface SessionList {
  sessions: Session[]
}

export interface SpawnedBridge {
  pid: number | null
  restarts: number
  nextStartAt: number | null
}

export interface Status {
  connected: boolean
  state: 'connecting' | 'open' | 'close' | 'qr' | 'logged_out' | 'replaced' | 'stopped'
  reason: CloseReason | null
  /** reconnect attempts since the last stable open */
  attempt: number
  /** unix time of the next reconnect */
  nextRetryAt: number | null
  /** QR codes shown unscanned in a row */
  qrRounds: number
  /** the linked account (id, name) */
  me: Record<string, unknown> | null
  bridge: BridgeStatus
  /** the last history-sync progress WhatsApp reported; null before any */
  sync: SyncProgress | null
}

export interface StatusBody {
  status: 'open' | 'pending' | 'resolved'
}

export interface StatusCounts {
  open: number
  pending: number
  resolved: number
}

export interface StoreReport {
  up: boolean
  pendingRows: number
  lagSeconds: number
  lastError: string | null
}

export interface StreamToken {
  /** a read-only bearer token (also `?access_token=`): GET routes and the streams the user may read; never writes nor admin routes (403 read_only_token) */
  token: string
  /** unix seconds; then 401 (ask for a new one) */
  expiresAt: number
  /** whose view; null: the operator's */
  userId: string | null
  /** the sessions it is narrowed to; null: not narrowed */
  sessions: string[] | null
}

export interface StreamTokenBody {
  /** the helpdesk user whose view the token carries (their role and sessions, read from their profile each time the token is used); absent or null: the caller's (the API token's: the operator's) */
  userId?: string | null
  /** narrow the token to these sessions (each one the user may use); absent or null: every session the user may use */
  sessions?: string[] | null
  /** how long the token lives (default 900) */
  ttlSeconds?: number
}

export interface SupabaseAuthConfig {
  url: string
  /** the project's public (anon) key */
  anonKey: string
}

export interface SyncProgress {
  progress: number | null
  syncType: number | null
  isLatest: boolean | null
}

export interface SyncProgressEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'sync_progress'
  /** the session (WhatsApp number) */
  session: string
  data: SyncProgress
}

export interface Tag {
  id: number
  name: string
  color: string | null
}

export interface TagBody {
  name: string
  color?: string
}

export interface TagList {
  tags: Tag[]
}

export interface TagsChanged {
  chatId: string
  tags: Tag[]
}

export interface TagsChangedEnvelope {
  /** <bridge epoch>:<bridge seq>:<n>; '' for an ephemeral envelope (agent_presence), which names no stream position */
  id: string
  type: 'tags_changed'
  /** the session (WhatsApp number) */
  session: string
  data: TagsChanged
}

export interface TransportReport {
  kind: 'zmq' | 'nats' | 'memory'
  connected: boolean | null
  stream: string | null
  lastStreamSeq: number | null
  fenced: number | null
}

export interface Webhook {
  id: string
  url: string
  events: ('connection_status' | 'qr' | 'new_message' | 'message_update' | 'message_ack' | 'new_chat' | 'chat_update' | 'chat_deleted' | 'contact_update' | 'presence' | 'sync_progress' | 'resync' | 'assignment_changed' | 'tags_changed' | 'note_added' | 'label_update' | 'call' | 'session_deleted' | 'agent_presence')[] | null
  sessions: string[] | null
  chatTypes: ('direct' | 'group')[] | null
  description: string | null
  enabled: boolean
  concurrency: number
  /** why it was disabled (by an admin, a 410, failing) */
  disabledReason: string | null
  disabledAt: string | null
  createdAt: string
  updatedAt: string
  /** until then the rotated-out secret signs too */
  previousSecretExpiresAt: string | null
  health: WebhookHealth
}

export interface WebhookBody {
  /** http(s); it must resolve to public addresses unless its host is in ORCH_MEDIA_URL_ALLOWLIST */
  url: string
  /** deliver only these stream event types (never `resync`); null: all */
  events?: ('connection_status' | 'qr' | 'new_message' | 'message_update' | 'message_ack' | 'new_chat' | 'chat_update' | 'chat_deleted' | 'contact_update' | 'presence' | 'sync_progress' | 'resync' | 'assignment_changed' | 'tags_changed' | 'note_added' | 'label_update' | 'call' | 'session_deleted' | 'agent_presence')[] | null
  /** only these sessions' events (registered sessions); null: every session */
  sessions?: string[] | null
  /** only events of these chats (group: @g.us; direct: a person); events without a chat then do not match; null: every event */
  chatTypes?: ('direct' | 'group')[] | null
  description?: string | null
  enabled?: boolean
  /** requests in flight at most (one per chat at a time); default ORCH_WEBHOOK_CONCURRENCY */
  concurrency?: number
}

export interface WebhookCreated {
  id: string
  url: string
  events: ('connection_status' | 'qr' | 'new_message' | 'message_update' | 'message_ack' | 'new_chat' | 'chat_update' | 'chat_deleted' | 'contact_update' | 'presence' | 'sync_progress' | 'resync' | 'assignment_changed' | 'tags_changed' | 'note_added' | 'label_update' | 'call' | 'session_deleted' | 'agent_presence')[] | null
  sessions: string[] | null
  chatTypes: ('direct' | 'group')[] | null
  description: string | null
  enabled: boolean
  concurrency: number
  /** why it was disabled (by an admin, a 410, failing) */
  disabledReason: string | null
  disabledAt: string | null
  createdAt: string
  updatedAt: string
  /** until then the rotated-out secret signs too */
  previousSecretExpiresAt: string | null
  health: WebhookHealth
  /** whsec_...: verify deliveries with it (Standard Webhooks); shown once */
  secret: string
}

export interface WebhookDelivery {
  /** the stream id, sent as webhook-id */
  eventId: string
  session: string
  type: string
  chatId: string | null
  status: 'pending' | 'retrying' | 'delivered' | 'dead'
  attempts: number
  createdAt: string
  lastAttemptAt: string | null
  nextAttemptAt: string | null
  statusCode: number | null
  latencyMs: number | null
  error: string | null
  responseExcerpt: string | null
}

export interface WebhookDeliveryList {
  deliveries: WebhookDelivery[]
}

export interface WebhookHealth {
  /** deliveries not made yet, retrying ones included */
  pending: number
  /** deliveries that failed and wait to retry */
  retrying: number
  /** deliveries given up (replay them) */
  deadLetters: number
  /** deliveries made since the process started */
  delivered: number
  /** failed attempts since the process started */
  failed: number
  lastSuccessAt: string | null
  lastFailureAt: string | null
  lastError: string | null
  oldestPendingSeconds: number | null
}

export interface WebhookList {
  webhooks: Webhook[]
}

export interface WebhookPatch {
  /** http(s); it must resolve to public addresses unless its host is in ORCH_MEDIA_URL_ALLOWLIST */
  url?: string
  /** deliver only these stream event types (never `resync`); null: all */
  events?: ('connection_status' | 'qr' | 'new_message' | 'message_update' | 'message_ack' | 'new_chat' | 'chat_update' | 'chat_deleted' | 'contact_update' | 'presence' | 'sync_progress' | 'resync' | 'assignment_changed' | 'tags_changed' | 'note_added' | 'label_update' | 'call' | 'session_deleted' | 'agent_presence')[] | null
  /** only these sessions' events (registered sessions); null: every session */
  sessions?: string[] | null
  /** only events of these chats (group: @g.us; direct: a person); events without a chat then do not match; null: every event */
  chatTypes?: ('direct' | 'group')[] | null
  description?: string | null
  enabled?: boolean
  /** requests in flight at most (one per chat at a time); default ORCH_WEBHOOK_CONCURRENCY */
  concurrency?: number
}

export interface WebhookSecret {
  secret: string
  previousSecretExpiresAt: string | null
}

export interface Week {
  /** open intervals, start < end; [] closed all day */
  mon: Interval[]
  /** open intervals, start < end; [] closed all day */
  tue: Interval[]
  /** open intervals, start < end; [] closed all day */
  wed: Interval[]
  /** open intervals, start < end; [] closed all day */
  thu: Interval[]
  /** open intervals, start < end; [] closed all day */
  fri: Interval[]
  /** open intervals, start < end; [] closed all day */
  sat: Interval[]
  /** open intervals, start < end; [] closed all day */
  sun: Interval[]
}

export type EventType = 'connection_status' | 'qr' | 'new_message' | 'message_update' | 'message_ack' | 'new_chat' | 'chat_update' | 'chat_deleted' | 'contact_update' | 'presence' | 'sync_progress' | 'resync' | 'assignment_changed' | 'tags_changed' | 'note_added' | 'label_update' | 'call' | 'session_deleted' | 'agent_presence'

export type ErrorCode = 'already_deleted' | 'app_state_not_ready' | 'bad_agentId' | 'bad_assigned' | 'bad_assignment' | 'bad_awayMessage' | 'bad_body' | 'bad_bridge' | 'bad_businessHours' | 'bad_chatTypes' | 'bad_color' | 'bad_concurrency' | 'bad_contacts' | 'bad_delete' | 'bad_description' | 'bad_displayName' | 'bad_edit' | 'bad_enabled' | 'bad_event_id' | 'bad_events' | 'bad_forward' | 'bad_greeting' | 'bad_limit' | 'bad_location' | 'bad_media' | 'bad_media_signature' | 'bad_name' | 'bad_offset' | 'bad_poll' | 'bad_poll_options' | 'bad_poll_selectable_count' | 'bad_proxy' | 'bad_q' | 'bad_quotedId' | 'bad_reaction' | 'bad_replay' | 'bad_reply_id' | 'bad_request' | 'bad_role' | 'bad_session_id' | 'bad_sessions' | 'bad_shortcut' | 'bad_state' | 'bad_status' | 'bad_tag' | 'bad_tagId' | 'bad_tag_id' | 'bad_text' | 'bad_timeout' | 'bad_ttl' | 'bad_url' | 'bad_user_id' | 'blank_text' | 'body_too_large' | 'bridge_error' | 'bridge_not_running' | 'bridge_required' | 'chat_ignored' | 'chat_not_found' | 'empty_message' | 'forbidden' | 'invalid_chat_id' | 'invalid_contact_phone' | 'invalid_json' | 'invalid_phone' | 'location_out_of_range' | 'media_link_expired' | 'media_not_found' | 'media_source_conflict' | 'media_store_unavailable' | 'media_too_large' | 'media_unavailable' | 'media_url_forbidden' | 'message_not_found' | 'no_profile' | 'no_push_name' | 'no_qr' | 'not_connected' | 'not_editable' | 'not_forwardable' | 'not_found' | 'not_spawned' | 'not_your_message' | 'one_kind_per_send' | 'quick_reply_exists' | 'reaction_not_emoji' | 'read_only_token' | 'send_queue_full' | 'session_exists' | 'session_is_default' | 'session_not_found' | 'store_unavailable' | 'tag_exists' | 'text_too_long' | 'too_many_failures' | 'unauthorized' | 'unknown_event' | 'unknown_message' | 'unknown_user' | 'unknown_webhook' | 'webhook_disabled' | 'webhook_url_forbidden'

// Types for wa-cache.js: wa-client.js's cache and the pure rules that change it.

import type { Chat, Envelope, Message, Status } from './wa-client'

export type Presences = Record<string, { lastKnownPresence?: string }>

export interface SyncProgress {
  progress: number | null
  syncType: number | null
  isLatest: boolean | null
}

/** A loaded chat's messages. Read it; only WaCache changes it. */
export interface MessageList {
  chatId: string
  /** Oldest first. */
  list: Message[]
  byId: Map<string, Message>
  hasOlder: boolean
}

/** A chat with the session (WhatsApp number) it is on: allChats(). */
export type SessionChat = Chat & { session: string }

/** What one change did, and what the caller must do about it. */
export interface Changes {
  /** The session the change is in (`default` for an envelope or call that names none). */
  session: string
  /** The envelope was applied (UI code hears of it); false for a duplicate, a held one, or anything else. */
  applied: boolean
  /** The envelope was held (a reload is under way). */
  held: boolean
  /** The chat list (or a chat) changed. */
  chats: boolean
  /** Chats whose loaded messages changed. */
  messages: Set<string>
  status: boolean
  qr: boolean
  sync: boolean
  presence: { chatId: string; presences: Presences }[]
  /** Refetch the snapshots (hold() first, applySnapshot(), then receive what release() gives back). */
  reload: 'resync' | null
  /** A history sync happened: its messages come only with refetched snapshots. */
  refetch: boolean
  /** A session was deleted (`session_deleted`): its data is gone from the cache. */
  deleted: string | null
}

export interface Snapshot {
  status: Status | null
  chats: Chat[]
  /** GET /qr's answer, when the status says 'qr'. */
  qr?: string | null
  /** The newest page of each chat of loadedChatIds(); a chat left out is unloaded. */
  pages?: Map<string, Message[]>
}

export const ENVELOPE_TYPES: readonly string[]
export const PAGE_SIZE: number
export const SEEN_IDS: number
export const DEFAULT_SESSION: string

export function noChanges(session?: string): Changes
export function compareMessages(a: Message, b: Message): number
export function sortMessages(list: Message[]): Message[]
export function insertSorted(list: Message[], m: Message): Message[]

export class WaCache {
  constructor(options?: { pageSize?: number; seenIds?: number })
  readonly pageSize: number
  /**
   * The position: the last id applied of each session, comma-separated (one id with one
   * session), or the one the server gave. Setting it forgets each session's.
   */
  lastEventId: string | null
  /** The default session's QR version. */
  readonly qrVersion: number
  readonly holding: boolean

  /** Start from each session's position as the server gave it ([session, id]). */
  startAt(positions: Iterable<[string, string | null]>): void
  /** Each id of a poll's answer (of a session known by its epoch) is its session's position. */
  advance(position: string): void
  sessionIds(): string[]
  qrVersionOf(session: string): number
  /** Every session's chats with their session, most recent first. */
  allChats(): SessionChat[]
  /** The sum of a session's chats' unreadCount. */
  unread(session?: string): number

  // `session` defaults to 'default' (what a call without one, and an envelope without one, is).
  chats(session?: string): Chat[]
  chat(chatId: string, session?: string): Chat | undefined
  status(session?: string): Status | null
  qr(session?: string): string | null
  syncProgress(session?: string): SyncProgress | null
  presence(chatId: string, session?: string): Presences | null
  messageList(chatId: string, session?: string): MessageList | undefined
  messages(chatId: string, session?: string): Message[]
  hasOlder(chatId: string, session?: string): boolean
  loadedChatIds(chats: Chat[], session?: string): string[]

  receive(envelope: Envelope): Changes
  hold(): boolean
  release(): Envelope[]
  dropSession(session: string): Changes
  applySnapshot(snapshot: Snapshot, session?: string): Changes
  startLatest(chatId: string, session?: string): MessageList
  applyLatest(list: MessageList, page: Message[], session?: string): Changes
  dropLatest(chatId: string, session?: string): void
  applyOlder(list: MessageList, page: Message[], session?: string): { added: Message[]; changes: Changes }
  applySent(message: Message, session?: string): { message: Message; changes: Changes }
  /** A chat that became visible (fetched by REST) joins the list; a cached copy stays. */
  adoptChat(chat: Chat, session?: string): Changes
  /** A chat this user may no longer see leaves the list, with its messages. */
  forgetChat(chatId: string, session?: string): Changes
}

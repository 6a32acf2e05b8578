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

/** What one change did, and what the caller must do about it. */
export interface Changes {
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

export function noChanges(): Changes
export function compareMessages(a: Message, b: Message): number
export function sortMessages(list: Message[]): Message[]
export function insertSorted(list: Message[], m: Message): Message[]

export class WaCache {
  constructor(options?: { pageSize?: number; seenIds?: number })
  readonly pageSize: number
  /** The id of the last envelope applied, or the position the server gave. */
  lastEventId: string | null
  readonly qrVersion: number
  readonly holding: boolean

  chats(): Chat[]
  chat(chatId: string): Chat | undefined
  status(): Status | null
  qr(): string | null
  syncProgress(): SyncProgress | null
  presence(chatId: string): Presences | null
  messageList(chatId: string): MessageList | undefined
  messages(chatId: string): Message[]
  hasOlder(chatId: string): boolean
  loadedChatIds(chats: Chat[]): string[]

  receive(envelope: Envelope): Changes
  hold(): boolean
  release(): Envelope[]
  applySnapshot(snapshot: Snapshot): Changes
  startLatest(chatId: string): MessageList
  applyLatest(list: MessageList, page: Message[]): Changes
  dropLatest(chatId: string): void
  applyOlder(list: MessageList, page: Message[]): { added: Message[]; changes: Changes }
  applySent(message: Message): { message: Message; changes: Changes }
}

/**
 * The hooks: each reads one or a few slices of the provider's store with
 * useSyncExternalStore, so it re-renders when what it returns changes, and only then.
 */
'use client'

import type { Assignment, Chat, ClientState, Envelope, Message, Note, SendOptions, Status, SyncProgress, Tag, WaClient } from '@wa-helpdesk/client'
import { useCallback, useEffect, useMemo, useRef, useState, useSyncExternalStore } from 'react'
import { useWaStore } from './provider.js'
import type { RealtimeLike } from './realtime.js'
import {
  chatsKey,
  connectionKey,
  type ConnectionSlice,
  type ConversationStatus,
  type MessagesSlice,
  type MetaSlice,
  messagesKey,
  metaKey,
  type NotesSlice,
  notesKey,
  sameItems,
  shallowEqual,
  type WaStore,
} from './store.js'

/** One event of the client, as client.subscribe() gives it. */
export interface WaEvent {
  type: string
  data: unknown
  envelope?: Envelope
}

/** One slice of the store (null: none, `fallback` instead). */
function useSlice<T>(store: WaStore, key: string | null, fallback: T): T {
  const subscribe = useCallback((listener: () => void) => (key === null ? () => undefined : store.subscribe(key, listener)), [store, key])
  const getSnapshot = useCallback(() => (key === null ? fallback : store.get<T>(key)), [store, key, fallback])
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot)
}

/**
 * A value derived from a slice, kept the same object while equal: a component whose selection
 * did not change is not re-rendered even when the slice is (a filtered chat list when a chat
 * outside the filter changes). `deps` are what `select` reads besides the slice.
 */
function useSelected<T, S>(store: WaStore, key: string, select: (value: T) => S, equal: (a: S, b: S) => boolean, deps: unknown[]): S {
  const subscribe = useCallback((listener: () => void) => store.subscribe(key, listener), [store, key])
  const last = useRef<{ input: T; output: S } | null>(null)
  const getSnapshot = useMemo(() => {
    let memo: { input: T; output: S } | null = null
    return () => {
      const input = store.get<T>(key)
      if (memo && memo.input === input) return memo.output
      const output = select(input)
      // Across a change of `deps` too: an equal selection stays the same object.
      const previous = memo?.output ?? last.current?.output
      memo = { input, output: previous !== undefined && equal(previous, output) ? previous : output }
      last.current = memo
      return memo.output
    }
  }, [store, key, ...deps])
  return useSyncExternalStore(subscribe, getSnapshot, getSnapshot)
}

/** (Never shown: the link slice always exists.) */
const IDLE: ClientState = { link: 'idle', transport: null, attempt: 0, blockedStreams: 0, nextRetryAt: null, lastEventId: null, error: null }

// ---- useWhatsAppSocket ------------------------------------------------------------------------

export interface WhatsAppSocket {
  /** The client's link: idle, connecting, live, reconnecting, unauthorized, closed; transport... */
  state: ClientState
  /** The stream (or its polling fallback) is up. */
  connected: boolean
  client: WaClient
  /** Every event of the client as it comes (not coalesced): returns the unsubscribe. */
  subscribe(fn: (event: WaEvent) => void): () => void
}

/** The migration plan's hook: the connection's state and the raw event subscription. */
export function useWhatsAppSocket(): WhatsAppSocket {
  const store = useWaStore()
  const state = useSlice<ClientState>(store, 'link', IDLE)
  const subscribe = useCallback((fn: (event: WaEvent) => void) => store.client.subscribe(fn), [store])
  return useMemo(() => ({ state, connected: state.link === 'live', client: store.client, subscribe }), [state, store, subscribe])
}

// ---- useConnection ----------------------------------------------------------------------------

export interface Connection {
  /** WhatsApp's side (GET /status, then connection_status envelopes). */
  status: Status | null
  /** The QR to scan while WhatsApp waits to be linked, else null. */
  qr: string | null
  link: ClientState['link']
  transport: ClientState['transport']
  /** The last history-sync progress, or null. */
  sync: SyncProgress | null
}

/** WhatsApp's connection of a session (status, QR, history sync) and the client's link. */
export function useConnection(session?: string): Connection {
  const store = useWaStore()
  const id = session ?? store.session
  const connection = useSlice<ConnectionSlice>(store, connectionKey(id), EMPTY_CONNECTION)
  const link = useSelected<ClientState, Pick<ClientState, 'link' | 'transport'>>(store, 'link', (s) => ({ link: s.link, transport: s.transport }), shallowEqual, [])
  return useMemo(() => ({ ...connection, ...link }), [connection, link])
}

const EMPTY_CONNECTION: ConnectionSlice = { status: null, qr: null, sync: null }

// ---- useChats ---------------------------------------------------------------------------------

export interface ChatFilters {
  session?: string
  /** 'me': assigned to the signed-in user (GET /me); 'none': unassigned; else an agent id. */
  assigned?: 'me' | 'none' | string
  /** A tag id, or a tag name. */
  tag?: number | string
  status?: ConversationStatus
  /** Part of the chat's name, id or last message, any case. */
  search?: string
}

export interface Chats {
  chats: Chat[]
  /** The first snapshot (or who "me" is) is still on its way. */
  loading: boolean
}

/** A session's chats, most recent first, filtered; live. */
export function useChats(filters: ChatFilters = {}): Chats {
  const store = useWaStore()
  const session = filters.session ?? store.session
  const { assigned, tag, status, search } = filters
  const ready = useSlice<boolean>(store, 'ready', false)
  const me = useSlice<string | null | undefined>(store, assigned === 'me' ? 'me' : null, undefined)
  const chats = useSelected<Chat[], Chat[]>(
    store,
    chatsKey(session),
    (list) => filterChats(list, { assigned: assigned === 'me' ? (me ?? null) : assigned, tag, status, search }),
    sameItems,
    [assigned, tag, status, search, me],
  )
  const loading = !ready || (assigned === 'me' && me === undefined)
  return useMemo(() => ({ chats, loading }), [chats, loading])
}

/** The chats that pass every filter given (`assigned` is an agent id, 'none', or null: nobody's). */
export function filterChats(list: Chat[], f: { assigned?: string | null; tag?: number | string; status?: ConversationStatus; search?: string }): Chat[] {
  const needle = f.search?.trim().toLowerCase() ?? ''
  const none = f.assigned === undefined && f.tag === undefined && f.status === undefined && needle === ''
  if (none) return list
  return list.filter((chat) => {
    if (f.assigned !== undefined) {
      const agent = chat.assignment?.agentId ?? null
      if (f.assigned === 'none' ? agent !== null : f.assigned === null || agent !== f.assigned) return false
    }
    if (f.tag !== undefined && !chat.tags.some((t) => t.id === f.tag || t.name === f.tag)) return false
    if (f.status !== undefined && (chat.status ?? 'open') !== f.status) return false
    if (needle !== '') {
      const text = `${chat.name ?? ''}\n${chat.id}\n${chat.lastMessage?.text ?? ''}`.toLowerCase()
      if (!text.includes(needle)) return false
    }
    return true
  })
}

// ---- useMessages ------------------------------------------------------------------------------

export interface Messages {
  /** Oldest first: the newest page, older pages as loaded, and what the stream brings. */
  messages: Message[]
  /** The newest page is on its way. */
  loading: boolean
  /** An older page is on its way. */
  loadingOlder: boolean
  error: Error | null
  hasOlder: boolean
  /** Fetch the page before the oldest message shown (a failure is `error`; it never rejects). */
  loadOlder(): Promise<void>
}

const EMPTY_MESSAGES: MessagesSlice = { messages: [], loading: false, loadingOlder: false, error: null, hasOlder: false }

/** A chat's messages (null: none), paged and live; the newest page is fetched on first use. */
export function useMessages(chatId: string | null, options: { session?: string } = {}): Messages {
  const store = useWaStore()
  const session = options.session ?? store.session
  const slice = useSlice<MessagesSlice>(store, chatId === null ? null : messagesKey(session, chatId), EMPTY_MESSAGES)
  const loadOlder = useCallback(() => (chatId === null ? Promise.resolve() : store.loadOlder(session, chatId)), [store, session, chatId])
  return useMemo(() => ({ ...slice, loadOlder }), [slice, loadOlder])
}

// ---- useSend ----------------------------------------------------------------------------------

export interface Send {
  /** Resolves to the sent message (pending; acks follow on the stream), shown at once by useMessages. */
  send(options: SendOptions): Promise<Message>
  sending: boolean
  error: Error | null
}

export function useSend(options: { session?: string } = {}): Send {
  const store = useWaStore()
  const session = options.session ?? store.session
  const [inFlight, setInFlight] = useState(0)
  const [error, setError] = useState<Error | null>(null)
  const send = useCallback(
    async (o: SendOptions) => {
      setInFlight((n) => n + 1)
      setError(null)
      try {
        return await store.scope(session).send(o)
      } catch (err) {
        setError(asError(err))
        throw err
      } finally {
        setInFlight((n) => n - 1)
      }
    },
    [store, session],
  )
  return useMemo(() => ({ send, sending: inFlight > 0, error }), [send, inFlight, error])
}

// ---- useHelpdesk ------------------------------------------------------------------------------

export interface Helpdesk {
  assignment: Assignment | null
  tags: Tag[]
  notes: Note[]
  status: ConversationStatus
  assign(agentId: string): Promise<void>
  unassign(): Promise<void>
  setStatus(status: ConversationStatus): Promise<void>
  addNote(body: string): Promise<Note>
  /** The notes are on their way. */
  loading: boolean
  error: Error | null
}

const EMPTY_META: MetaSlice = { assignment: null, tags: [], status: 'open', known: false }
const EMPTY_NOTES: NotesSlice = { notes: [], loading: false, error: null }

/**
 * A chat's helpdesk data: assignment, tags, status and notes, live from the orchestrator's
 * stream (assignment_changed, tags_changed, chat_update, note_added) and, given `realtime` (a
 * supabase-js client), from the Supabase tables the app writes too.
 */
export function useHelpdesk(chatId: string | null, options: { session?: string; realtime?: RealtimeLike } = {}): Helpdesk {
  const store = useWaStore()
  const session = options.session ?? store.session
  const { realtime } = options
  const meta = useSlice<MetaSlice>(store, chatId === null ? null : metaKey(session, chatId), EMPTY_META)
  const notes = useSlice<NotesSlice>(store, chatId === null ? null : notesKey(session, chatId), EMPTY_NOTES)
  const [actionError, setActionError] = useState<Error | null>(null)

  useEffect(() => (realtime && chatId !== null ? store.watchRealtime(realtime, session, chatId) : undefined), [store, realtime, session, chatId])

  const act = useCallback(
    async <T>(call: (id: string) => Promise<T>): Promise<T> => {
      if (chatId === null) throw new Error('useHelpdesk: no chat')
      setActionError(null)
      try {
        return await call(chatId)
      } catch (err) {
        setActionError(asError(err))
        throw err
      }
    },
    [chatId],
  )
  const actions = useMemo(
    () => ({
      assign: (agentId: string) =>
        act(async (id) => {
          const { assignment } = await store.scope(session).assign(id, agentId)
          store.patchMeta(session, id, { assignment })
        }),
      unassign: () =>
        act(async (id) => {
          const { assignment } = await store.scope(session).unassign(id)
          store.patchMeta(session, id, { assignment })
        }),
      setStatus: (status: ConversationStatus) =>
        act(async (id) => {
          const answer = await store.scope(session).setStatus(id, status)
          store.patchMeta(session, id, { status: answer.status })
        }),
      addNote: (body: string) =>
        act(async (id) => {
          const note = await store.scope(session).addNote(id, body)
          store.addNote(session, id, note)
          return note
        }),
    }),
    [act, store, session],
  )
  return useMemo(
    () => ({ assignment: meta.assignment, tags: meta.tags, status: meta.status, notes: notes.notes, loading: notes.loading, error: notes.error ?? actionError, ...actions }),
    [meta, notes, actionError, actions],
  )
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

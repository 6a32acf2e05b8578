/**
 * WaStore: the one store of a WhatsAppProvider, between a WaClient and the hooks.
 *
 * - One client subscription per store, whatever the number of components: the hooks read
 *   slices of the client's cache through the store, never the client's events.
 * - A slice is keyed by what it shows (`chats:<session>`, `messages:<session>\n<chatId>`, ...)
 *   and holds an immutable snapshot for useSyncExternalStore: the same object until what it
 *   shows changes, so a component re-renders only when its own slice does.
 * - Updates are coalesced: an event marks the slices it may change, and one flush per
 *   `batchMs` (a frame by default) recomputes them and tells their listeners. A burst of
 *   1,000 envelopes is a few flushes, not 1,000 renders.
 * - What the client does not cache (a chat's notes, who "me" is, the tag catalogue, what
 *   Supabase Realtime reported) the store keeps, per session and chat.
 */
import type { Assignment, Chat, ClientState, Envelope, Message, Note, Status, SyncProgress, Tag, WaClient, WaSession } from '@wa-helpdesk/client'
import { type HelpdeskPatch, HELPDESK_TABLES, patchFromRow, type RealtimeChannelLike, type RealtimeLike } from './realtime.js'

export type ConversationStatus = 'open' | 'pending' | 'resolved'

/** The session's calls: the client itself (unscoped routes) or client.session(id). */
export type Scope = WaClient | WaSession

export interface StoreOptions {
  /** The hooks' session when they name none: else the client's first followed session, else 'default'. */
  session?: string
  /**
   * How long changes are gathered before components hear of them, in ms (16: about a frame).
   * 0 gathers what one task changed (a microtask).
   */
  batchMs?: number
}

export interface ConnectionSlice {
  status: Status | null
  qr: string | null
  sync: SyncProgress | null
}

export interface MessagesSlice {
  messages: Message[]
  /** The newest page is being fetched (and nothing is cached yet). */
  loading: boolean
  /** An older page is being fetched. */
  loadingOlder: boolean
  error: Error | null
  hasOlder: boolean
}

export interface MetaSlice {
  assignment: Assignment | null
  tags: Tag[]
  status: ConversationStatus
  /** The chat is in the cache (visible to this user). */
  known: boolean
}

export interface NotesSlice {
  notes: Note[]
  loading: boolean
  error: Error | null
}

type Listener = () => void

interface Slice {
  value: unknown
  listeners: Set<Listener>
  /** Marked while nobody listened: recompute on the next read. */
  stale: boolean
  read(): unknown
  equal(a: unknown, b: unknown): boolean
  /** The first listener arrived: start what the slice needs (a page, the notes). */
  activate?(): void
}

/** The store's own record of a chat's helpdesk data: the cache's, overlaid with newer news. */
interface MetaRecord {
  /** The chat as the cache had it when last compared. */
  seen: Chat | undefined
  assignment: Assignment | null
  tags: Tag[]
  status: ConversationStatus
  /** Fields told (patchMeta) while the chat was not in the cache: its first copy is not newer. */
  patched: Set<'assignment' | 'tags' | 'status'>
}

interface NotesRecord {
  notes: Note[]
  /** Asked for before the snapshots were in: fetched after them. */
  waiting: boolean
  loading: Promise<void> | null
  error: Error | null
  loaded: boolean
}

interface PageRecord {
  /** Asked for before the snapshots were in: fetched after them (which would refetch it). */
  waiting: boolean
  loading: Promise<void> | null
  loadingOlder: Promise<void> | null
  error: Error | null
}

const DEFAULT_SESSION = 'default'
const EMPTY: never[] = []

export class WaStore {
  readonly client: WaClient
  /** The hooks' session when they name none. */
  readonly session: string
  private readonly batchMs: number
  private readonly slices = new Map<string, Slice>()
  private readonly dirty = new Set<string>()
  private flushScheduled = false
  private flushTimer: ReturnType<typeof setTimeout> | null = null
  private detach: (() => void) | null = null
  /** The snapshots were loaded at least once: lists are no longer "loading". */
  private ready: boolean
  private me: string | null | undefined = undefined
  private meLoading = false
  private readonly meta = new Map<string, MetaRecord>()
  private readonly notes = new Map<string, NotesRecord>()
  private readonly pages = new Map<string, PageRecord>()
  private readonly tagCatalogue = new Map<string, { tags: Tag[] | null; loading: Promise<void> | null }>()
  private readonly channels = new Map<string, { count: number; channel: RealtimeChannelLike; realtime: RealtimeLike }>()
  private readonly realtimeIds = new WeakMap<RealtimeLike, number>()
  private flushCount = 0

  constructor(client: WaClient, options: StoreOptions = {}) {
    this.client = client
    this.session = options.session ?? client.following?.[0] ?? DEFAULT_SESSION
    this.batchMs = options.batchMs ?? 16
    this.ready = isLoaded(client.clientState())
  }

  /** How many flushes told at least one listener (what the render-count test reads beside the renders). */
  get flushes(): number {
    return this.flushCount
  }

  /** Follow the client's events (once per store; returns the undo). */
  attach(): () => void {
    if (!this.detach) {
      const off = this.client.subscribe((event) => this.onEvent(event.type, event.data, event.envelope))
      this.detach = () => {
        off()
        if (this.flushTimer) clearTimeout(this.flushTimer)
        this.flushTimer = null
        this.flushScheduled = false
        this.detach = null
      }
      // Whatever happened before (a client connected by the app first) is read afresh.
      this.ready = this.ready || isLoaded(this.client.clientState())
      for (const key of this.slices.keys()) this.mark(key)
    }
    return this.detach
  }

  /** The calls of a session: the unscoped client for the default session of an unscoped client. */
  scope(session: string): Scope {
    return this.client.following === null && session === DEFAULT_SESSION ? this.client : this.client.session(session)
  }

  // ---- slices: what useSyncExternalStore reads ---------------------------------------------

  /** A slice's snapshot: the same object until what it shows changes. */
  get<T>(key: string): T {
    const slice = this.slice(key)
    if (slice.stale) {
      slice.stale = false
      const next = slice.read()
      if (!slice.equal(slice.value, next)) slice.value = next
    }
    return slice.value as T
  }

  /** Listen to one slice; the first listener starts what it needs. */
  subscribe(key: string, listener: Listener): () => void {
    const slice = this.slice(key)
    slice.listeners.add(listener)
    if (slice.listeners.size === 1) {
      // It may have changed while nobody listened (and was not recomputed).
      slice.stale = true
      this.mark(key)
      slice.activate?.()
    }
    return () => {
      slice.listeners.delete(listener)
    }
  }

  private slice(key: string): Slice {
    let slice = this.slices.get(key)
    if (!slice) {
      slice = this.make(key)
      slice.value = slice.read()
      this.slices.set(key, slice)
    }
    return slice
  }

  private make(key: string): Slice {
    const [kind, session = DEFAULT_SESSION, chatId = ''] = key.split('\n')
    const base = { value: undefined, listeners: new Set<Listener>(), stale: false }
    switch (kind) {
      case 'link':
        return { ...base, read: () => this.client.clientState(), equal: shallowEqual }
      case 'ready':
        return { ...base, read: () => this.ready, equal: Object.is }
      case 'me':
        return { ...base, read: () => this.me, equal: Object.is, activate: () => this.loadMe() }
      case 'connection':
        return { ...base, read: () => this.readConnection(session), equal: shallowEqual }
      case 'chats':
        return { ...base, read: () => this.scope(session).chats(), equal: sameItems }
      case 'chat':
        return { ...base, read: () => this.scope(session).chat(chatId), equal: Object.is }
      case 'messages':
        return { ...base, read: () => this.readMessages(session, chatId), equal: sameMessages, activate: () => void this.loadLatest(session, chatId) }
      case 'meta':
        return { ...base, read: () => this.readMeta(session, chatId), equal: sameMeta }
      case 'notes':
        return { ...base, read: () => this.readNotes(session, chatId), equal: shallowEqual, activate: () => void this.loadNotes(session, chatId) }
      default:
        throw new Error(`WaStore: unknown slice ${JSON.stringify(kind)}`)
    }
  }

  /** A slice may have changed: recompute it at the next flush (or next read, unwatched). */
  private mark(key: string): void {
    const slice = this.slices.get(key)
    if (!slice) return
    if (slice.listeners.size === 0) {
      slice.stale = true
      return
    }
    this.dirty.add(key)
    this.scheduleFlush()
  }

  private markKind(kind: string, session?: string): void {
    const prefix = session === undefined ? `${kind}\n` : `${kind}\n${session}`
    for (const key of this.slices.keys()) if (key === kind || key.startsWith(prefix)) this.mark(key)
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    if (this.batchMs <= 0) {
      queueMicrotask(() => this.flush())
    } else {
      this.flushTimer = setTimeout(() => this.flush(), this.batchMs)
    }
  }

  /** Recompute the marked slices, then tell the listeners of those that changed. */
  private flush(): void {
    this.flushScheduled = false
    this.flushTimer = null
    const changed: Slice[] = []
    for (const key of this.dirty) {
      const slice = this.slices.get(key)
      if (!slice) continue
      slice.stale = false
      const next = slice.read()
      if (slice.equal(slice.value, next)) continue
      slice.value = next
      changed.push(slice)
    }
    this.dirty.clear()
    if (changed.length > 0) this.flushCount++
    for (const slice of changed) for (const listener of [...slice.listeners]) listener()
  }

  // ---- the client's events ------------------------------------------------------------------

  private onEvent(type: string, data: unknown, envelope?: Envelope): void {
    switch (type) {
      case 'client':
        this.mark('link')
        break
      case 'status':
      case 'qr':
      case 'sync':
        this.markKind('connection')
        break
      case 'snapshot':
        // (Re)loaded: lists are ready, and what the store fetched itself may be stale.
        this.ready = true
        this.mark('ready')
        this.markKind('connection')
        this.markKind('chats')
        this.markKind('chat')
        this.markKind('meta')
        this.refetchAfterSnapshot()
        break
      case 'chats':
        // Some session's chats changed: each list compares its items, so only those whose
        // chats changed tell their components.
        this.markKind('chats')
        this.markKind('chat')
        this.markKind('meta')
        break
      case 'messages': {
        const { chatId, session } = data as { chatId: string; session: string }
        this.mark(messagesKey(session, chatId))
        break
      }
      case 'note_added': {
        const { chatId, note } = data as { chatId: string; note: Note }
        this.addNote(sessionOf(envelope), chatId, note)
        break
      }
      default:
        break
    }
  }

  private refetchAfterSnapshot(): void {
    for (const [key, record] of this.notes) {
      const [, session, chatId] = key.split('\n')
      if (this.watched(key) && (record.loaded || record.error || record.waiting)) void this.loadNotes(session, chatId, true)
    }
    for (const [key, record] of this.pages) {
      const [, session, chatId] = key.split('\n')
      // A page that waited for the snapshots, or failed (the server was down), is fetched now.
      if (this.watched(key) && (record.error || record.waiting)) void this.loadLatest(session, chatId)
    }
  }

  private watched(key: string): boolean {
    return (this.slices.get(key)?.listeners.size ?? 0) > 0
  }

  // ---- connection -------------------------------------------------------------------------

  private readConnection(session: string): ConnectionSlice {
    const scope = this.scope(session)
    return { status: scope.status(), qr: scope.qr(), sync: scope.syncProgress() }
  }

  // ---- who "me" is (useChats({assigned: 'me'})) -------------------------------------------

  private loadMe(): void {
    if (this.me !== undefined || this.meLoading) return
    this.meLoading = true
    this.client.me().then(
      (me) => {
        this.me = me.userId
      },
      () => {
        // Unknown (an API token names no user): no chat is "mine".
        this.me = null
      },
    ).finally(() => {
      this.meLoading = false
      this.mark('me')
    })
  }

  // ---- messages ---------------------------------------------------------------------------

  private page(session: string, chatId: string): PageRecord {
    const key = messagesKey(session, chatId)
    let record = this.pages.get(key)
    if (!record) this.pages.set(key, (record = { waiting: false, loading: null, loadingOlder: null, error: null }))
    return record
  }

  private readMessages(session: string, chatId: string): MessagesSlice {
    const scope = this.scope(session)
    const record = this.pages.get(messagesKey(session, chatId))
    const messages = scope.cachedMessages(chatId)
    const error = record?.error ?? null
    return {
      messages,
      loading: record?.loading != null || record?.waiting === true,
      loadingOlder: record?.loadingOlder != null,
      error,
      // A chat whose newest page failed has nothing to page back from (until it is fetched).
      hasOlder: error !== null && messages.length === 0 ? false : scope.hasOlder(chatId),
    }
  }

  /**
   * The newest page, unless cached or on its way (the client shares one fetch per chat). Asked
   * before the client's snapshots are in, it waits for them: the snapshots refetch the page of
   * every chat loaded, so fetching it now would fetch it twice.
   */
  loadLatest(session: string, chatId: string): Promise<void> {
    const record = this.page(session, chatId)
    if (record.loading) return record.loading
    const key = messagesKey(session, chatId)
    if (!this.ready) {
      record.waiting = true
      this.mark(key)
      return Promise.resolve()
    }
    record.waiting = false
    return this.track(record, 'loading', key, this.scope(session).messages(chatId))
  }

  /** The page before the oldest cached message; a failure is the slice's `error` (this never rejects). */
  async loadOlder(session: string, chatId: string): Promise<void> {
    const record = this.page(session, chatId)
    if (record.loading) await record.loading
    if (record.loadingOlder) return record.loadingOlder
    return this.track(record, 'loadingOlder', messagesKey(session, chatId), this.scope(session).loadOlder(chatId))
  }

  /** A page fetch in the record's `field` until it settles; a failure is the slice's `error`
   *  (the returned promise never rejects). */
  private track(record: PageRecord, field: 'loading' | 'loadingOlder', key: string, fetching: Promise<unknown>): Promise<void> {
    record.error = null
    const task = fetching
      .then(
        () => undefined,
        (err: unknown) => {
          record.error = asError(err)
        },
      )
      .finally(() => {
        record[field] = null
        this.mark(key)
      })
    record[field] = task
    this.mark(key)
    return task
  }

  // ---- helpdesk: assignment, tags, status (the chat's, overlaid), notes --------------------

  private readMeta(session: string, chatId: string): MetaSlice {
    const key = metaKey(session, chatId)
    const chat = this.scope(session).chat(chatId)
    let record = this.meta.get(key)
    if (!record) {
      record = { seen: chat, assignment: chat?.assignment ?? null, tags: chat?.tags ?? EMPTY, status: chat?.status ?? 'open', patched: new Set() }
      this.meta.set(key, record)
    } else if (record.seen !== chat && chat) {
      // The cache's chat changed: a field it changed is news (the stream's), one it did not
      // change keeps what Realtime or an answer told since. The chat's first copy (the
      // snapshot's) is news only for the fields nothing told meanwhile.
      const seen = record.seen
      const news = (field: 'assignment' | 'tags' | 'status', changed: boolean): boolean => (seen ? changed : !record?.patched.has(field))
      if (news('assignment', !sameJson(seen?.assignment, chat.assignment))) record.assignment = chat.assignment ?? null
      if (news('tags', !sameJson(seen?.tags, chat.tags))) record.tags = chat.tags ?? EMPTY
      if (news('status', seen?.status !== chat.status)) record.status = chat.status ?? 'open'
      record.seen = chat
      record.patched.clear()
    }
    return { assignment: record.assignment, tags: record.tags, status: record.status, known: chat !== undefined }
  }

  /** News of a chat's helpdesk data (an answer to our call, a Realtime row). */
  patchMeta(session: string, chatId: string, patch: Partial<Pick<MetaRecord, 'assignment' | 'tags' | 'status'>>): void {
    const key = metaKey(session, chatId)
    this.readMeta(session, chatId)
    const record = this.meta.get(key) as MetaRecord
    Object.assign(record, patch)
    if (!record.seen) for (const field of Object.keys(patch)) record.patched.add(field as 'assignment' | 'tags' | 'status')
    this.mark(key)
  }

  private readNotes(session: string, chatId: string): NotesSlice {
    const record = this.notes.get(notesKey(session, chatId))
    // Loading is the first load only: a refetch after a reconnection shows what it has meanwhile.
    const loading = record ? record.waiting || (record.loading !== null && !record.loaded) : false
    return { notes: record?.notes ?? EMPTY, loading, error: record?.error ?? null }
  }

  private notesRecord(session: string, chatId: string): NotesRecord {
    const key = notesKey(session, chatId)
    let record = this.notes.get(key)
    if (!record) this.notes.set(key, (record = { notes: EMPTY, waiting: false, loading: null, error: null, loaded: false }))
    return record
  }

  /**
   * A chat's notes (GET /chats/{chatId}/notes), merged with those announced meanwhile; after
   * the client's snapshots (a reconnection refetches them: note_added may have been missed).
   */
  loadNotes(session: string, chatId: string, again = false): Promise<void> {
    const record = this.notesRecord(session, chatId)
    if (record.loading) return record.loading
    if (record.loaded && !again) return Promise.resolve()
    const key = notesKey(session, chatId)
    if (!this.ready) {
      record.waiting = true
      this.mark(key)
      return Promise.resolve()
    }
    record.waiting = false
    const task = this.scope(session)
      .notes(chatId)
      .then(
        (notes) => {
          record.notes = mergeNotes(record.notes, notes)
          record.loaded = true
          record.error = null
        },
        (err: unknown) => {
          record.error = asError(err)
        },
      )
      .finally(() => {
        record.loading = null
        this.mark(key)
      })
    record.loading = task
    this.mark(key)
    return task
  }

  /** A note to show (note_added, our addNote's answer, a Realtime row): once, in order. */
  addNote(session: string, chatId: string, note: Note): void {
    const key = notesKey(session, chatId)
    const record = this.notes.get(key)
    // Notes of a chat nobody shows are fetched when it is shown.
    if (!record || record.notes.some((n) => n.id === note.id)) return
    record.notes = mergeNotes(record.notes, [note])
    this.mark(key)
  }

  /** The tags a session knows (GET /tags), to name the tag ids of Realtime rows. */
  private async tagsOf(session: string, refresh: boolean): Promise<Tag[]> {
    let entry = this.tagCatalogue.get(session)
    if (!entry) this.tagCatalogue.set(session, (entry = { tags: null, loading: null }))
    const current = entry
    if (current.tags && !refresh) return current.tags
    if (!current.loading) {
      current.loading = this.scope(session)
        .tags()
        .then((tags) => {
          current.tags = tags
        })
        .finally(() => {
          current.loading = null
        })
    }
    await current.loading
    return current.tags ?? []
  }

  /** One Realtime row change of this chat, applied. */
  private async applyPatch(session: string, chatId: string, patch: HelpdeskPatch): Promise<void> {
    const current = this.get<MetaSlice>(metaKey(session, chatId))
    switch (patch.kind) {
      case 'assignment': {
        const before = current.assignment
        // A row names the agent, not their name: keep the name we had for the same agent.
        const assignment = patch.assignment && before?.agentId === patch.assignment.agentId ? { ...patch.assignment, agentName: before.agentName } : patch.assignment
        this.patchMeta(session, chatId, { assignment })
        break
      }
      case 'status':
        this.patchMeta(session, chatId, { status: patch.status })
        break
      case 'note':
        this.addNote(session, chatId, patch.note)
        break
      case 'tagRemoved':
        this.patchMeta(session, chatId, { tags: current.tags.filter((t) => t.id !== patch.tagId) })
        break
      case 'tagAdded': {
        if (current.tags.some((t) => t.id === patch.tagId)) return
        let catalogue = await this.tagsOf(session, false).catch(() => [] as Tag[])
        if (!catalogue.some((t) => t.id === patch.tagId)) catalogue = await this.tagsOf(session, true).catch(() => [] as Tag[])
        const tag = catalogue.find((t) => t.id === patch.tagId) ?? { id: patch.tagId, name: String(patch.tagId), color: null }
        const now = this.get<MetaSlice>(metaKey(session, chatId))
        if (!now.tags.some((t) => t.id === tag.id)) this.patchMeta(session, chatId, { tags: [...now.tags, tag] })
        break
      }
    }
  }

  /**
   * Follow a chat's helpdesk rows on Supabase Realtime: one channel per realtime client,
   * session and chat, however many components ask. Returns the release.
   */
  watchRealtime(realtime: RealtimeLike, session: string, chatId: string): () => void {
    let id = this.realtimeIds.get(realtime)
    if (id === undefined) this.realtimeIds.set(realtime, (id = nextRealtimeId++))
    const key = `${id}\n${session}\n${chatId}`
    let entry = this.channels.get(key)
    if (!entry) {
      let channel = realtime.channel(`wa-helpdesk:${session}:${chatId}:${id}`)
      for (const table of HELPDESK_TABLES) {
        channel = channel.on('postgres_changes', { event: '*', schema: 'public', table, filter: `chat_id=eq.${chatId}` }, (change) => {
          const patch = patchFromRow(change, session, chatId)
          if (patch) void this.applyPatch(session, chatId, patch)
        })
      }
      channel.subscribe()
      entry = { count: 0, channel, realtime }
      this.channels.set(key, entry)
    }
    entry.count++
    let released = false
    return () => {
      if (released) return
      released = true
      const current = this.channels.get(key)
      if (!current || --current.count > 0) return
      this.channels.delete(key)
      void current.realtime.removeChannel(current.channel)
    }
  }
}

let nextRealtimeId = 1

export function messagesKey(session: string, chatId: string): string {
  return `messages\n${session}\n${chatId}`
}

export function metaKey(session: string, chatId: string): string {
  return `meta\n${session}\n${chatId}`
}

export function notesKey(session: string, chatId: string): string {
  return `notes\n${session}\n${chatId}`
}

export function chatsKey(session: string): string {
  return `chats\n${session}`
}

export function connectionKey(session: string): string {
  return `connection\n${session}`
}

/** The snapshots are in (the client has a position, or streams). */
function isLoaded(state: ClientState): boolean {
  return state.lastEventId !== null || state.link === 'live'
}

function sessionOf(envelope: Envelope | undefined): string {
  const session = (envelope as { session?: string } | undefined)?.session
  return session || DEFAULT_SESSION
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err))
}

function mergeNotes(a: Note[], b: Note[]): Note[] {
  const byId = new Map<number, Note>()
  for (const note of [...a, ...b]) byId.set(note.id, note)
  return [...byId.values()].sort((x, y) => (x.createdAt < y.createdAt ? -1 : x.createdAt > y.createdAt ? 1 : x.id - y.id))
}

/** Same own fields, each the same value (Object.is). */
export function shallowEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false
  const ka = Object.keys(a)
  if (ka.length !== Object.keys(b).length) return false
  return ka.every((k) => Object.is((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]))
}

/** Two arrays of the same items (the cache replaces an item that changes, so identity says it). */
export function sameItems(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true
  if (!Array.isArray(a) || !Array.isArray(b) || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false
  return true
}

function sameMessages(a: unknown, b: unknown): boolean {
  const x = a as MessagesSlice
  const y = b as MessagesSlice
  return sameItems(x.messages, y.messages) && x.loading === y.loading && x.loadingOlder === y.loadingOlder && x.error === y.error && x.hasOlder === y.hasOlder
}

function sameMeta(a: unknown, b: unknown): boolean {
  const x = a as MetaSlice
  const y = b as MetaSlice
  return x.assignment === y.assignment && x.tags === y.tags && x.status === y.status && x.known === y.known
}

function sameJson(a: unknown, b: unknown): boolean {
  return a === b || JSON.stringify(a ?? null) === JSON.stringify(b ?? null)
}

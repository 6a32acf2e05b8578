/**
 * The helpdesk layer of the console (issue #16): what an agent works with beside the messages.
 *
 * - Inbox views in the sidebar: Mine, Unassigned, All (staff), by status (open by default) and
 *   by tag, each with its count. The counts are taken from the client's live chat cache, not
 *   from GET /inbox/counts: the cache holds every chat the user may see (the client loads them
 *   all) and every envelope updates it, so the counts change in the same frame as the list they
 *   describe, with no request per event, and they work over several numbers at once ("All").
 * - The chat's tools under its header: status (open / pending / resolved), who it is assigned
 *   to and what the user's role allows (Take, Assign to / Transfer to, Release), the notes
 *   toggle, and what the other agents do in the chat ("Maria is replying…").
 * - The notes panel: the chat's private notes, live; nothing of it goes to WhatsApp.
 * - Agent presence: this agent's `viewing` / `typing` / `idle`, posted as they work.
 *
 * Visibility: an agent sees unassigned chats and their own. When another agent takes a chat,
 * its `assignment_changed` is the last the agent hears of it, so the chat leaves their cache
 * here; a chat assigned to them or released is fetched (it was not theirs to see before).
 *
 * Plain DOM; every text from WhatsApp or another user goes through textContent.
 */
import { $, h } from './dom.js'
import { errorText, fullDateTime, number, shortDateTime, t } from './i18n.js'

const DEFAULT = 'default'
/** @typedef {'open'|'pending'|'resolved'} ConversationStatus */
/** @type {ConversationStatus[]} */
const STATUSES = ['open', 'pending', 'resolved']
/** A status as shown (the API's value stays English). @param {ConversationStatus} status */
const statusLabel = (status) => t(`helpdesk.status.${status}`)
/** How often states are repeated while they hold (the server lets typing lapse after ~6 s, viewing after ~60 s). */
const TYPING_REFRESH_MS = 3000
const VIEWING_REFRESH_MS = 30000
/** When another agent's state is dropped here if no envelope ends it (a lost one). */
const TYPING_LAPSE_MS = 8000
const VIEWING_LAPSE_MS = 75000

/**
 * @typedef {import('./wa-client').Chat & {status?: ConversationStatus, session?: string}} HdChat
 * @typedef {import('./wa-client').Agent} AgentInfo
 * @typedef {import('./wa-client').Note} Note
 * @typedef {import('./wa-client').Tag} Tag
 * @typedef {import('./wa-client').AgentPresence} AgentPresenceEvent
 * @typedef {{
 *   client: import('./wa-client').WaClient,
 *   openId: string|null,
 *   openSession: string,
 *   multi: boolean,
 *   scope(session: string): any,
 *   listed(): (import('./wa-client').Chat & {session: string})[],
 *   renderChats(): void,
 *   renderChatHeader(): void,
 *   closeChat(): void,
 *   toast(message: string): void,
 * }} Host the console (app.js) this layer sits in
 */


/** A chat's key (session and id), as app.js keys them. @param {string} session @param {string} chatId */
const keyOf = (session, chatId) => `${session}\n${chatId}`

/** A chat's status; a server before statuses has none: every chat is open. @param {HdChat} chat @returns {ConversationStatus} */
const statusOf = (chat) => chat.status ?? 'open'


export class HelpdeskUi {
  /**
   * @param {Host} host
   * @param {{userId: string|null, name: string|null, staff: boolean}} me who is signed in
   */
  constructor(host, me) {
    this.host = host
    this.client = host.client
    this.me = me
    /** @type {'mine'|'unassigned'|'all'} */
    this.view = me.staff ? 'all' : me.userId !== null ? 'mine' : 'unassigned'
    /** @type {ConversationStatus} */
    this.status = 'open'
    /** @type {number|null} */
    this.tag = null
    /** Each session's agents by id (GET /agents: who may be assigned its chats). @type {Map<string, Map<string, AgentInfo>>} */
    this.agentsBy = new Map()
    /** Everyone's names and whether they are online, over every session. @type {Map<string, AgentInfo>} */
    this.agents = new Map()
    /**
     * The server tracks agents' presence (GET /agents' items say `online`), and this user is an
     * agent (the API token is nobody: the server refuses its states): only then are states posted.
     */
    this.presenceOn = false
    /** The server tracks who is online (the picker says so). */
    this.tracked = false
    /** Tags by id (GET /tags, and any a chat carries). @type {Map<number, Tag>} */
    this.tags = new Map()
    /** What other agents do where, by session, user and chat. @type {Map<string, {userId: string, name: string|null, session: string, chatId: string, state: 'viewing'|'typing', at: number}>} */
    this.others = new Map()
    /** Who is online, from presence envelopes (GET /agents' `online` before any). @type {Map<string, boolean>} */
    this.online = new Map()
    /** What this agent last told, and when: a state is repeated only when it would lapse. */
    /** @type {{key: string, state: string, at: number}|null} */
    this.told = null
    /** @type {ReturnType<typeof setInterval>|null} */
    this.viewingTimer = null
    /** @type {ReturnType<typeof setTimeout>|null} */
    this.lapseTimer = null
    /** The chat this agent views (told the others). @type {{chatId: string, session: string}|null} */
    this.viewing = null
    this.notesOpen = false
    /** The notes shown, for the chat (key) they are of. @type {{key: string, notes: Note[]}|null} */
    this.notes = null
    this.toolsSig = ''
    this.viewsSig = ''
    /** @type {(() => void)[]} */
    this.unsubscribe = []
    this.build()
    const on = /** @type {(type: string, fn: (data: any, envelope?: any) => void) => void} */ ((type, fn) => this.unsubscribe.push(this.client.on(type, fn)))
    on('chats', () => {
      this.renderViews()
      // The open chat's header (its tags) and tools (status, assignee) follow the stream.
      if (this.host.openId) this.host.renderChatHeader()
    })
    on('snapshot', () => void this.loadPeople())
    on('assignment_changed', (data, envelope) => this.assignmentChanged(data, envelope?.session ?? DEFAULT))
    on('note_added', (data, envelope) => this.noteAdded(data, envelope?.session ?? DEFAULT))
    on('agent_presence', (data, envelope) => this.presence(data, envelope?.session ?? DEFAULT))
    void this.loadPeople()
  }

  close() {
    for (const off of this.unsubscribe) off()
    if (this.viewingTimer) clearInterval(this.viewingTimer)
    if (this.lapseTimer) clearTimeout(this.lapseTimer)
    $('inbox').replaceChildren()
    $('chat-tools').replaceChildren()
    $('notes').hidden = true
    document.body.classList.remove('notes-open')
  }

  /** The parts that stay: the notes panel's frame. */
  build() {
    const form = h('form', { id: 'note-form', class: 'note-form', 'aria-label': t('helpdesk.notes.form') },
      h('label', { for: 'note-text', class: 'visually-hidden' }, t('helpdesk.notes.label')),
      h('textarea', { id: 'note-text', rows: '3', placeholder: t('helpdesk.notes.placeholder'), maxlength: '4000' }),
      h('p', { id: 'note-error', class: 'error', role: 'alert', hidden: true }),
      h('button', { id: 'note-add', type: 'submit', class: 'primary' }, t('helpdesk.notes.add')),
    )
    form.addEventListener('submit', (e) => {
      e.preventDefault()
      void this.addNote()
    })
    const text = /** @type {HTMLTextAreaElement} */ (form.querySelector('textarea'))
    text.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
        e.preventDefault()
        form.requestSubmit()
      }
    })
    $('notes').replaceChildren(
      h('header', { class: 'notes-head' },
        h('h2', { id: 'notes-title' }, t('helpdesk.notes.title')),
        h('button', { id: 'notes-close', type: 'button', class: 'ghost small', 'aria-label': t('helpdesk.notes.close'), title: t('helpdesk.notes.close'), onclick: () => this.toggleNotes(false) }, '✕'),
      ),
      h('p', { class: 'notes-private' }, h('span', { 'aria-hidden': 'true' }, '🔒 '), t('helpdesk.notes.private')),
      h('ol', { id: 'notes-list', class: 'notes-list', 'aria-live': 'polite', 'aria-labelledby': 'notes-title' }),
      h('p', { id: 'notes-empty', class: 'muted notes-empty', hidden: true }, t('helpdesk.notes.empty')),
      form,
    )
    $('notes').addEventListener('keydown', (e) => {
      if (e.key === 'Escape') {
        e.stopPropagation()
        this.toggleNotes(false)
      }
    })
  }

  /** Agents (the picker, note authors, who is online) and tags; again after every snapshot. */
  async loadPeople() {
    const sessions = this.host.multi ? this.client.following ?? [DEFAULT] : [DEFAULT]
    try {
      // Tags are global (no session route); agents are each session's.
      const [tags, ...lists] = await Promise.all([this.client.tags(), ...sessions.map((id) => this.host.scope(id).agents())])
      for (const tag of tags) this.tags.set(tag.id, tag)
      this.agentsBy = new Map(sessions.map((id, i) => [id, new Map(lists[i].map((/** @type {AgentInfo} */ a) => [a.id, a]))]))
      this.agents = new Map(lists.flat().map((/** @type {AgentInfo} */ a) => [a.id, a]))
      this.tracked = lists.flat().some((/** @type {AgentInfo} */ a) => typeof a.online === 'boolean')
      this.presenceOn = this.me.userId !== null && this.tracked
      // What the others do now (the snapshot the agent_presence envelopes then keep current).
      const now = Date.now()
      this.online.clear()
      for (const k of [...this.others.keys()]) this.others.delete(k)
      sessions.forEach((session, i) => {
        for (const a of /** @type {AgentInfo[]} */ (lists[i])) {
          if (typeof a.online === 'boolean') this.online.set(a.id, a.online)
          for (const x of a.activity ?? []) this.others.set(keyOf(session, `${a.id}\n${x.chatId}`), { userId: a.id, name: a.name, session, chatId: x.chatId, state: x.state, at: now })
        }
      })
    } catch (err) {
      console.warn('agents or tags not loaded', err)
    }
    this.toolsSig = ''
    this.viewsSig = ''
    this.renderViews()
    this.renderTools()
    if (this.host.openId) this.tell('viewing')
  }

  // ---- inbox views ----------------------------------------------------------------------

  /** Whether the chat list shows a chat in the current view. @param {HdChat} chat */
  shows(chat) {
    return this.inView(chat, this.view) && statusOf(chat) === this.status && (this.tag === null || (chat.tags ?? []).some((tag) => tag.id === this.tag))
  }

  /** @param {HdChat} chat @param {'mine'|'unassigned'|'all'} view */
  inView(chat, view) {
    if (view === 'mine') return chat.assignment != null && chat.assignment.agentId === this.me.userId
    if (view === 'unassigned') return chat.assignment == null
    return true
  }

  /** What the list says when the view holds no chat. */
  emptyText() {
    const values = { status: t(`helpdesk.statusWord.${this.status}`), view: this.viewLabel(this.view) }
    if (this.tag === null) return t('helpdesk.empty', values)
    return t('helpdesk.emptyTagged', { ...values, tag: this.tags.get(this.tag)?.name ?? t('helpdesk.thisTag') })
  }

  /** @param {'mine'|'unassigned'|'all'} view */
  viewLabel(view) {
    return t(`helpdesk.view.${view}`)
  }

  /**
   * The counts of the views: Mine / Unassigned / All within the status shown, the statuses
   * within the view shown, the tags within both.
   */
  counts() {
    const chats = /** @type {HdChat[]} */ (this.host.listed())
    const views = { mine: 0, unassigned: 0, all: 0 }
    const statuses = { open: 0, pending: 0, resolved: 0 }
    /** @type {Map<number, number>} */
    const tags = new Map()
    for (const chat of chats) {
      const status = statusOf(chat)
      if (status === this.status) {
        for (const view of /** @type {const} */ (['mine', 'unassigned', 'all'])) if (this.inView(chat, view)) views[view]++
      }
      if (this.inView(chat, this.view)) {
        statuses[status]++
        if (status === this.status) for (const tag of chat.tags ?? []) {
          tags.set(tag.id, (tags.get(tag.id) ?? 0) + 1)
          if (!this.tags.has(tag.id)) this.tags.set(tag.id, tag)
        }
      }
    }
    return { views, statuses, tags }
  }

  renderViews() {
    const box = $('inbox')
    const { views, statuses, tags } = this.counts()
    // "Mine" needs a user (the API token is nobody's); "All" is staff's (an agent's all is
    // Mine and Unassigned).
    /** @type {('mine'|'unassigned'|'all')[]} */
    const names = [...(this.me.userId !== null ? /** @type {const} */ (['mine']) : []), 'unassigned', ...(this.me.staff ? /** @type {const} */ (['all']) : [])]
    // A server before conversation statuses: every chat is open, no row of statuses to pick.
    const statusKnown = this.host.listed().some((c) => 'status' in c)
    const tagList = [...this.tags.values()].sort((a, b) => a.name.localeCompare(b.name))
    const sig = JSON.stringify([this.view, this.status, this.tag, views, statuses, [...tags], tagList.map((tag) => [tag.id, tag.name]), names, statusKnown])
    if (sig === this.viewsSig) return
    this.viewsSig = sig
    const focused = /** @type {HTMLElement|null} */ (document.activeElement)
    const focusKey = focused && box.contains(focused) ? focused.dataset.focusKey ?? null : null
    /** @param {string} key @param {string} label @param {number} n @param {boolean} pressed @param {() => void} onclick */
    const button = (key, label, n, pressed, onclick) => h(
      'button',
      { type: 'button', class: `inbox-tab${pressed ? ' selected' : ''}`, 'aria-pressed': pressed ? 'true' : 'false', dataset: { focusKey: key }, onclick },
      h('span', {}, label),
      h('span', { class: 'count', 'aria-label': t('helpdesk.inbox.count', { count: n }) }, number(n)),
    )
    const viewRow = h('div', { class: 'inbox-row', role: 'group', 'aria-label': t('helpdesk.inbox.views') },
      ...names.map((v) => button(`view-${v}`, this.viewLabel(v), views[v], this.view === v, () => this.setView(v))))
    const statusRow = h('div', { class: 'inbox-row statuses', role: 'group', 'aria-label': t('helpdesk.inbox.statuses') },
      ...STATUSES.map((st) => button(`status-${st}`, statusLabel(st), statuses[st], this.status === st, () => this.setStatusView(st))))
    const select = /** @type {HTMLSelectElement} */ (h('select', { id: 'inbox-tag', dataset: { focusKey: 'tag' } },
      h('option', { value: '' }, t('helpdesk.inbox.allTags')),
      ...tagList.map((tag) => h('option', { value: String(tag.id), selected: this.tag === tag.id }, t('helpdesk.inbox.tagCount', { tag: tag.name, count: tags.get(tag.id) ?? 0 }))),
    ))
    select.onchange = () => {
      this.tag = select.value ? Number(select.value) : null
      this.refreshList()
    }
    const tagRow = tagList.length
      ? h('div', { class: 'inbox-row tags-row' }, h('label', { for: 'inbox-tag', class: 'muted' }, t('helpdesk.inbox.tag')), select)
      : null
    box.replaceChildren(viewRow, statusKnown ? statusRow : '', tagRow ?? '')
    box.hidden = false
    if (focusKey) /** @type {HTMLElement|null} */ (box.querySelector(`[data-focus-key="${focusKey}"]`))?.focus()
  }

  /** @param {'mine'|'unassigned'|'all'} view */
  setView(view) {
    this.view = view
    this.refreshList()
  }

  /** @param {ConversationStatus} status */
  setStatusView(status) {
    this.status = status
    this.refreshList()
  }

  refreshList() {
    this.renderViews()
    this.host.renderChats()
  }

  /** The chat list item's helpdesk line: status (when not open), assignee. @param {HdChat} chat */
  listBadges(chat) {
    const status = statusOf(chat)
    return [
      status !== 'open' ? h('span', { class: `status-chip status-${status}`, title: t('helpdesk.badge.status') }, statusLabel(status)) : null,
      chat.assignment ? h('span', { class: 'assignee', title: t('helpdesk.badge.assignee') }, `👤 ${this.agentName(chat.assignment.agentId, chat.assignment.agentName)}`) : null,
    ].filter((x) => x !== null)
  }

  /** @param {string|null} id @param {string|null} [fallback] */
  agentName(id, fallback = null) {
    if (id === null) return t('helpdesk.agent.apiToken')
    if (id === this.me.userId) return t('helpdesk.agent.you')
    return this.agents.get(id)?.name ?? fallback ?? id
  }

  // ---- the chat's tools: status, assignment, notes toggle, others' activity -------------

  openChat() {
    const { openId, openSession } = this.host
    if (!openId) return null
    return /** @type {HdChat|undefined} */ (this.host.scope(openSession).chat(openId)) ?? null
  }

  renderTools() {
    const box = $('chat-tools')
    const chat = this.openChat()
    if (!chat) return
    const a = chat.assignment
    const mine = a != null && a.agentId === this.me.userId
    const inAgents = this.me.userId !== null && (this.agentsBy.get(this.host.openSession)?.has(this.me.userId) ?? false)
    const canTake = a == null && inAgents
    const canPick = this.me.staff || mine
    const canRelease = a != null && (this.me.staff || mine)
    const statusKnown = 'status' in chat
    const online = [...this.sessionAgents().values()].map((x) => [x.id, this.isOnline(x.id)])
    const sig = JSON.stringify([this.host.openSession, chat.id, chat.status, a?.agentId, a?.agentName, online, this.notesOpen, this.agents.size])
    if (sig !== this.toolsSig) {
      this.toolsSig = sig
      const focusKey = /** @type {HTMLElement|null} */ (document.activeElement)?.dataset?.toolKey ?? null
      const status = statusKnown ? this.statusControl(chat) : null
      const who = h('span', { id: 'assignee', class: 'assignee-now' },
        a ? `👤 ${this.agentName(a.agentId, a.agentName)}` : t('helpdesk.tools.unassigned'))
      const take = canTake ? h('button', { type: 'button', class: 'primary small', dataset: { toolKey: 'take' }, onclick: () => void this.act(() => this.host.scope(this.host.openSession).assign(chat.id, /** @type {string} */ (this.me.userId))) }, t('helpdesk.tools.take')) : null
      const pick = canPick ? this.agentPicker(chat) : null
      const release = canRelease ? h('button', { type: 'button', class: 'small', dataset: { toolKey: 'release' }, onclick: () => void this.act(() => this.host.scope(this.host.openSession).unassign(chat.id)) }, t('helpdesk.tools.release')) : null
      const notes = h('button', {
        id: 'notes-toggle', type: 'button', class: 'small', dataset: { toolKey: 'notes' },
        'aria-expanded': this.notesOpen ? 'true' : 'false', 'aria-controls': 'notes',
        onclick: () => this.toggleNotes(!this.notesOpen),
      }, h('span', { 'aria-hidden': 'true' }, '🔒 '), t('helpdesk.tools.notes'))
      box.replaceChildren(
        h('div', { class: 'tools-row' }, status ?? '', h('span', { class: 'assign-group', role: 'group', 'aria-label': t('helpdesk.tools.assignment') }, who, take ?? '', pick ?? '', release ?? ''), notes),
        h('p', { id: 'agent-activity', class: 'agent-activity', 'aria-live': 'polite' }),
        h('p', { id: 'tools-error', class: 'error', role: 'alert', hidden: true }),
      )
      box.hidden = false
      if (focusKey) /** @type {HTMLElement|null} */ (box.querySelector(`[data-tool-key="${focusKey}"]`))?.focus()
    }
    this.renderActivity()
  }

  /** @param {HdChat} chat */
  statusControl(chat) {
    const select = /** @type {HTMLSelectElement} */ (h('select', { id: 'chat-status', class: `status-select status-${statusOf(chat)}`, dataset: { toolKey: 'status' } },
      ...STATUSES.map((st) => h('option', { value: st, selected: statusOf(chat) === st }, statusLabel(st)))))
    select.onchange = () => {
      const value = /** @type {ConversationStatus} */ (select.value)
      void this.act(() => this.host.scope(this.host.openSession).setStatus(chat.id, value))
    }
    return h('span', { class: 'status-group' }, h('label', { for: 'chat-status', class: 'muted' }, t('helpdesk.tools.status')), select)
  }

  /** "Assign to…" (unassigned) or "Transfer to…": the agents, who is online first. @param {HdChat} chat */
  agentPicker(chat) {
    const current = chat.assignment?.agentId ?? null
    const people = [...this.sessionAgents().values()]
      .filter((x) => x.id !== current)
      .sort((x, y) => Number(this.isOnline(y.id)) - Number(this.isOnline(x.id)) || (x.name ?? x.id).localeCompare(y.name ?? y.id))
    const label = t(current ? 'helpdesk.picker.transfer' : 'helpdesk.picker.assign')
    /** @param {AgentInfo} x */
    const named = (x) => {
      const name = x.id === this.me.userId ? t('helpdesk.picker.me') : x.name ?? x.id
      return this.tracked ? t(this.isOnline(x.id) ? 'helpdesk.picker.online' : 'helpdesk.picker.offline', { name }) : name
    }
    const select = /** @type {HTMLSelectElement} */ (h('select', { id: 'assign-to', 'aria-label': t(current ? 'helpdesk.picker.transferLabel' : 'helpdesk.picker.assignLabel'), dataset: { toolKey: 'assign' } },
      h('option', { value: '', selected: true, disabled: true }, label),
      ...people.map((x) => h('option', { value: x.id, dataset: { online: this.isOnline(x.id) ? 'yes' : 'no' } },
        `${this.isOnline(x.id) ? '● ' : '○ '}${named(x)}`))))
    select.onchange = () => {
      const agentId = select.value
      if (agentId) void this.act(() => this.host.scope(this.host.openSession).assign(chat.id, agentId))
    }
    return select
  }

  /** A change the API may refuse (its message is shown). @param {() => Promise<unknown>} call */
  async act(call) {
    const out = document.getElementById('tools-error')
    if (out) out.hidden = true
    try {
      await call()
    } catch (err) {
      const message = t('helpdesk.tools.notDone', { error: errorText(err) })
      const el = document.getElementById('tools-error')
      if (el) {
        el.hidden = false
        el.textContent = message
      }
      this.toolsSig = '' // the controls show the chat as it is, not as the refused change
      this.renderTools()
      const again = document.getElementById('tools-error')
      if (again) {
        again.hidden = false
        again.textContent = message
      }
    }
  }

  // ---- visibility: chats taken by others leave, chats given to this agent join ------------

  /** @param {{chatId: string, assignment: import('./wa-client').Assignment|null}} data @param {string} session */
  assignmentChanged(data, session) {
    if (this.me.staff) return // staff see every chat: the cache has it, patched
    const scope = this.host.scope(session)
    const a = data.assignment
    if (a && a.agentId !== this.me.userId) {
      const open = this.host.openId === data.chatId && this.host.openSession === session
      scope.forgetChat(data.chatId)
      if (open) {
        this.host.closeChat()
        const name = a.agentName ?? t('helpdesk.agent.another')
        this.host.toast(t(a.assignedBy === this.me.userId ? 'helpdesk.toast.transferred' : 'helpdesk.toast.taken', { name }))
      }
    } else if (!scope.chat(data.chatId)) {
      scope.adoptChat(data.chatId).catch((/** @type {unknown} */ err) => console.warn('chat not fetched', data.chatId, err))
    }
  }

  // ---- notes --------------------------------------------------------------------------

  /** @param {boolean} open */
  toggleNotes(open) {
    this.notesOpen = open
    $('notes').hidden = !open
    document.body.classList.toggle('notes-open', open)
    this.toolsSig = ''
    this.renderTools()
    if (open) {
      void this.loadNotes()
      $('note-text').focus()
    } else {
      $('notes-toggle')?.focus()
    }
  }

  async loadNotes() {
    const { openId, openSession } = this.host
    if (!openId || !this.notesOpen) return
    const key = keyOf(openSession, openId)
    if (this.notes?.key !== key) {
      this.notes = { key, notes: [] }
      this.renderNotes()
    }
    try {
      const notes = await this.host.scope(openSession).notes(openId)
      if (this.notes?.key !== key) return
      // Notes the stream brought while the list was on its way stay.
      const ids = new Set(notes.map((/** @type {Note} */ n) => n.id))
      this.notes.notes = [...notes, ...this.notes.notes.filter((n) => !ids.has(n.id))]
      this.renderNotes()
    } catch (err) {
      const out = $('note-error')
      out.hidden = false
      out.textContent = t('helpdesk.notes.notLoaded', { error: errorText(err) })
    }
  }

  renderNotes() {
    const notes = this.notes?.notes ?? []
    $('notes-empty').hidden = notes.length > 0
    const list = $('notes-list')
    const shown = new Set([...list.children].map((el) => /** @type {HTMLElement} */ (el).dataset.noteId))
    if (notes.length !== shown.size || notes.some((n) => !shown.has(String(n.id)))) {
      list.replaceChildren(...notes.map((n) => this.noteItem(n)))
      list.lastElementChild?.scrollIntoView({ block: 'nearest' })
    }
    const { openId } = this.host
    const chat = this.openChat()
    $('notes-title').textContent = chat ? t('helpdesk.notes.titleOf', { name: chat.name ?? openId ?? '' }) : t('helpdesk.notes.title')
  }

  /** @param {Note} n */
  noteItem(n) {
    const when = parseTime(n.createdAt)
    return h('li', { class: 'note', dataset: { noteId: String(n.id) } },
      h('div', { class: 'note-head' },
        h('strong', { class: 'note-author' }, this.agentName(n.authorId)),
        when ? h('time', { datetime: when.toISOString(), title: fullDateTime(when) }, shortDateTime(when)) : null,
      ),
      h('p', { class: 'note-body' }, n.body),
    )
  }

  async addNote() {
    const { openId, openSession } = this.host
    const input = /** @type {HTMLTextAreaElement} */ ($('note-text'))
    const body = input.value.trim()
    if (!openId || !body) return
    const button = /** @type {HTMLButtonElement} */ ($('note-add'))
    const out = $('note-error')
    button.disabled = true
    try {
      const note = await this.host.scope(openSession).addNote(openId, body)
      input.value = ''
      out.hidden = true
      this.noteAdded({ chatId: openId, note }, openSession)
    } catch (err) {
      out.hidden = false
      out.textContent = t('helpdesk.notes.notAdded', { error: errorText(err) })
    } finally {
      button.disabled = false
      input.focus()
    }
  }

  /** A note (from the stream, or our own POST's answer: the same note, once). @param {{chatId: string, note: Note}} data @param {string} session */
  noteAdded(data, session) {
    const key = keyOf(session, data.chatId)
    if (!this.notes || this.notes.key !== key) return
    if (this.notes.notes.some((n) => n.id === data.note.id)) return
    this.notes.notes = [...this.notes.notes, data.note]
    this.renderNotes()
  }

  // ---- agents' presence -----------------------------------------------------------------

  /** Who may be assigned the open chat (its session's agents). */
  sessionAgents() {
    return this.agentsBy.get(this.host.openSession) ?? new Map()
  }

  /** @param {string} userId */
  isOnline(userId) {
    if (userId === this.me.userId) return true
    return this.online.get(userId) ?? false
  }

  /**
   * An `agent_presence`: someone online or not (chatId null), or what they do in a chat now
   * (state null: nothing any more). Offline ends all they did.
   * @param {AgentPresenceEvent} data @param {string} session
   */
  presence(data, session) {
    if (!data?.userId) return
    this.online.set(data.userId, data.online)
    if (!data.online) {
      for (const [k, p] of this.others) if (p.userId === data.userId) this.others.delete(k)
    } else if (data.chatId) {
      const k = keyOf(session, `${data.userId}\n${data.chatId}`)
      if (data.state) this.others.set(k, { userId: data.userId, name: data.name, session, chatId: data.chatId, state: data.state, at: Date.now() })
      else this.others.delete(k)
    }
    this.renderTools()
  }

  /** "Maria is replying…", "Maria is viewing": the other agents in the open chat. */
  renderActivity() {
    const el = document.getElementById('agent-activity')
    if (!el) return
    const { openId, openSession } = this.host
    const now = Date.now()
    const typing = []
    const viewing = []
    let next = Infinity
    for (const p of this.others.values()) {
      if (p.userId === this.me.userId || p.chatId !== openId || p.session !== openSession) continue
      const lapse = p.at + (p.state === 'typing' ? TYPING_LAPSE_MS : VIEWING_LAPSE_MS)
      if (lapse <= now) continue
      next = Math.min(next, lapse)
      const name = p.name ?? this.agents.get(p.userId)?.name ?? t('helpdesk.agent.someone')
      if (p.state === 'typing') typing.push(name)
      else viewing.push(name)
    }
    const parts = []
    if (typing.length) parts.push(t('helpdesk.activity.replying', { names: listOf(typing), count: typing.length }))
    if (viewing.length) parts.push(t('helpdesk.activity.viewing', { names: listOf(viewing), count: viewing.length }))
    const text = parts.join(' · ')
    if (el.textContent !== text) el.textContent = text
    el.classList.toggle('typing', typing.length > 0)
    if (this.lapseTimer) clearTimeout(this.lapseTimer)
    this.lapseTimer = Number.isFinite(next) ? setTimeout(() => this.renderActivity(), next - now + 50) : null
  }

  /**
   * Tell the other agents what this one does in the open chat; a state already told is
   * repeated only when it would lapse. Only to a server that tracks presence (GET /agents says
   * `online`); a failure costs the others an indicator, nothing more.
   * @param {'viewing'|'typing'|'idle'} state @param {{chatId: string, session: string}} [where]
   */
  tell(state, where) {
    const chatId = where?.chatId ?? this.host.openId
    const session = where?.session ?? this.host.openSession
    if (!this.presenceOn || !chatId) return
    const key = keyOf(session, chatId)
    const now = Date.now()
    const told = this.told
    const every = state === 'typing' ? TYPING_REFRESH_MS : VIEWING_REFRESH_MS
    if (told && told.key === key && told.state === state && now - told.at < every) return
    this.told = state === 'idle' ? null : { key, state, at: now }
    this.host.scope(session).setAgentPresence(chatId, state).catch((/** @type {unknown} */ err) => console.warn('agent presence not sent', err))
  }

  // ---- hooks app.js calls ---------------------------------------------------------------

  /** A chat was opened (another, or the same again). @param {string} chatId @param {string} session */
  opened(chatId, session) {
    const previous = this.viewing
    if (previous && keyOf(previous.session, previous.chatId) !== keyOf(session, chatId)) {
      // Another chat: the one left is no longer viewed (a state lasts until idle or its lapse).
      if (this.host.scope(previous.session).chat(previous.chatId)) this.tell('idle', previous)
      this.told = null
    }
    this.viewing = { chatId, session }
    this.toolsSig = ''
    $('chat-tools').hidden = false
    this.renderTools()
    if (this.notesOpen) void this.loadNotes()
    this.tell('viewing', { chatId, session })
    if (this.viewingTimer) clearInterval(this.viewingTimer)
    // Viewing lapses on the server unless repeated while the chat stays open.
    this.viewingTimer = setInterval(() => {
      if (this.host.openId && document.visibilityState === 'visible' && this.told?.state !== 'typing') this.tell('viewing')
    }, VIEWING_REFRESH_MS)
  }

  /** The open chat is about to close (back, or another agent took it). */
  closing() {
    const { openId, openSession } = this.host
    // A chat taken by another agent is gone from the cache: not ours to say anything of.
    if (openId && this.host.scope(openSession).chat(openId)) this.tell('idle', { chatId: openId, session: openSession })
    this.viewing = null
    if (this.viewingTimer) clearInterval(this.viewingTimer)
    this.viewingTimer = null
    if (this.notesOpen) this.toggleNotes(false)
    $('chat-tools').hidden = true
  }

  /** The agent typed in the composer. */
  typed() {
    this.tell('typing')
  }

  /** The agent sent: no longer typing, still viewing. */
  sent() {
    this.told = null
    this.tell('viewing')
  }
}

/** "Ana", "Ana and Bia", "Ana, Bia and Caio" (in the console's language). @param {string[]} names */
function listOf(names) {
  if (names.length < 2) return names.join('')
  return t('helpdesk.list.and', { first: names.slice(0, -1).join(', '), last: /** @type {string} */ (names.at(-1)) })
}

/** A stored time ("2026-12-06 03:40:00.123456+00:00", ISO, or seconds) as a Date, or null. @param {string} value */
function parseTime(value) {
  if (!value) return null
  if (/^\d+(\.\d+)?$/.test(value)) return new Date(Number(value) * (Number(value) > 1e12 ? 1 : 1000))
  const iso = value.replace(' ', 'T').replace(/(\.\d{3})\d+/, '$1')
  const d = new Date(iso)
  return Number.isNaN(d.getTime()) ? null : d
}

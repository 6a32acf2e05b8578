/**
 * The operator console: sign-in, connection state, QR and pairing code, history-sync progress,
 * chat list, chat window, composer. Plain DOM over wa-client.js; no build step, no framework.
 * Every piece of text from WhatsApp goes through textContent, never innerHTML.
 *
 * Sessions (several WhatsApp numbers): the console lists the ones the user may use (GET
 * /sessions). With more than `default`, a switcher shows each number with its unread count and
 * an "All" view whose chats say which number they are on; a chat's calls go to its session's
 * routes; staff get each number's link screen, admins add and remove numbers. With `default`
 * alone the console is what it was: one number, the unscoped routes, no switcher.
 *
 * Sign-in: the API token, or, when the orchestrator names a Supabase project (GET
 * /console/config), email and password through Supabase Auth (supabase-auth.js), whose access
 * token is refreshed before it expires and handed to the live client. The header shows who is
 * signed in and their role (GET /me).
 *
 * URL options: `?access_token=` signs in (then leaves the address bar), `?transport=websocket`
 * streams over WebSocket instead of SSE, `?streamRetryMs=` how often to try streaming again
 * while long-polling, `?webhookPollMs=` how often the settings page polls the webhooks' health
 * (default 5000, at least 200).
 */
import { QuickReplyPicker } from './quick-replies.js'
import { MessageSearch } from './search-ui.js'
import { SettingsPage } from './settings-ui.js'
import { webhookApi } from './webhooks-ui.js'
import { WaClient, WaError, mediaFromFile } from '../wa-client.js'
import { TYPING_TIMEOUT_MS, TypingNotifier, typingLabel } from './typing.js'
import { AuthError, SupabaseAuth, consoleConfig } from './supabase-auth.js'
import { HelpdeskUi } from './helpdesk-ui.js'
import { $, h } from './dom.js'
import { LOCALES, LOCALE_KEY, capitalised, clockTime, dayLabel as dayWords, errorText, formatLocale, fullDateTime, language, loadLocale, locale, number, pickLocale, shortWhen, t, translateDom } from './i18n.js'
import { renderHelp, shortcutFor, takesText } from './shortcuts.js'

const TOKEN_KEY = 'wa-console-token'
/** The session every unscoped route is (the only one of a single-number console). */
const DEFAULT = 'default'
const REACTIONS = ['👍', '❤️', '😂', '😮', '🙏', '✅']
/** Pages of older messages loaded, at most, to reach a message (a search hit, a quote). */
const JUMP_PAGES = 40
/** How long a message jumped to stays highlighted. */
const FLASH_MS = 3000
/** A quoted message the server could not give (not a 404) is asked again after this. */
const QUOTE_RETRY_MS = 30_000
/** A message's ack: its glyph, and the catalog key of its word ("ack.<name>"). */
const TICKS = /** @type {Record<number, [string, string]>} */ ({
  0: ['⚠', 'failed'],
  1: ['🕓', 'pending'],
  2: ['✓', 'sent'],
  3: ['✓✓', 'delivered'],
  4: ['✓✓', 'read'],
  5: ['✓✓', 'played'],
})
/** Message types with a word of their own ("kind.<type>") where a message has no text. */
const KINDS = ['image', 'video', 'audio', 'document', 'sticker', 'location', 'contact', 'poll', 'waiting']
/** A WhatsApp state's tone; its words are "wa.<state>". */
const WA_TONES = /** @type {Record<string, string>} */ ({
  open: 'ok', connecting: 'warn', qr: 'warn', close: 'bad', logged_out: 'bad', replaced: 'bad', stopped: 'bad',
})
/** @param {string} state */
const waStateText = (state) => (state in WA_TONES ? t(`wa.${state}`) : t('wa.other', { state }))


// ---- sign-in ----------------------------------------------------------------------------------

function takeTokenFromUrl() {
  const url = new URL(location.href)
  const token = url.searchParams.get('access_token')
  if (token === null) return
  url.searchParams.delete('access_token')
  // The token leaves the address bar (and so the history and any shared screenshot).
  history.replaceState(history.state, '', url.pathname + url.search + url.hash)
  if (token) sessionStorage.setItem(TOKEN_KEY, token)
}

/** Supabase Auth, when the orchestrator names a project (else the API token alone). @type {SupabaseAuth|null} */
let auth = null
/** How the console was signed in last: where a refusal is shown. @type {'token'|'email'} */
let via = 'token'

async function start() {
  takeTokenFromUrl()
  $('signin-form').addEventListener('submit', (e) => {
    e.preventDefault()
    const input = /** @type {HTMLInputElement} */ ($('signin-token'))
    const value = input.value.trim()
    if (!value) return
    auth?.signOut()
    via = 'token'
    sessionStorage.setItem(TOKEN_KEY, value)
    input.value = ''
    void openConsole(value)
  })
  $('signin-email-form').addEventListener('submit', (e) => {
    e.preventDefault()
    void signInWithPassword()
  })
  $('signout').addEventListener('click', () => {
    forgetCredentials()
    location.reload()
  })
  const token = sessionStorage.getItem(TOKEN_KEY)
  const config = token ? null : await consoleConfig()
  if (config) {
    auth = new SupabaseAuth(config, {
      onToken: (fresh) => current?.setToken(fresh),
      onSignedOut: (reason) => {
        current?.close()
        current = null
        showSignin(reason)
      },
    })
    $('signin-email-form').hidden = false
  }
  if (token) return void openConsole(token)
  if (auth?.session) {
    // A reload: the stored session, refreshed first if its access token has expired.
    try {
      if (!auth.fresh) await auth.refresh()
      auth.start()
      via = 'email'
      return void openConsole(/** @type {string} */ (auth.token))
    } catch {
      auth.signOut()
    }
  }
  showSignin()
}

async function signInWithPassword() {
  if (!auth) return
  const email = /** @type {HTMLInputElement} */ ($('signin-email'))
  const password = /** @type {HTMLInputElement} */ ($('signin-password'))
  const button = /** @type {HTMLButtonElement} */ ($('signin-email-submit'))
  const error = $('signin-email-error')
  error.hidden = true
  button.disabled = true
  try {
    const token = await auth.signIn(email.value.trim(), password.value)
    sessionStorage.removeItem(TOKEN_KEY)
    via = 'email'
    password.value = ''
    void openConsole(token)
  } catch (err) {
    error.hidden = false
    error.textContent = err instanceof AuthError ? err.message : t('signin.failed', { error: String(err) })
    password.select()
  } finally {
    button.disabled = false
  }
}

/** Sign out of both kinds of credential. */
function forgetCredentials() {
  sessionStorage.removeItem(TOKEN_KEY)
  auth?.signOut()
}

/** @param {string} [error] */
function showSignin(error) {
  $('app').hidden = true
  $('signin').hidden = false
  // A refusal shows under the form of the way the console was signed in.
  const byEmail = !!auth && via === 'email'
  for (const [id, mine] of [['signin-error', !byEmail], ['signin-email-error', byEmail]]) {
    const el = $(String(id))
    el.hidden = !(mine && error)
    el.textContent = mine && error ? error : ''
  }
  $(auth ? 'signin-email' : 'signin-token').focus()
}

/** The signed-in user's name and role in the header. @param {{name?: string|null, role?: string, userId?: string|null}|null} me */
function showMe(me) {
  $('me').hidden = !me
  if (!me) return
  $('me-name').textContent = me.name ?? (me.userId ? t('header.signedIn') : t('header.operator'))
  $('me-role').textContent = me.role ? (['admin', 'supervisor', 'agent'].includes(me.role) ? t(`role.${me.role}`) : me.role) : ''
}

// ---- the console ------------------------------------------------------------------------------

/** @type {Console|null} */
let current = null

/** Bumped by every openConsole(): an older one still awaiting its answers gives way. */
let opening = 0

/** @param {string} token */
async function openConsole(token) {
  const gen = ++opening
  current?.close()
  current = null
  // Who signs in, and the numbers they may use: several make a multi-number console.
  const ask = new WaClient({ baseUrl: '', token })
  /** @type {import('./wa-client').SessionInfo[]|null} */
  let sessions = null
  /** @type {{role: string, name?: string|null, userId?: string|null}|null} */
  let me = null
  try {
    ;[me, sessions] = await Promise.all([ask.me(), ask.sessions().catch((err) => {
      if (err instanceof WaError && err.status === 404) return null // a server without sessions
      throw err
    })])
  } catch (err) {
    if (err instanceof WaError && err.status === 401) {
      forgetCredentials()
      showSignin(via === 'email' ? t('signin.refused') : t('signin.tokenRefused'))
      return
    }
    if (err instanceof WaError && err.code === 'no_profile') {
      forgetCredentials()
      showSignin(t('signin.noProfile'))
      return
    }
  }
  if (gen !== opening) return
  const ids = sessions?.map((x) => x.id) ?? []
  const multi = ids.length > 1 || (ids.length === 1 && ids[0] !== DEFAULT)
  const params = new URL(location.href).searchParams
  const transport = params.get('transport') === 'websocket' ? 'websocket' : 'sse'
  const retry = Number(params.get('streamRetryMs'))
  const client = new WaClient({
    baseUrl: '',
    token,
    transport,
    streamRetryMs: Number.isFinite(retry) && retry >= 500 ? retry : undefined,
    sessions: multi ? ids : undefined,
  })
  // For tests and curious operators: the live client and its state.
  Object.assign(window, { __waClient: client })
  $('signin').hidden = true
  $('app').hidden = false
  showMe(me)
  current = new Console(client, { token, role: me?.role ?? 'agent', userId: me?.userId ?? null, name: me?.name ?? null, sessions: sessions ?? [], multi })
  try {
    await client.connect()
  } catch (err) {
    if (err instanceof WaError && err.status === 401) {
      forgetCredentials()
      client.close()
      showSignin(t('signin.tokenRefused'))
    }
  }
}

/** `?webhookPollMs=`, or undefined for the default. */
function webhookPoll() {
  const ms = Number(new URL(location.href).searchParams.get('webhookPollMs'))
  return Number.isFinite(ms) && ms >= 200 ? ms : undefined
}

/** A chat's key: its session and id (the same contact on two numbers is two chats). @param {string} session @param {string} chatId */
const chatKey = (session, chatId) => `${session}\n${chatId}`

/** The key of the chat a list row shows. @param {Element} row */
const rowKey = (row) => chatKey(row.getAttribute('data-session') ?? DEFAULT, row.getAttribute('data-chat-id') ?? '')

/** @param {string} key @returns {[string, string]} session, chat id */
const splitKey = (key) => /** @type {[string, string]} */ (key.split('\n', 2))

class Console {
  /**
   * @param {WaClient} client
   * @param {{token: string, role: string, userId: string|null, name: string|null, sessions: import('./wa-client').SessionInfo[], multi: boolean}} options
   */
  constructor(client, { token, role, userId, name, sessions, multi }) {
    this.client = client
    this.token = token
    this.role = role
    this.staff = role === 'admin' || role === 'supervisor'
    /** Several numbers (the switcher, session routes), or `default` alone (as before sessions). */
    this.multi = multi
    /** @type {Map<string, import('./wa-client').SessionInfo>} */
    this.sessions = new Map(sessions.map((x) => [x.id, x]))
    /** The number shown, or null for all of them. @type {string|null} */
    this.view = null
    /** Unread counts come from the cache once the snapshots are in, from GET /sessions before. */
    this.loaded = false
    /** @type {string|null} */
    this.openId = null
    /** The session of the open chat. */
    this.openSession = DEFAULT
    /** @type {import('./wa-client').Message|null} */
    this.replyTo = null
    /** @type {File|null} */
    this.file = null
    this.filter = ''
    /** @type {Map<string, HTMLElement>} */
    this.chatEls = new Map()
    /** @type {Map<string, string>} */
    this.chatSigs = new Map()
    /** What a pointer pressed in the chat list, and its row, until the release. @type {{node: Element, row: Element}|null} */
    this.pressed = null
    /** @type {Map<string, HTMLElement>} */
    this.msgEls = new Map()
    /** @type {Map<string, string>} */
    this.msgSigs = new Map()
    /** chats with a mark-read request in flight, and when one last failed (ms) */
    this.reading = new Set()
    this.readFailedAt = new Map()
    this.loadingOlder = false
    /** Follow new messages while the reader is at the bottom of the chat. */
    this.stick = true
    /** @type {ReturnType<typeof setInterval>|null} */
    this.bannerTimer = null
    /** The QR whose image is shown or on its way, and the object URL showing it. */
    /** @type {string|null} */
    this.qrFor = null
    /** @type {string|null} */
    this.qrUrl = null
    /** Our chat state for the contact, from the composer; when each chat's presence came. */
    this.typing = new TypingNotifier()
    /** @type {ReturnType<typeof setTimeout>|null} */
    this.pausedTimer = null
    /** @type {Map<string, number>} */
    this.presenceAt = new Map()

    /** Each chat's last message id as last seen: what is news to announce. @type {Map<string, string>} */
    this.lastSeen = new Map()
    /** Off until the first snapshot is in: the chats loaded at the start are not news. */
    this.announcing = false
    client.on('chats', () => {
      this.renderChats()
      this.announceNews()
      this.renderSessions()
      if (this.openId && document.visibilityState === 'visible') this.markRead(this.openId)
    })
    client.on('snapshot', () => {
      this.loaded = true
      this.announceNews()
      this.announcing = true
      this.renderSessions()
    })
    client.on('messages', ({ chatId, session }) => {
      if (chatId === this.openId && (session ?? DEFAULT) === this.openSession) this.renderMessages()
    })
    client.on('status', () => {
      this.renderStatus()
      this.renderSessions()
    })
    client.on('qr', () => this.renderStatus())
    client.on('sync', (s) => this.renderSync(s))
    client.on('presence', ({ chatId, session }) => {
      const key = chatKey(session ?? DEFAULT, chatId)
      this.presenceAt.set(key, Date.now())
      this.renderTyping(key)
      // A `paused` can be lost: the indicator goes by itself once nothing came for a while.
      setTimeout(() => this.renderTyping(key), TYPING_TIMEOUT_MS + 100)
    })
    client.on('client', () => this.renderLink())
    client.on('chat_deleted', (d, envelope) => {
      if (d.id === this.openId && (envelope?.session ?? DEFAULT) === this.openSession) {
        if (d.mergedInto) void this.open(d.mergedInto, this.openSession)
        else this.closeChat()
      }
    })
    // A number removed (here or by another admin): the console starts again without it.
    client.on('session_deleted', ({ sessionId }) => {
      this.toast(t('numbers.removed', { name: this.sessionName(sessionId) }))
      void openConsole(this.token)
    })
    client.on('error', ({ message }) => this.toast(message))
    client.on('client', (s) => {
      if (s.link === 'unauthorized') {
        forgetCredentials()
        showSignin(t('signin.tokenExpired'))
      }
    })
    this.bind()
    this.bindTools()
    this.renderLink()
    this.renderSessions()
    this.renderAdmin()
    /** Assignment, status, inbox views, notes, agents' presence (helpdesk-ui.js). */
    this.helpdesk = new HelpdeskUi(this, { userId, name, staff: this.staff })
  }

  /** A refreshed access token: the next calls and reconnections carry it; the stream goes on. @param {string} token */
  setToken(token) {
    this.token = token
    this.client.setToken(token)
  }

  /** Stop: the client, and what this console put on the page (the next one starts afresh). */
  close() {
    document.onkeydown = null
    this.client.close()
    this.quick.detach()
    this.search.detach()
    this.settings.hide()
    if (this.bannerTimer) clearInterval(this.bannerTimer)
    if (this.pausedTimer) clearTimeout(this.pausedTimer)
    this.setQrImage(null)
    this.closeChat()
    this.helpdesk.close()
    $('chat-list').replaceChildren()
    $('message-list').replaceChildren()
    // The switcher's buttons call this console: the next one builds its own.
    $('sessions').replaceChildren()
    delete $('sessions').dataset.sig
  }

  /**
   * A session's calls: the client itself in a single-number console (the unscoped routes, as
   * before sessions), else the session's routes.
   * @param {string} session
   */
  scope(session) {
    return this.multi ? this.client.session(session) : this.client
  }

  /** The open chat's session's calls. */
  here() {
    return this.scope(this.openSession)
  }

  /** @param {string} id */
  sessionName(id) {
    return this.sessions.get(id)?.name || id
  }

  // ---- sessions: the switcher, the admin panel ------------------------------------------

  /** The switcher: "All" and each number, with its unread count and whether it is linked. */
  renderSessions() {
    const nav = $('sessions')
    nav.hidden = !this.multi
    if (!this.multi) return
    /** @param {string|null} id @param {string} label @param {number} unread @param {string} [state] */
    const button = (id, label, unread, state) => h(
      'button',
      {
        type: 'button',
        class: `session-tab${this.view === id ? ' selected' : ''}`,
        'aria-pressed': this.view === id ? 'true' : 'false',
        dataset: { session: id ?? '', state: state ?? '' },
        title: state && state !== 'open' ? `${label}: ${waStateText(state)}` : label,
        onclick: () => this.show(id),
      },
      state && state !== 'open' ? h('span', { class: 'session-warn', 'aria-hidden': 'true' }, '⚠') : null,
      h('span', { class: 'session-name' }, label),
      unread > 0 ? h('span', { class: 'badge', 'aria-label': t('chats.unread', { count: unread }) }, number(unread)) : null,
    )
    const ids = [...this.sessions.keys()]
    const unread = (/** @type {string} */ id) => (this.loaded ? this.client.unread(id) : this.sessions.get(id)?.unread ?? 0)
    const state = (/** @type {string} */ id) => this.client.session(id).status()?.state ?? this.sessions.get(id)?.state
    // Rebuilt only when something it shows changed: a rebuild would take the focus away.
    const sig = JSON.stringify([this.view, ids.map((id) => [id, unread(id), state(id)])])
    if (nav.dataset.sig === sig) return
    const focused = /** @type {HTMLElement|null} */ (document.activeElement)?.closest?.('.session-tab')?.getAttribute('data-session')
    nav.dataset.sig = sig
    nav.replaceChildren(
      button(null, t('numbers.all'), ids.reduce((n, id) => n + unread(id), 0)),
      ...ids.map((id) => button(id, this.sessionName(id), unread(id), state(id))),
    )
    if (focused !== null && focused !== undefined) /** @type {HTMLElement|null} */ (nav.querySelector(`[data-session="${CSS.escape(focused)}"]`))?.focus()
  }

  /** Show one number's chats (and its link screen), or all of them (null). @param {string|null} id */
  show(id) {
    this.view = id
    this.renderSessions()
    this.renderChats()
    this.renderStatus()
    this.renderAdmin()
  }

  /** Admins: add a number (id, name), remove one (with a second click to confirm). */
  renderAdmin() {
    const admin = this.role === 'admin'
    $('numbers-toggle').hidden = !admin
    if (!admin) {
      $('numbers').hidden = true
      return
    }
    const list = $('numbers-list')
    list.replaceChildren(...[...this.sessions.values()].map((x) => {
      const remove = h('button', { type: 'button', class: 'ghost small', dataset: { remove: x.id } }, t('numbers.remove'))
      remove.onclick = () => {
        if (remove.dataset.confirm !== 'yes') {
          remove.dataset.confirm = 'yes'
          remove.textContent = t('numbers.removeSure')
          return
        }
        void this.removeSession(x.id)
      }
      return h('li', { dataset: { session: x.id } }, h('span', {}, `${x.name || x.id} `), h('code', {}, x.id), x.id === DEFAULT ? null : remove)
    }))
  }

  async addSession() {
    const id = /** @type {HTMLInputElement} */ ($('number-id'))
    const name = /** @type {HTMLInputElement} */ ($('number-name'))
    const out = $('numbers-error')
    out.hidden = true
    try {
      await this.client.createSession({ id: id.value.trim(), name: name.value.trim() || undefined })
      id.value = name.value = ''
      await openConsole(this.token)
    } catch (err) {
      out.hidden = false
      out.textContent = t('numbers.notAdded', { error: errorText(err) })
    }
  }

  /** @param {string} id */
  async removeSession(id) {
    try {
      await this.client.deleteSession(id)
      await openConsole(this.token)
    } catch (err) {
      this.toast(t('numbers.notRemoved', { error: errorText(err) }))
    }
  }

  bind() {
    const search = /** @type {HTMLInputElement} */ ($('search'))
    search.oninput = () => {
      if (this.search.active) return // the messages mode searches the server instead
      this.filter = search.value.trim().toLowerCase()
      this.renderChats()
    }
    document.onkeydown = (e) => void this.shortcut(e)
    $('shortcuts-toggle').onclick = () => this.showShortcuts()
    $('chat-list').onkeydown = (e) => this.chatListKeys(e)
    // A row is rebuilt whenever its chat changes (a new message, a read): the browser gives no
    // click when the pressed element left the page before the release, so on a busy chat a
    // click would often be lost. The release on the same chat's new row opens it instead.
    $('chat-list').onpointerdown = (e) => {
      const node = /** @type {Element} */ (e.target)
      const row = node.closest('.chat-item')
      this.pressed = row && e.button === 0 ? { node, row } : null
    }
    $('chat-list').onpointerup = (e) => {
      const pressed = this.pressed
      this.pressed = null
      if (!pressed || pressed.node.isConnected) return // the click comes as usual
      const row = /** @type {HTMLElement|null} */ (/** @type {Element} */ (e.target).closest('.chat-item'))
      if (row && rowKey(row) === rowKey(pressed.row)) void this.open(row.dataset.chatId ?? '', row.dataset.session ?? DEFAULT)
    }
    $('chat-list').onpointercancel = () => (this.pressed = null) // a touch that became a scroll
    $('back').onclick = () => this.closeChat()
    $('load-older').onclick = () => void this.loadOlder()
    const box = $('messages')
    box.onscroll = () => {
      this.stick = box.scrollHeight - box.scrollTop - box.clientHeight < 80
      if (box.scrollTop < 150) void this.loadOlder()
    }
    // Content that grows later (a photo decoded, a placeholder swapped in) keeps the newest
    // message in view for a reader who was at the bottom.
    const follow = new ResizeObserver(() => {
      if (this.stick && this.openId) box.scrollTop = box.scrollHeight
    })
    follow.observe($('message-list'))
    follow.observe(box)
    $('message-list').onclick = (e) => {
      // Touch screens have no hover: a tap on a message shows its actions.
      const item = /** @type {HTMLElement} */ (e.target).closest('li.msg')
      if (!item || /** @type {HTMLElement} */ (e.target).closest('a, button')) return
      for (const other of $('message-list').querySelectorAll('li.show-actions')) if (other !== item) other.classList.remove('show-actions')
      item.classList.toggle('show-actions')
    }
    $('reply-cancel').onclick = () => this.setReply(null)
    $('file-cancel').onclick = () => this.setFile(null)
    const file = /** @type {HTMLInputElement} */ ($('file'))
    file.onchange = () => this.setFile(file.files?.[0] ?? null)
    const text = /** @type {HTMLTextAreaElement} */ ($('composer-text'))
    text.onkeydown = (e) => {
      if (this.quick.handleKey(e)) return
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault()
        $('composer').requestSubmit()
      }
    }
    text.oninput = () => {
      autoGrow(text)
      if (this.openId && text.value.trim()) {
        this.tellTyping(this.typing.typed(chatKey(this.openSession, this.openId), Date.now()))
        this.helpdesk.typed()
      }
    }
    $('composer').onsubmit = (e) => {
      e.preventDefault()
      void this.send()
    }
    $('banner-retry').onclick = () => this.client.reconnectNow()
    $('pairing-form').onsubmit = (e) => {
      e.preventDefault()
      void this.pairing()
    }
    $('numbers-toggle').onclick = () => {
      $('numbers').hidden = !$('numbers').hidden
    }
    $('number-form').onsubmit = (e) => {
      e.preventDefault()
      void this.addSession()
    }
  }

  /**
   * The helpdesk tools (issue #16): quick replies in the composer, message search in the
   * sidebar, the settings page; and quoted messages that are not loaded, fetched one by one.
   */
  bindTools() {
    /** The signed-in user's name (GET /me): quick replies' {agent}. @type {string|null} */
    this.agentName = null
    this.client.me().then((me) => {
      this.agentName = me?.name ?? null
    }, (err) => console.warn('GET /me failed: {agent} stays empty', err))
    const text = /** @type {HTMLTextAreaElement} */ ($('composer-text'))
    this.quick = new QuickReplyPicker(text, {
      load: () => this.client.quickReplies(),
      values: () => {
        const chat = this.openId ? this.here().chat(this.openId) : null
        return { name: chat?.name || (this.openId ? phoneOf(this.openId) : ''), agent: this.agentName ?? '' }
      },
      changed: () => {
        autoGrow(text)
        if (this.openId && text.value.trim()) this.tellTyping(this.typing.typed(chatKey(this.openSession, this.openId), Date.now()))
      },
    })
    const search = /** @type {HTMLInputElement} */ ($('search'))
    this.search = new MessageSearch({
      input: search,
      scopes: () => {
        if (!this.multi) return [[DEFAULT, this.client]]
        const ids = this.view === null ? [...this.sessions.keys()] : [this.view]
        return ids.map((id) => /** @type {[string, import('./wa-client').WaSession]} */ ([id, this.client.session(id)]))
      },
      describe: (session, chatId) => {
        const chat = this.scope(session).chat(chatId)
        return { name: chat ? displayName(chat) : phoneOf(chatId), session: this.multi && this.view === null ? this.sessionName(session) : null }
      },
      pick: (m, session) => void this.jumpTo(session, m.chatId, m.id),
      toggled: (on) => {
        this.filter = on ? '' : search.value.trim().toLowerCase()
        this.renderChats()
      },
    })
    /** Quoted messages fetched because they are not loaded, by chat key and id: the message, or a 404, or a failure and when. @type {Map<string, {message: import('./wa-client').Message|null, missing: boolean, failed: boolean, at: number}>} */
    this.quotes = new Map()
    this.settings = new SettingsPage($('settings'), {
      scope: (session) => this.scope(session),
      client: this.client,
      role: this.role,
      numbers: () => (this.multi ? [...this.sessions.keys()].map((id) => /** @type {[string, string]} */ ([id, this.sessionName(id)])) : []),
      session: () => this.settingsSession(),
      quickRepliesChanged: () => void this.quick.refresh(),
      webhooks: this.role === 'admin' ? webhookApi(() => this.client.token) : null,
      webhookPollMs: webhookPoll(),
      closed: (back) => {
        $('settings-toggle').setAttribute('aria-expanded', 'false')
        if (back) $('settings-toggle').focus()
      },
    })
    $('settings-toggle').onclick = () => {
      if (!$('settings').hidden) {
        this.settings.hide(true)
        return
      }
      $('settings-toggle').setAttribute('aria-expanded', 'true')
      void this.settings.show()
    }
  }

  /** The session the settings page shows: the viewed number, the open chat's, or the default. */
  settingsSession() {
    return this.multi ? this.view ?? (this.openId ? this.openSession : [...this.sessions.keys()][0] ?? DEFAULT) : DEFAULT
  }

  /**
   * Open a chat at one of its messages: older pages are loaded until it is there, then it is
   * scrolled to the middle and highlighted for a moment.
   * @param {string} session @param {string} chatId @param {string} messageId
   */
  async jumpTo(session, chatId, messageId) {
    if (!$('settings').hidden) this.settings.hide()
    await this.open(chatId, session)
    const here = () => this.openId === chatId && this.openSession === session
    const scope = this.scope(session)
    $('older-status').textContent = this.msgEls.has(messageId) ? '' : t('chat.finding')
    for (let pages = 0; here() && !this.msgEls.has(messageId) && scope.hasOlder(chatId) && pages < JUMP_PAGES; pages++) {
      this.stick = false
      try {
        await scope.loadOlder(chatId)
      } catch (err) {
        this.toast(t('chat.olderFailed', { error: errorText(err) }))
        break
      }
      if (here()) this.renderMessages()
    }
    if (!here()) return
    $('older-status').textContent = ''
    const el = this.msgEls.get(messageId)
    if (!el) {
      this.toast(t('chat.messageGone'))
      return
    }
    this.stick = false
    el.scrollIntoView({ block: 'center' })
    for (const other of $('message-list').querySelectorAll('li.flash')) other.classList.remove('flash')
    el.classList.add('flash')
    el.tabIndex = -1
    el.focus({ preventScroll: true })
    setTimeout(() => el.classList.remove('flash'), FLASH_MS)
  }

  /**
   * What a reply shows of the message it quotes: the loaded one, else one fetched from the
   * server (asked once; the fallback text only when the server has none).
   * @param {import('./wa-client').Message} m @param {Map<string, import('./wa-client').Message>} loaded
   * @returns {{message: import('./wa-client').Message|null, text: string}}
   */
  quoteOf(m, loaded) {
    const id = /** @type {string} */ (m.quotedId)
    const found = loaded.get(id)
    if (found) return { message: found, text: messagePreview(found) }
    const key = `${chatKey(this.openSession, m.chatId)}\n${id}`
    const known = this.quotes.get(key)
    if (known?.message) return { message: known.message, text: messagePreview(known.message) }
    if (known?.missing) return { message: null, text: t('quote.missing') }
    // A failure other than 404 (the network, a restart) is asked again a little later.
    if (known && (!known.failed || Date.now() - known.at < QUOTE_RETRY_MS)) {
      return { message: null, text: known.failed ? t('quote.failed') : t('quote.loading') }
    }
    const entry = { message: /** @type {import('./wa-client').Message|null} */ (null), missing: false, failed: false, at: Date.now() }
    this.quotes.set(key, entry)
    const session = this.openSession
    this.scope(session).message(m.chatId, id)
      .then((message) => {
        entry.message = message
      })
      .catch((err) => {
        if (err instanceof WaError && err.status === 404) entry.missing = true
        else {
          entry.failed = true
          console.warn('quoted message not fetched', id, err)
        }
        entry.at = Date.now()
      })
      .finally(() => {
        if (this.openId === m.chatId && this.openSession === session) this.renderMessages()
      })
    return { message: null, text: t('quote.loading') }
  }

  // ---- link state, WhatsApp state, QR, sync ---------------------------------------------

  renderLink() {
    const s = this.client.clientState()
    document.body.dataset.link = s.link
    document.body.dataset.transport = s.transport ?? ''
    const pill = $('link-state')
    const known = ['reconnecting', 'connecting', 'closed', 'idle', 'unauthorized']
    pill.textContent = s.link === 'live' ? t(`link.live.${s.transport ?? 'sse'}`) : known.includes(s.link) ? t(`link.${s.link}`) : s.link
    pill.className = `pill ${s.link === 'live' ? (s.transport === 'poll' ? 'warn' : 'ok') : s.link === 'reconnecting' ? 'bad' : 'warn'}`
    pill.title = s.transport === 'poll' ? t('link.pollTitle') : t('link.title')
    const banner = $('banner')
    if (this.bannerTimer) clearInterval(this.bannerTimer)
    this.bannerTimer = null
    if (s.link === 'reconnecting') {
      const update = () => {
        const left = s.nextRetryAt ? Math.max(0, Math.ceil((s.nextRetryAt - Date.now()) / 1000)) : 0
        const lost = s.error ? t('banner.lostBecause', { error: s.error }) : t('banner.lost')
        const when = left > 0 ? t('banner.reconnectingIn', { count: left }) : t('link.reconnecting')
        $('banner-text').textContent = `${lost} ${when} ${t('banner.meanwhile')}`
      }
      update()
      this.bannerTimer = setInterval(update, 1000)
      banner.hidden = false
    } else {
      banner.hidden = true
    }
  }

  renderStatus() {
    if (this.multi && this.view === null) {
      this.renderAllStatus()
      return
    }
    const scope = this.multi ? this.scope(/** @type {string} */ (this.view)) : this.client
    const status = scope.status()
    const state = status?.state ?? 'connecting'
    document.body.dataset.waState = state
    const label = waStateText(state)
    const tone = WA_TONES[state] ?? 'warn'
    const pill = $('wa-state')
    const reason = status?.reason
    pill.textContent = reason?.unreachable && state !== 'open' ? t('wa.unreachable') : label
    pill.className = `pill ${tone}`
    pill.title = reason?.message ? t('wa.lastClose', { reason: `${reason.message}${reason.statusCode ? ` (${reason.statusCode})` : ''}` }) : t('wa.title')
    // Another bridge holds this number's endpoints: nothing of it is shown, say why.
    if (status?.bridge?.state === 'wrong_bridge') {
      pill.textContent = t('wa.wrongBridge')
      pill.className = 'pill bad'
      pill.title = status.bridge.error ?? t('wa.wrongBridgeTitle')
    }
    const qr = scope.qr()
    const linked = state === 'open' || Boolean(status?.me)
    const showLink = (!linked || state === 'qr' || state === 'logged_out' || qr !== null) && (!this.multi || this.staff)
    $('link').hidden = !showLink
    $('link-title').textContent = this.multi ? t('link.titleOf', { name: this.sessionName(/** @type {string} */ (this.view)) }) : t('link.heading')
    const img = /** @type {HTMLImageElement} */ ($('qr'))
    if (qr) {
      if (qr !== this.qrFor) void this.showQr(qr, scope)
    } else {
      this.qrFor = null
      this.setQrImage(null)
      $('qr-none').textContent = state === 'logged_out' ? t('link.loggedOut') : t('link.waitingQr')
    }
    $('qr-none').hidden = !img.hidden
  }

  /** Every number at once: connected when all are, else how many need attention (the switcher says which). */
  renderAllStatus() {
    const states = [...this.sessions.keys()].map((id) => this.client.session(id).status()?.state ?? 'connecting')
    const down = states.filter((x) => x !== 'open').length
    document.body.dataset.waState = down === 0 ? 'open' : states.find((x) => x !== 'open') ?? 'connecting'
    const pill = $('wa-state')
    pill.textContent = down === 0 ? t('wa.open') : t('wa.someDown', { count: down, total: states.length })
    pill.className = `pill ${down === 0 ? 'ok' : 'warn'}`
    pill.title = t('wa.titleAll')
    $('link').hidden = true
    this.qrFor = null
    this.setQrImage(null)
  }

  /**
   * Fetch the QR's image with the token in a header and show it from an object URL: an
   * <img src> with the token would put it in the history and in proxies' logs.
   * @param {string} qr @param {{qrImage(): Promise<Blob|null>}} scope the session's calls
   */
  async showQr(qr, scope) {
    this.qrFor = qr
    let blob = null
    try {
      blob = await scope.qrImage()
    } catch (err) {
      console.warn('QR image failed', err)
    }
    if (this.qrFor !== qr) return // a newer QR (or none) since
    if (blob) this.setQrImage(blob)
    else this.qrFor = null // none yet: the next status or qr event asks again
  }

  /** @param {Blob|null} blob the image to show, or null for none */
  setQrImage(blob) {
    const img = /** @type {HTMLImageElement} */ ($('qr'))
    if (this.qrUrl) URL.revokeObjectURL(this.qrUrl)
    this.qrUrl = blob ? URL.createObjectURL(blob) : null
    if (this.qrUrl) img.src = this.qrUrl
    else img.removeAttribute('src')
    img.hidden = !this.qrUrl
    $('qr-none').hidden = !img.hidden
  }

  /** @param {{progress: number|null, isLatest: boolean|null}} s */
  renderSync(s) {
    const box = $('sync')
    const bar = /** @type {HTMLProgressElement} */ ($('sync-bar'))
    const pct = Math.max(0, Math.min(100, s.progress ?? 0))
    bar.value = pct
    bar.setAttribute('aria-valuetext', t('sync.percent', { pct }))
    $('sync-label').textContent = pct >= 100 ? t('sync.done') : t('sync.progress', { pct })
    box.hidden = false
    if (pct >= 100) setTimeout(() => (box.hidden = true), 4000)
  }

  /** @param {string} message */
  toast(message) {
    const t = $('toast')
    t.textContent = message
    t.hidden = false
    const slot = /** @type {{timer?: ReturnType<typeof setTimeout>}} */ (/** @type {unknown} */ (t))
    clearTimeout(slot.timer)
    slot.timer = setTimeout(() => (t.hidden = true), 6000)
  }

  async pairing() {
    const input = /** @type {HTMLInputElement} */ ($('pairing-phone'))
    const out = $('pairing-result')
    out.textContent = t('link.asking')
    out.classList.remove('error')
    try {
      const scope = this.multi && this.view !== null ? this.scope(this.view) : this.client
      const { code } = await scope.pairingCode(input.value)
      out.textContent = t('link.enterCode', { code })
    } catch (err) {
      out.classList.add('error')
      out.textContent = err instanceof WaError ? t('link.codeFailedBecause', { error: errorText(err) }) : t('link.codeFailed')
    }
  }

  // ---- chat list -------------------------------------------------------------------------

  /** The chats shown: the viewed number's, or every number's; each with its session. @returns {import('./wa-client').SessionChat[]} */
  listed() {
    if (!this.multi) return this.client.chats().map((c) => ({ ...c, session: DEFAULT }))
    const all = this.client.allChats()
    return this.view === null ? all : all.filter((c) => c.session === this.view)
  }

  renderChats() {
    const list = $('chat-list')
    const chats = this.listed().filter((c) => this.matches(c) && this.helpdesk.shows(c))
    $('chat-empty').hidden = chats.length > 0
    // A listbox of no option is an error to a screen reader: the empty text says it instead.
    list.hidden = chats.length === 0
    $('chat-empty').textContent = this.filter ? t('chats.noMatch') : this.listed().length ? this.helpdesk.emptyText() : t('chats.none')
    const focusedEl = /** @type {HTMLElement|null} */ (document.activeElement)?.closest?.('.chat-item')
    const focusedId = focusedEl ? rowKey(focusedEl) : null
    const openKey = this.openId ? chatKey(this.openSession, this.openId) : null
    const keep = new Set(chats.map((c) => chatKey(c.session, c.id)))
    for (const [id, el] of this.chatEls) {
      if (!keep.has(id)) {
        el.remove()
        this.chatEls.delete(id)
        this.chatSigs.delete(id)
      }
    }
    const showSession = this.multi && this.view === null
    chats.forEach((chat, i) => {
      const key = chatKey(chat.session, chat.id)
      const sig = JSON.stringify([this.typingIn(key), chat.name, chat.unreadCount, chat.timestamp, chat.lastMessage?.id, chat.lastMessage?.ack, chat.lastMessage?.text, chat.lastMessage?.deleted, chat.assignment, /** @type {{status?: string}} */ (chat).status, chat.tags, chat.labels, key === openKey, showSession])
      let el = this.chatEls.get(key)
      if (!el || this.chatSigs.get(key) !== sig) {
        const fresh = this.chatItem(chat, showSession)
        if (el) el.replaceWith(fresh)
        el = fresh
        this.chatEls.set(key, el)
        this.chatSigs.set(key, sig)
      }
      // Move only what is out of place: moving a node blurs it.
      if (list.children[i] !== el) list.insertBefore(el, list.children[i] ?? null)
    })
    // Roving tabindex: one item is in the tab order.
    const items = /** @type {HTMLElement[]} */ ([...list.children])
    const wanted = focusedId ?? openKey
    const active = items.find((el) => rowKey(el) === wanted) ?? items[0]
    for (const el of items) el.tabIndex = el === active ? 0 : -1
    if (focusedId && document.activeElement !== this.chatEls.get(focusedId)) this.chatEls.get(focusedId)?.focus()
  }

  /** @param {import('./wa-client').Chat} chat */
  matches(chat) {
    if (!this.filter) return true
    const hay = `${chat.name ?? ''} ${chat.id} ${chat.lastMessage?.text ?? ''} ${[...(chat.tags ?? []), ...(chat.labels ?? [])].map((t) => t.name).join(' ')}`.toLowerCase()
    return hay.includes(this.filter)
  }

  /** @param {import('./wa-client').SessionChat} chat @param {boolean} showSession the "All" view: which number it is on */
  chatItem(chat, showSession) {
    const name = displayName(chat)
    const last = chat.lastMessage
    const selected = chat.id === this.openId && chat.session === this.openSession
    const typing = this.typingIn(chatKey(chat.session, chat.id))
    const preview = typing ?? (last ? messagePreview(last) : '')
    const tags = chat.tags?.length || chat.labels?.length
      ? h('span', { class: 'tags' }, ...(chat.labels ?? []).map((l) => labelChip(l)), ...(chat.tags ?? []).map((t) => tagChip(t)))
      : null
    const helpdesk = this.helpdesk.listBadges(chat)
    const unread = chat.unreadCount > 0 ? h('span', { class: 'badge', 'aria-label': t('chats.unread', { count: chat.unreadCount }) }, number(chat.unreadCount)) : null
    return h(
      'li',
      {
        class: `chat-item${selected ? ' selected' : ''}${chat.unreadCount > 0 ? ' unread' : ''}`,
        role: 'option',
        'aria-selected': selected ? 'true' : 'false',
        dataset: { chatId: chat.id, session: chat.session, lastMessageId: last?.id ?? '' },
        onclick: () => void this.open(chat.id, chat.session),
      },
      h('span', { class: `avatar${chat.isGroup ? ' group' : ''}`, 'aria-hidden': 'true' }, initials(name)),
      h(
        'span',
        { class: 'chat-main' },
        h(
          'span',
          { class: 'chat-top' },
          h('span', { class: 'chat-name' }, name),
          showSession ? h('span', { class: 'session-chip', title: t('chats.sessionChip') }, this.sessionName(chat.session)) : null,
          h('time', { class: 'chat-time' }, chat.timestamp ? shortTime(chat.timestamp) : ''),
        ),
        h('span', { class: 'chat-bottom' }, last?.fromMe ? ticks(last) : null, h('span', { class: typing ? 'preview typing' : 'preview' }, preview), unread),
        helpdesk.length || tags ? h('span', { class: 'chat-extra' }, ...helpdesk, tags) : null,
      ),
    )
  }

  /**
   * The keyboard shortcuts (shortcuts.js says which key is which action). A key a widget has
   * handled (the quick replies' Escape, the notes' Escape) is not a shortcut.
   * @param {KeyboardEvent} e
   */
  async shortcut(e) {
    // Only over the chats: not on the sign-in page, nor under the settings page.
    if (e.defaultPrevented || $('app').hidden || !$('settings').hidden) return
    const target = /** @type {Element} */ (e.target)
    const inTextBox = takesText(target)
    const action = shortcutFor(e, inTextBox)
    if (!action) return
    if (action === 'leave') {
      // Escape: a reply being written is cancelled first; then the focus leaves the text box
      // for the messages (or the chat list), where the single-key shortcuts work again.
      if (this.replyTo) this.setReply(null)
      else if (inTextBox && !target.closest('dialog')) this.focusChats()
      return
    }
    e.preventDefault()
    const chat = this.openId ? this.here().chat(this.openId) : null
    if (action === 'help') this.showShortcuts()
    else if (action === 'search') $('search').focus()
    else if (action === 'nextChat' || action === 'previousChat') await this.step(action === 'nextChat' ? 1 : -1, false, inTextBox)
    else if (action === 'nextUnread') await this.step(1, true, inTextBox)
    else if (!chat) this.announce(t('keys.noChat'))
    else if (action === 'reply') $('composer-text').focus()
    else if (action === 'note') this.helpdesk.toggleNotes(true)
    else if (action === 'take') {
      const take = /** @type {HTMLButtonElement|null} */ ($('chat-tools').querySelector('[data-tool-key="take"]'))
      if (take) take.click()
      else this.toast(t('keys.cannotTake'))
    } else if (action === 'resolve') {
      const status = /** @type {HTMLSelectElement|null} */ (document.getElementById('chat-status'))
      if (!status || status.disabled) this.toast(t('keys.cannotResolve'))
      else if (status.value !== 'resolved') {
        status.value = 'resolved'
        status.dispatchEvent(new Event('change'))
        this.announce(t('keys.resolved', { name: displayName(chat) }))
      }
    }
  }

  /**
   * Open the chat `delta` places from the open one in the list (the next unread one after it,
   * wrapping, with `unread`). The focus follows to the chat's item, unless it was in a text box.
   * @param {number} delta @param {boolean} unread @param {boolean} stayInTextBox
   */
  async step(delta, unread, stayInTextBox) {
    const items = /** @type {HTMLElement[]} */ ([...$('chat-list').children])
    if (!items.length) return
    const at = items.findIndex((el) => el.classList.contains('selected'))
    let target = null
    if (unread) {
      for (let i = 1; i <= items.length && !target; i++) {
        const el = items[(Math.max(at, -1) + i + items.length) % items.length]
        if (el.classList.contains('unread') && el !== items[at]) target = el
      }
      if (!target) {
        this.announce(t('keys.noUnread'))
        this.toast(t('keys.noUnread'))
        return
      }
    } else {
      target = items[at < 0 ? (delta > 0 ? 0 : items.length - 1) : Math.max(0, Math.min(items.length - 1, at + delta))]
    }
    const session = target.dataset.session ?? DEFAULT
    const chatId = /** @type {string} */ (target.dataset.chatId)
    const opened = this.open(chatId, session)
    if (!stayInTextBox) this.chatEls.get(chatKey(session, chatId))?.focus()
    await opened
  }

  /** The "?" dialog: every shortcut, in the language in use; the focus comes back on closing. */
  showShortcuts() {
    const dialog = /** @type {HTMLDialogElement} */ ($('shortcuts'))
    if (dialog.open) return
    const back = /** @type {HTMLElement|null} */ (document.activeElement)
    // A chat's row may be rebuilt meanwhile (its unread count, a new message): its new one then.
    const row = back?.closest('.chat-item')
    const key = row ? rowKey(row) : null
    renderHelp(dialog)
    dialog.onclose = () => {
      const again = back?.isConnected ? back : key ? this.chatEls.get(key) : null
      if (again) again.focus()
      else this.focusChats()
    }
    dialog.showModal()
  }

  /** The focus on the open chat's messages, else on the chat list's current row (or nowhere in particular). */
  focusChats() {
    const row = /** @type {HTMLElement|null} */ ($('chat-list').querySelector('[tabindex="0"]'))
    const target = this.openId ? $('messages') : row
    if (target) target.focus()
    else /** @type {HTMLElement|null} */ (document.activeElement)?.blur()
  }

  /**
   * Say something to screen readers, politely (after what they are reading): the text is
   * replaced, so a burst of news is read once, not queued up.
   * @param {string} text
   */
  announce(text) {
    $('announcer').textContent = text
  }

  /**
   * New messages from customers, said to screen readers: the open chat's with their text,
   * another chat's as whose they are. A chat's first sight (the start, a snapshot) is not news.
   */
  announceNews() {
    const fresh = []
    for (const chat of this.listed()) {
      const key = chatKey(chat.session, chat.id)
      const last = chat.lastMessage
      const before = this.lastSeen.get(key)
      this.lastSeen.set(key, last?.id ?? '')
      if (!this.announcing || before === undefined || !last || last.id === before || last.fromMe) continue
      const open = chat.id === this.openId && chat.session === this.openSession
      fresh.push(open ? t('announce.inOpen', { name: displayName(chat), text: messagePreview(last) }) : t('announce.inOther', { name: displayName(chat) }))
    }
    if (fresh.length === 1) this.announce(fresh[0])
    else if (fresh.length > 1) this.announce(t('announce.many', { count: fresh.length }))
  }

  /** @param {KeyboardEvent} e */
  chatListKeys(e) {
    if (e.altKey) return // Alt+↓/↑: the next and previous chat (shortcut)
    const items = /** @type {HTMLElement[]} */ ([...$('chat-list').children])
    const i = items.indexOf(/** @type {HTMLElement} */ (document.activeElement))
    /** @param {number} j */
    const go = (j) => {
      const el = items[Math.max(0, Math.min(items.length - 1, j))]
      if (!el) return
      for (const x of items) x.tabIndex = -1
      el.tabIndex = 0
      el.focus()
      e.preventDefault()
    }
    if (e.key === 'ArrowDown') go(i + 1)
    else if (e.key === 'ArrowUp') go(i - 1)
    else if (e.key === 'Home') go(0)
    else if (e.key === 'End') go(items.length - 1)
    else if ((e.key === 'Enter' || e.key === ' ') && i >= 0) {
      e.preventDefault()
      void this.open(/** @type {string} */ (items[i].dataset.chatId), items[i].dataset.session ?? DEFAULT).then(() => $('composer-text').focus())
    }
  }

  // ---- chat window -----------------------------------------------------------------------

  /** @param {string} chatId @param {string} [session] the chat's number (the open one's by default) */
  async open(chatId, session = this.openSession) {
    if (this.openId !== chatId || this.openSession !== session) {
      this.tellTyping(this.typing.stop())
      this.openId = chatId
      this.openSession = session
      this.stick = true
      this.replyTo = null
      this.setReply(null)
      this.setFile(null)
      $('message-list').replaceChildren()
      this.msgEls.clear()
      this.msgSigs.clear()
      $('composer-error').hidden = true
    }
    document.body.classList.add('chat-open')
    $('chat-placeholder').hidden = true
    $('chat-view').hidden = false
    this.renderChatHeader()
    this.renderChats()
    this.helpdesk.opened(chatId, session)
    $('older-status').textContent = t('chat.loading')
    try {
      await this.scope(session).messages(chatId)
      $('older-status').textContent = ''
    } catch (err) {
      $('older-status').textContent = t('chat.loadFailed', { error: errorText(err) })
    }
    if (this.openId === chatId && this.openSession === session) this.renderMessages(true)
    this.markRead(chatId)
  }

  /**
   * The open chat is read (on opening, and as messages arrive while it is on screen); a
   * failure (WhatsApp not connected) only leaves it unread. @param {string} chatId
   */
  markRead(chatId) {
    const scope = this.here()
    const key = chatKey(this.openSession, chatId)
    if ((scope.chat(chatId)?.unreadCount ?? 0) === 0 || this.reading.has(key)) return
    if (Date.now() - (this.readFailedAt.get(key) ?? 0) < 10_000) return // not on every event
    this.reading.add(key)
    scope.markRead(chatId)
      .catch((err) => {
        this.readFailedAt.set(key, Date.now())
        console.warn('mark read failed', err)
      })
      .finally(() => this.reading.delete(key))
  }

  closeChat() {
    this.helpdesk?.closing()
    this.tellTyping(this.typing.stop())
    this.openId = null
    document.body.classList.remove('chat-open')
    $('chat-view').hidden = true
    $('chat-placeholder').hidden = false
    this.renderChats()
  }

  renderChatHeader() {
    const chat = this.openId ? this.here().chat(this.openId) : null
    if (!chat) return
    $('chat-title').textContent = displayName(chat)
    const typing = this.typingIn(chatKey(this.openSession, chat.id))
    const who = chat.isGroup ? t('chat.group') : phoneOf(chat.id)
    $('chat-sub').textContent = typing ?? (this.multi ? t('chat.onNumber', { who, name: this.sessionName(this.openSession) }) : who)
    $('chat-sub').classList.toggle('typing', typing !== null)
    const meta = $('chat-meta')
    // Who it is assigned to, and its status, are the helpdesk tools' (under the header).
    meta.replaceChildren(...(chat.tags ?? []).map((t) => tagChip(t)))
    this.helpdesk.renderTools()
  }

  /** @param {boolean} [toBottom] */
  renderMessages(toBottom = false) {
    if (!this.openId) return
    const box = $('messages')
    const list = $('message-list')
    if (toBottom) this.stick = true
    const scope = this.here()
    const messages = scope.cachedMessages(this.openId)
    const byId = new Map(messages.map((m) => [m.id, m]))
    const keep = new Set(messages.map((m) => m.id))
    for (const [id, el] of this.msgEls) {
      if (!keep.has(id)) {
        el.remove()
        this.msgEls.delete(id)
        this.msgSigs.delete(id)
      }
    }
    const firstBefore = list.firstElementChild
    const offsetBefore = firstBefore ? /** @type {HTMLElement} */ (firstBefore).offsetTop - box.scrollTop : 0
    const group = scope.chat(this.openId)?.isGroup ?? false
    let previousDay = ''
    messages.forEach((m, i) => {
      const quoted = m.quotedId ? this.quoteOf(m, byId) : null
      const day = dayLabel(m.timestamp)
      const separator = day !== previousDay ? day : ''
      previousDay = day
      const sig = JSON.stringify([m.type, m.call?.outcome, m.ack, m.text, m.edited, m.deleted, m.reactions, m.media?.url, quoted?.text, separator])
      let el = this.msgEls.get(m.id)
      if (!el || this.msgSigs.get(m.id) !== sig) {
        const fresh = this.messageItem(m, quoted, group, separator)
        if (el) el.replaceWith(fresh)
        el = fresh
        this.msgEls.set(m.id, el)
        this.msgSigs.set(m.id, sig)
      }
      if (list.children[i] !== el) list.insertBefore(el, list.children[i] ?? null)
    })
    const hasOlder = scope.hasOlder(this.openId)
    $('load-older').hidden = !hasOlder
    if (!hasOlder && !$('older-status').textContent) $('older-status').textContent = t('chat.beginning')
    if (this.stick) {
      box.scrollTop = box.scrollHeight
    } else if (firstBefore && firstBefore.isConnected) {
      // Older messages were added above: keep what the reader was looking at in place.
      box.scrollTop = /** @type {HTMLElement} */ (firstBefore).offsetTop - offsetBefore
    }
  }

  /**
   * @param {import('./wa-client').Message} m
   * @param {{message: import('./wa-client').Message|null, text: string}|null} quoted what it quotes (quoteOf)
   * @param {boolean} group
   * @param {string} separator a day label when this message starts a new day
   */
  messageItem(m, quoted, group, separator) {
    const body = []
    if (group && !m.fromMe) body.push(h('span', { class: 'sender' }, m.senderName ?? phoneOf(m.sender ?? '')))
    if (m.quotedId && quoted) {
      const target = quoted.message
      const session = this.openSession
      body.push(h(
        'blockquote',
        { class: `quoted${target ? '' : ' missing'}`, dataset: { quotedId: m.quotedId } },
        target
          ? h('button', { type: 'button', class: 'quote-jump', title: t('quote.show'), onclick: () => void this.jumpTo(session, m.chatId, target.id) }, quoted.text)
          : quoted.text,
      ))
    }
    if (m.deleted) {
      body.push(h('p', { class: 'deleted' }, t('message.deleted')))
    } else {
      if (m.media) body.push(this.mediaView(m))
      if (m.text) body.push(h('p', { class: 'text' }, m.text))
      else if (!m.media) body.push(h('p', { class: 'text muted' }, placeholderFor(m)))
    }
    const footer = h(
      'span',
      { class: 'footer' },
      m.edited && !m.deleted ? h('span', { class: 'edited' }, t('message.edited')) : null,
      h('time', { datetime: new Date(m.timestamp * 1000).toISOString(), title: fullDateTime(new Date(m.timestamp * 1000)) }, clock(m.timestamp)),
      m.fromMe ? ticks(m) : null,
    )
    const reactions = m.reactions?.length ? reactionChips(m.reactions) : null
    // A waiting message has no content yet: nothing to quote or react to (the API refuses).
    const actions = m.deleted || m.type === 'waiting'
      ? null
      : h(
          'span',
          { class: 'actions' },
          h('button', { type: 'button', class: 'ghost small', 'aria-label': t('message.reply'), onclick: () => this.setReply(m) }, '↩'),
          h('button', { type: 'button', class: 'ghost small', 'aria-label': t('message.react'), 'aria-haspopup': 'true', onclick: (/** @type {MouseEvent} */ e) => this.reactMenu(m, /** @type {HTMLElement} */ (e.currentTarget)) }, '☺'),
        )
    return h(
      'li',
      { class: `msg ${m.fromMe ? 'out' : 'in'}${m.deleted ? ' is-deleted' : ''}`, dataset: { messageId: m.id, ack: String(m.ack) } },
      separator ? h('div', { class: 'day', role: 'separator' }, separator) : null,
      h('div', { class: 'msg-body' }, h('div', { class: 'bubble' }, ...body, footer), reactions, actions),
    )
  }

  /** @param {import('./wa-client').Message} m */
  mediaView(m) {
    const media = /** @type {import('./wa-client').Media} */ (m.media)
    const url = this.client.mediaUrl(m)
    const label = media.fileName ?? `${m.type}${media.mimetype ? ` (${media.mimetype})` : ''}`
    const size = media.size ? ` · ${humanSize(media.size)}` : ''
    const fileLink = () =>
      url
        ? h('a', { class: 'file', href: url, download: media.fileName ?? '', target: '_blank', rel: 'noopener' }, `${fileIcon(m.type)} ${label}${size}`)
        : h('span', { class: 'file' }, `${fileIcon(m.type)} ${label}${size}`)
    if ((m.type === 'image' || m.type === 'sticker') && url) {
      const img = h('img', { class: m.type, src: url, alt: m.text || t(m.type === 'sticker' ? 'kind.sticker' : 'kind.image'), loading: 'lazy', decoding: 'async' })
      // Media can be gone (expired on WhatsApp, or a replayed capture): say so, keep the link.
      img.addEventListener('error', () => img.replaceWith(h('span', { class: 'media-missing' }, `${fileIcon(m.type)} ${t('message.photoUnavailable')}${size}`)), { once: true })
      return h('a', { class: 'media', href: url, target: '_blank', rel: 'noopener', 'aria-label': t('message.openPhoto') }, img)
    }
    return fileLink()
  }

  /** @param {import('./wa-client').Message} m @param {HTMLElement} anchor */
  reactMenu(m, anchor) {
    document.querySelector('.react-menu')?.remove()
    const close = () => {
      menu.remove()
      anchor.focus()
    }
    const menu = h(
      'div',
      { class: 'react-menu', role: 'menu', 'aria-label': t('message.reactions'), onkeydown: (/** @type {KeyboardEvent} */ e) => {
        if (e.key === 'Escape') close()
      } },
      ...REACTIONS.map((emoji) =>
        h('button', { type: 'button', role: 'menuitem', class: 'ghost', onclick: () => {
          close()
          this.here().react(m.chatId, m.id, emoji).catch((err) => this.toast(t('message.reactionFailed', { error: errorText(err) })))
        } }, emoji),
      ),
    )
    anchor.parentElement?.append(menu)
    const first = /** @type {HTMLElement} */ (menu.firstElementChild)
    first.focus()
  }

  async loadOlder() {
    const chatId = this.openId
    const scope = this.here()
    if (!chatId || this.loadingOlder || !scope.hasOlder(chatId)) return
    this.loadingOlder = true
    $('older-status').textContent = t('chat.loadingOlder')
    try {
      await scope.loadOlder(chatId)
      $('older-status').textContent = ''
    } catch (err) {
      $('older-status').textContent = t('chat.olderFailed', { error: errorText(err) })
    } finally {
      this.loadingOlder = false
    }
  }

  // ---- composer --------------------------------------------------------------------------

  /** "typing…", "recording audio…" or null, for a chat (by its key). @param {string} key */
  typingIn(key) {
    const [session, chatId] = splitKey(key)
    return typingLabel(this.scope(session).presence(chatId), this.presenceAt.get(key), Date.now())
  }

  /** @param {string} key */
  renderTyping(key) {
    if (this.openId && key === chatKey(this.openSession, this.openId)) this.renderChatHeader()
    this.renderChats()
  }

  /**
   * Send the chat states the notifier asked for, and look again when the agent may have
   * stopped typing. Only while WhatsApp is connected (the server would refuse: 409), and a
   * failure only costs the contact an indicator.
   * @param {{chatId: string, state: 'composing'|'paused'}[]} states by chat key
   */
  tellTyping(states) {
    for (const { chatId: key, state } of states) {
      const [session, chatId] = splitKey(key)
      const scope = this.scope(session)
      if (scope.status()?.state === 'open') scope.sendPresence(chatId, state).catch((err) => console.warn('presence not sent', err))
    }
    if (this.pausedTimer) clearTimeout(this.pausedTimer)
    this.pausedTimer = null
    const due = this.typing.dueAt
    if (due !== null) this.pausedTimer = setTimeout(() => this.tellTyping(this.typing.tick(Date.now())), Math.max(0, due - Date.now()) + 10)
  }

  /** @param {import('./wa-client').Message|null} m */
  setReply(m) {
    this.replyTo = m
    $('reply-box').hidden = !m
    $('reply-text').textContent = m ? messagePreview(m) : ''
    if (m) $('composer-text').focus()
  }

  /** @param {File|null} file */
  setFile(file) {
    this.file = file
    $('file-box').hidden = !file
    $('file-name').textContent = file ? `${file.name} (${humanSize(file.size)})` : ''
    if (!file) /** @type {HTMLInputElement} */ ($('file')).value = ''
  }

  async send() {
    const chatId = this.openId
    const input = /** @type {HTMLTextAreaElement} */ ($('composer-text'))
    const text = input.value.trim()
    if (!chatId || (!text && !this.file)) return
    const error = $('composer-error')
    const button = /** @type {HTMLButtonElement} */ ($('send'))
    button.disabled = true
    try {
      const media = this.file ? await mediaFromFile(this.file) : undefined
      this.tellTyping(this.typing.stop())
      await this.here().send({ chatId, text: text || undefined, quotedId: this.replyTo?.id, media })
      input.value = ''
      autoGrow(input)
      this.setReply(null)
      this.setFile(null)
      this.helpdesk.sent()
      error.hidden = true
      this.stick = true
      const box = $('messages')
      box.scrollTop = box.scrollHeight
    } catch (err) {
      error.hidden = false
      error.textContent = t('composer.notSent', { error: errorText(err) })
    } finally {
      button.disabled = false
      input.focus()
    }
  }
}

// ---- formatting ---------------------------------------------------------------------------------

/** @param {import('./wa-client').Chat} chat */
function displayName(chat) {
  return chat.name || (chat.isGroup ? t('chat.unnamedGroup') : phoneOf(chat.id))
}

/** @param {string} jid */
function phoneOf(jid) {
  const user = jid.split('@')[0].split(':')[0]
  return /^\d{6,}$/.test(user) ? `+${user}` : user
}

/** @param {string} name */
function initials(name) {
  const words = name.replace(/[^\p{L}\p{N} ]/gu, '').trim().split(/\s+/).filter(Boolean)
  return (words.length > 1 ? words[0][0] + words[1][0] : (words[0] ?? '?').slice(0, 2)).toUpperCase()
}

/** @param {import('./wa-client').Message} m */
function messagePreview(m) {
  if (m.deleted) return t('message.deletedShort')
  const icon = m.media ? `${fileIcon(m.type)} ` : ''
  return `${icon}${m.text ?? m.media?.fileName ?? placeholderFor(m)}`
}

/** @param {import('./wa-client').Message} m */
function placeholderFor(m) {
  if (m.type === 'call' && m.call) return callText(m.call)
  if (KINDS.includes(m.type)) return t(`kind.${m.type}`)
  return m.rawKind ? t('kind.unsupported', { kind: m.rawKind }) : t('kind.message')
}

/** @param {string} type */
function fileIcon(type) {
  return { image: '📷', video: '🎬', audio: '🎵', sticker: '🏷', document: '📄' }[type] ?? '📎'
}

/** @param {import('./wa-client').Message} m */
function ticks(m) {
  const [glyph, name] = TICKS[m.ack] ?? ['', '']
  const word = name ? t(`ack.${name}`) : ''
  return h('span', { class: `ticks ack-${m.ack}`, title: word, 'aria-label': word, role: 'img' }, glyph)
}

/** @param {import('./wa-client').Reaction[]} reactions */
function reactionChips(reactions) {
  /** @type {Map<string, number>} */
  const counts = new Map()
  for (const r of reactions) if (r.emoji) counts.set(r.emoji, (counts.get(r.emoji) ?? 0) + 1)
  if (counts.size === 0) return null
  return h(
    'span',
    { class: 'reactions', role: 'img', 'aria-label': t('message.reactionsOf', { list: [...counts].map(([e, n]) => `${e} ${number(n)}`).join(', ') }) },
    ...[...counts].map(([emoji, n]) => h('span', { class: 'reaction' }, n > 1 ? `${emoji} ${n}` : emoji)),
  )
}

/**
 * What a call message says, as WhatsApp words it.
 * @param {NonNullable<import('./wa-client').Message['call']>} call
 */
function callText(call) {
  const kind = call.kind === 'video' ? 'video' : 'voice'
  const outcome = ['ringing', 'missed', 'rejected', 'accepted'].includes(call.outcome) ? call.outcome : 'other'
  // "call.voice.missed", "call.videoGroup.ringing": whole sentences, as each language words them.
  return t(`call.${kind}${call.isGroup && outcome !== 'other' ? 'Group' : ''}.${outcome}`)
}

// WhatsApp Business label colours by palette index (0-19): close to the app's, which WhatsApp
// does not publish.
const LABEL_COLORS = ['#ff9485', '#64c4ff', '#ffd429', '#dfaef0', '#99b6c1', '#55ccb3', '#ff9dff', '#d3a91d', '#6d7cce', '#d7e752', '#00d0e2', '#ffc5c7', '#93ceac', '#f74848', '#00a0f2', '#83e422', '#ffaf04', '#b5ebff', '#9ba6ff', '#9368cf']

/** @param {{name: string, color: number}} label a WhatsApp Business label */
function labelChip(label) {
  const el = h('span', { class: 'tag label', title: t('chats.waLabel') }, `🏷 ${label.name}`)
  el.style.setProperty('--tag', LABEL_COLORS[label.color] ?? LABEL_COLORS[0])
  return el
}

/** @param {import('./wa-client').Tag} tag */
function tagChip(tag) {
  const el = h('span', { class: 'tag' }, tag.name)
  if (tag.color && /^#[0-9a-f]{3,8}$/i.test(tag.color)) el.style.setProperty('--tag', tag.color)
  return el
}

/** @param {number} ts unix seconds */
function clock(ts) {
  return clockTime(new Date(ts * 1000))
}

/** @param {number} ts unix seconds */
function shortTime(ts) {
  return shortWhen(new Date(ts * 1000))
}

/** @param {number} ts unix seconds */
function dayLabel(ts) {
  return dayWords(new Date(ts * 1000))
}

/** @param {number} n */
function humanSize(n) {
  const digits = (/** @type {number} */ value, /** @type {number} */ most) => new Intl.NumberFormat(locale(), { maximumFractionDigits: most }).format(value)
  if (n < 1024) return `${digits(n, 0)} B`
  if (n < 1024 * 1024) return `${digits(Math.round(n / 1024), 0)} KB`
  return `${digits(n / 1024 / 1024, 1)} MB`
}

/** @param {HTMLTextAreaElement} el */
function autoGrow(el) {
  el.style.height = 'auto'
  el.style.height = `${Math.min(el.scrollHeight, 160)}px`
}

/**
 * The header's (and the sign-in page's) language switch: each language named in itself; a
 * choice is remembered and the page starts again in it.
 */
function bindLocaleSwitches() {
  for (const id of ['locale-switch', 'signin-locale']) {
    const select = /** @type {HTMLSelectElement} */ ($(id))
    select.replaceChildren(...LOCALES.map((code) => {
      const name = new Intl.DisplayNames([code], { type: 'language' }).of(code) ?? code
      return h('option', { value: code, lang: code, selected: code === language() }, capitalised(name, code))
    }))
    select.onchange = () => {
      localStorage.setItem(LOCALE_KEY, select.value)
      location.reload()
    }
  }
}

const chosen = pickLocale(navigator.languages, localStorage.getItem(LOCALE_KEY))
try {
  await loadLocale(chosen, formatLocale(navigator.languages, chosen))
} catch (err) {
  // The page still starts: in English, or in the keys themselves if even English failed.
  console.error('the console could not load its language', chosen, err)
  if (chosen !== 'en') await loadLocale('en').catch(() => {})
}
document.documentElement.lang = language()
translateDom(document)
bindLocaleSwitches()
void start()

/**
 * Message search: a "Messages" mode of the sidebar's search box. Off, the box filters the chat
 * list by name as before; on, what is typed searches the text of stored messages (GET /search,
 * debounced), and the sidebar lists the matches, best first, each with its chat, its time and
 * the matched words marked; "More results" fetches the next page (nextOffset). Choosing a match
 * hands it to the console, which opens its chat at that message.
 *
 * Every text from WhatsApp goes in through textContent; the marks are elements around slices
 * of it, never markup built from it.
 */
import { errorText, fullDateTime, shortDateTime, t } from './i18n.js'
import { fold } from './quick-replies.js'

/** @typedef {import('./wa-client').Message} Message */
/** @typedef {{search(q: string, options?: import('./wa-client').SearchOptions): Promise<import('./wa-client').SearchResults>}} Searchable */

const DEBOUNCE_MS = 250
const PAGE = 20
/** Characters of context shown before the first match in a long message. */
const LEAD = 40

/**
 * The slices of a text with the query's words marked: `[text, marked]` pairs in order.
 * Whatever the case and the accents, as the server's search is.
 * @param {string} text @param {string} query
 * @returns {[string, boolean][]}
 */
export function markMatches(text, query) {
  const words = [...new Set(fold(query).split(/[^\p{L}\p{N}]+/u).filter((w) => w.length > 0))]
  if (words.length === 0) return [[text, false]]
  // The folded text, and for each of its characters the index in the original.
  const chars = [...text]
  let folded = ''
  /** @type {number[]} */
  const origin = []
  let offset = 0
  for (const ch of chars) {
    const f = fold(ch)
    folded += f
    for (let k = 0; k < f.length; k++) origin.push(offset)
    offset += ch.length
  }
  origin.push(text.length)
  const marked = new Array(text.length).fill(false)
  for (const word of words) {
    for (let i = folded.indexOf(word); i >= 0; i = folded.indexOf(word, i + word.length)) {
      const from = origin[i]
      const to = origin[i + word.length] ?? text.length
      for (let k = from; k < to; k++) marked[k] = true
    }
  }
  /** @type {[string, boolean][]} */
  const parts = []
  for (let i = 0; i < text.length; ) {
    let j = i
    while (j < text.length && marked[j] === marked[i]) j++
    parts.push([text.slice(i, j), marked[i]])
    i = j
  }
  return parts
}

export class MessageSearch {
  /**
   * @param {object} options
   * @param {HTMLInputElement} options.input the sidebar's search box
   * @param {() => [string, Searchable][]} options.scopes the sessions to search, with their calls
   * @param {(session: string, chatId: string) => {name: string, session: string|null}} options.describe a chat's name (and its number's, in an "All" view)
   * @param {(message: Message, session: string) => void} options.pick a match was chosen
   * @param {(active: boolean) => void} options.toggled the mode changed (the chat filter applies again when off)
   */
  constructor({ input, scopes, describe, pick, toggled }) {
    this.input = input
    this.scopes = scopes
    this.describe = describe
    this.pick = pick
    this.toggled = toggled
    this.active = false
    this.query = ''
    /** Bumped by every new query: an older answer is dropped. */
    this.gen = 0
    /** @type {Map<string, number|null>} each session's next offset (null: no more) */
    this.offsets = new Map()
    /** @type {ReturnType<typeof setTimeout>|null} */
    this.timer = null
    /** Ends every listener this search added (detach()). */
    this.abort = new AbortController()
    const signal = this.abort.signal

    const sidebar = /** @type {HTMLElement} */ (input.closest('nav') ?? document.body)
    this.sidebar = sidebar
    this.label = /** @type {HTMLLabelElement|null} */ (document.querySelector(`label[for="${input.id}"]`))
    this.placeholder = input.placeholder

    this.toggle = document.createElement('button')
    this.toggle.type = 'button'
    this.toggle.id = 'search-messages'
    this.toggle.className = 'ghost small search-toggle'
    this.toggle.textContent = t('search.toggle')
    this.toggle.title = t('search.toggleTitle')
    this.toggle.setAttribute('aria-pressed', 'false')
    this.toggle.setAttribute('aria-controls', 'search-results')
    this.toggle.addEventListener('click', () => this.setActive(!this.active), { signal })
    document.getElementById(this.toggle.id)?.remove() // a previous console's
    input.after(this.toggle)

    this.panel = document.createElement('section')
    this.panel.id = 'search-results'
    this.panel.className = 'search-results'
    this.panel.setAttribute('aria-label', t('search.results'))
    this.panel.hidden = true
    this.status = document.createElement('p')
    this.status.className = 'muted search-status'
    this.status.setAttribute('role', 'status')
    this.status.setAttribute('aria-live', 'polite')
    this.list = document.createElement('ul')
    this.list.className = 'search-list'
    this.more = document.createElement('button')
    this.more.type = 'button'
    this.more.className = 'ghost small search-more'
    this.more.textContent = t('search.more')
    this.more.hidden = true
    this.more.addEventListener('click', () => void this.fetch(false), { signal })
    this.panel.append(this.status, this.list, this.more)
    document.getElementById(this.panel.id)?.remove()
    const chatList = sidebar.querySelector('#chat-list')
    if (chatList) chatList.after(this.panel)
    else sidebar.append(this.panel)

    input.addEventListener('input', () => {
      if (this.active) this.schedule()
    }, { signal })
    input.addEventListener('keydown', (e) => {
      if (this.active && e.key === 'ArrowDown' && this.buttons().length) {
        e.preventDefault()
        this.buttons()[0].focus()
      } else if (this.active && e.key === 'Enter') {
        e.preventDefault()
        this.run()
      }
    }, { signal })
    this.list.addEventListener('keydown', (e) => {
      const buttons = this.buttons()
      const i = buttons.indexOf(/** @type {HTMLButtonElement} */ (document.activeElement))
      if (i < 0) return
      if (e.key === 'ArrowDown' && i + 1 < buttons.length) buttons[i + 1].focus()
      else if (e.key === 'ArrowUp') (i > 0 ? buttons[i - 1] : this.input).focus()
      else return
      e.preventDefault()
    }, { signal })
  }

  /** Take the toggle, the results and the listeners off the page (the console is closing). */
  detach() {
    this.active = false
    this.sidebar.classList.remove('searching-messages')
    this.input.placeholder = this.placeholder
    if (this.label) this.label.textContent = t('chats.search')
    this.gen++
    if (this.timer) clearTimeout(this.timer)
    this.abort.abort()
    this.toggle.remove()
    this.panel.remove()
  }

  /** @returns {HTMLButtonElement[]} */
  buttons() {
    return [...this.list.querySelectorAll('button.search-hit')].map((b) => /** @type {HTMLButtonElement} */ (b))
  }

  /** Turn the messages mode on or off (the box keeps what is typed). @param {boolean} on */
  setActive(on) {
    this.active = on
    this.toggle.setAttribute('aria-pressed', on ? 'true' : 'false')
    this.sidebar.classList.toggle('searching-messages', on)
    this.panel.hidden = !on
    this.input.placeholder = on ? t('search.messages') : this.placeholder
    if (this.label) this.label.textContent = t(on ? 'search.messages' : 'chats.search')
    if (on) this.run()
    else {
      this.gen++
      if (this.timer) clearTimeout(this.timer)
    }
    this.toggled(on)
    this.input.focus()
  }

  schedule() {
    if (this.timer) clearTimeout(this.timer)
    this.timer = setTimeout(() => this.run(), DEBOUNCE_MS)
  }

  /** Search what the box says now, from the first page. */
  run() {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
    const q = this.input.value.trim()
    this.query = q
    this.gen++
    this.list.replaceChildren()
    this.more.hidden = true
    if (!q) {
      this.status.textContent = t('search.prompt')
      return
    }
    this.offsets = new Map(this.scopes().map(([id]) => [id, 0]))
    void this.fetch(true)
  }

  /** The next page of every session that has one. @param {boolean} first */
  async fetch(first) {
    const gen = this.gen
    const q = this.query
    const scopes = this.scopes().filter(([id]) => this.offsets.get(id) !== null && this.offsets.has(id))
    this.status.textContent = t(first ? 'search.searching' : 'search.loadingMore')
    this.more.disabled = true
    try {
      const pages = await Promise.all(scopes.map(async ([id, scope]) => {
        const page = await scope.search(q, { limit: PAGE, offset: this.offsets.get(id) ?? 0 })
        return /** @type {const} */ ([id, page])
      }))
      if (gen !== this.gen) return
      let added = 0
      for (const [id, page] of pages) {
        this.offsets.set(id, page.nextOffset)
        for (const message of page.messages) {
          this.list.append(this.item(message, id, q))
          added++
        }
      }
      const total = this.list.children.length
      const more = [...this.offsets.values()].some((x) => x !== null)
      this.more.hidden = !more
      const found = t(more ? 'search.foundSoFar' : 'search.found', { count: total })
      this.status.textContent = total === 0
        ? t('search.none', { query: q })
        : first ? found : t('search.added', { found, count: added })
    } catch (err) {
      if (gen !== this.gen) return
      this.status.textContent = t('search.failed', { error: errorText(err) })
    } finally {
      this.more.disabled = false
    }
  }

  /** @param {Message} m @param {string} session @param {string} q */
  item(m, session, q) {
    const { name, session: number } = this.describe(session, m.chatId)
    const button = document.createElement('button')
    button.type = 'button'
    button.className = 'search-hit'
    button.dataset.chatId = m.chatId
    button.dataset.messageId = m.id
    button.dataset.session = session
    const top = document.createElement('span')
    top.className = 'search-top'
    const chat = document.createElement('strong')
    chat.className = 'search-chat'
    chat.textContent = name
    top.append(chat)
    if (number) {
      const chip = document.createElement('span')
      chip.className = 'session-chip'
      chip.textContent = number
      top.append(chip)
    }
    const time = document.createElement('time')
    time.className = 'search-time'
    const when = new Date(m.timestamp * 1000)
    time.dateTime = when.toISOString()
    time.textContent = shortDateTime(when)
    time.title = fullDateTime(when)
    top.append(time)
    const text = document.createElement('span')
    text.className = 'search-text'
    if (m.fromMe) text.append(`${t('search.you')} `)
    text.append(...snippet(m.text ?? '', q))
    button.append(top, text)
    button.addEventListener('click', () => this.pick(m, session))
    const li = document.createElement('li')
    li.append(button)
    return li
  }
}

/**
 * A message's text as nodes, its matches in <mark>; a long text starts a little before its
 * first match. @param {string} text @param {string} q @returns {(Node|string)[]}
 */
function snippet(text, q) {
  let parts = markMatches(text, q)
  let before = 0
  for (const [slice, marked] of parts) {
    if (marked) break
    before += slice.length
  }
  if (before > LEAD && before < text.length) {
    const cut = text.lastIndexOf(' ', before - LEAD)
    parts = markMatches(`…${text.slice(cut > 0 ? cut + 1 : before - LEAD)}`, q)
  }
  return parts.map(([slice, marked]) => {
    if (!marked) return slice
    const mark = document.createElement('mark')
    mark.textContent = slice
    return mark
  })
}

/**
 * Quick replies in the composer: typing `/` at the start of a word opens a popup of the quick
 * replies that match what follows (by shortcut and by text, whatever the case and the accents);
 * ArrowUp/ArrowDown move, Enter or Tab inserts, Escape closes, the mouse works too. `{name}` and
 * `{agent}` are filled in on insert. While the popup is closed the composer's keys are its own
 * (Enter sends).
 *
 * The text box is an ARIA 1.2 combobox whose popup is a listbox; the option under the keyboard
 * is its aria-activedescendant, so the focus never leaves the text. The pure parts (which word
 * is a query, what matches, the placeholders) are exported for tests.
 */
import { t } from './i18n.js'

/** @typedef {import('./wa-client').QuickReply} QuickReply */

/** While the popup stays open, a list this old is fetched again. */
const FRESH_MS = 30_000
const MAX_SHOWN = 8

/** Case- and accent-insensitive form of a text ("Atenção" -> "atencao"). @param {string} s */
export function fold(s) {
  return s.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase()
}

/**
 * The quick-reply query under the caret: `/` at the start of a word, then no space. Null when
 * the caret is not in such a word ("http://x" is not one: the `/` is inside a word).
 * @param {string} text @param {number} caret
 * @returns {{start: number, query: string}|null} where the `/` is, and what follows it
 */
export function slashQuery(text, caret) {
  const match = /(^|\s)\/([^\s/]*)$/u.exec(text.slice(0, caret))
  if (!match) return null
  return { start: match.index + match[1].length, query: match[2] }
}

/**
 * The quick replies that match a query, best first: a shortcut that starts with it, then one
 * that contains it, then a text that contains it; in each group by shortcut.
 * @param {QuickReply[]} replies @param {string} query
 */
export function matchQuickReplies(replies, query) {
  const q = fold(query.trim())
  /** @type {[number, QuickReply][]} */
  const ranked = []
  for (const reply of replies) {
    const shortcut = fold(reply.shortcut.replace(/^\//, ''))
    const rank = shortcut.startsWith(q) ? 0 : shortcut.includes(q) ? 1 : fold(reply.body).includes(q) ? 2 : -1
    if (rank >= 0) ranked.push([rank, reply])
  }
  ranked.sort((a, b) => a[0] - b[0] || a[1].shortcut.localeCompare(b[1].shortcut))
  return ranked.map(([, reply]) => reply)
}

/**
 * A quick reply's text with its placeholders filled: `{name}` (the contact) and `{agent}` (who
 * sends it). Any other brace is left as written.
 * @param {string} body @param {{name: string, agent: string}} values
 */
export function fillPlaceholders(body, values) {
  return body.replace(/\{(name|agent)\}/g, (_, key) => values[/** @type {'name'|'agent'} */ (key)])
}

export class QuickReplyPicker {
  /**
   * @param {HTMLTextAreaElement} input the composer's text
   * @param {object} options
   * @param {() => Promise<QuickReply[]>} options.load the quick replies (GET /quick-replies)
   * @param {() => {name: string, agent: string}} options.values the placeholders' values now
   * @param {() => void} [options.changed] the text changed by an insert (grow the box, typing)
   */
  constructor(input, { load, values, changed }) {
    this.input = input
    this.load = load
    this.values = values
    this.changed = changed ?? (() => {})
    /** @type {QuickReply[]} */
    this.replies = []
    this.loadedAt = 0
    /** @type {Promise<void>|null} */
    this.loading = null
    /** @type {QuickReply[]} */
    this.shown = []
    this.active = 0
    /** @type {{start: number, query: string}|null} */
    this.at = null
    /** Ends every listener this picker added (detach()). */
    this.abort = new AbortController()
    const signal = this.abort.signal

    const composer = /** @type {HTMLElement} */ (input.closest('form') ?? input.parentElement)
    this.list = document.createElement('ul')
    this.list.id = 'quick-replies'
    this.list.className = 'quick-replies'
    this.list.setAttribute('role', 'listbox')
    this.list.setAttribute('aria-label', t('quickReplies.label'))
    this.list.hidden = true
    // The pointer picks without taking the focus from the text box.
    this.list.addEventListener('mousedown', (e) => e.preventDefault(), { signal })
    this.list.addEventListener('click', (e) => {
      const item = /** @type {HTMLElement} */ (e.target).closest('[role="option"]')
      if (item) this.insert(Number(item.getAttribute('data-index')))
    }, { signal })
    this.list.addEventListener('mousemove', (e) => {
      const item = /** @type {HTMLElement} */ (e.target).closest('[role="option"]')
      if (item) this.highlight(Number(item.getAttribute('data-index')))
    }, { signal })
    this.status = document.createElement('span')
    this.status.className = 'visually-hidden'
    this.status.setAttribute('role', 'status')
    this.status.setAttribute('aria-live', 'polite')
    document.getElementById(this.list.id)?.remove() // a previous console's
    composer.prepend(this.list, this.status)

    input.setAttribute('role', 'combobox')
    input.setAttribute('aria-autocomplete', 'list')
    input.setAttribute('aria-haspopup', 'listbox')
    input.setAttribute('aria-controls', this.list.id)
    input.setAttribute('aria-expanded', 'false')
    input.addEventListener('input', () => this.update(), { signal })
    input.addEventListener('click', () => this.update(), { signal })
    input.addEventListener('blur', () => this.close(), { signal })
  }

  /** Take the popup and the listeners off the page (the console is closing). */
  detach() {
    this.abort.abort()
    this.list.remove()
    this.status.remove()
    for (const name of ['role', 'aria-autocomplete', 'aria-haspopup', 'aria-controls', 'aria-expanded', 'aria-activedescendant']) this.input.removeAttribute(name)
  }

  get open() {
    return !this.list.hidden
  }

  /** The text or the caret changed: open, filter or close the popup. */
  update() {
    const at = slashQuery(this.input.value, this.input.selectionStart ?? this.input.value.length)
    this.at = at
    if (!at) {
      this.close()
      return
    }
    // Fetched each time the popup opens: a reply staff just added or edited is there.
    if (!this.open || Date.now() - this.loadedAt > FRESH_MS) void this.refresh()
    this.render()
  }

  /** Fetch the list again (the settings page calls this after an edit). */
  refresh() {
    if (this.loading) return this.loading
    this.loading = this.load()
      .then((replies) => {
        this.replies = replies
        this.loadedAt = Date.now()
      })
      .catch((err) => console.warn('quick replies not loaded', err))
      .finally(() => {
        this.loading = null
        if (this.at) this.render()
      })
    return this.loading
  }

  render() {
    if (!this.at) return
    const previous = this.shown[this.active]?.id
    this.shown = matchQuickReplies(this.replies, this.at.query).slice(0, MAX_SHOWN)
    // Each shows what it will insert here: its placeholders filled for this chat.
    const values = this.values()
    const keep = this.shown.findIndex((r) => r.id === previous)
    this.active = keep >= 0 ? keep : 0
    const items = this.shown.map((reply, i) => {
      const li = document.createElement('li')
      li.id = `quick-reply-${i}`
      li.className = 'quick-reply'
      li.setAttribute('role', 'option')
      li.dataset.index = String(i)
      li.dataset.replyId = String(reply.id)
      const shortcut = document.createElement('strong')
      shortcut.textContent = `/${reply.shortcut.replace(/^\//, '')}`
      const body = document.createElement('span')
      body.className = 'quick-reply-body'
      body.textContent = fillPlaceholders(reply.body, values)
      li.append(shortcut, body)
      return li
    })
    if (items.length === 0) {
      const none = document.createElement('li')
      none.className = 'quick-reply-none muted'
      none.textContent = t(this.loadedAt ? 'quickReplies.none' : 'quickReplies.loading')
      items.push(none)
    }
    this.list.replaceChildren(...items)
    this.list.hidden = false
    this.input.setAttribute('aria-expanded', 'true')
    this.highlight(this.active)
    this.status.textContent = this.shown.length ? t('quickReplies.count', { count: this.shown.length }) : ''
  }

  /** @param {number} i */
  highlight(i) {
    if (this.shown.length === 0) {
      this.input.removeAttribute('aria-activedescendant')
      return
    }
    this.active = (i + this.shown.length) % this.shown.length
    for (const el of this.list.querySelectorAll('[role="option"]')) {
      const on = el.getAttribute('data-index') === String(this.active)
      el.setAttribute('aria-selected', on ? 'true' : 'false')
      el.classList.toggle('active', on)
      if (on) /** @type {HTMLElement} */ (el).scrollIntoView({ block: 'nearest' })
    }
    this.input.setAttribute('aria-activedescendant', `quick-reply-${this.active}`)
  }

  close() {
    if (!this.open) return
    this.list.hidden = true
    this.list.replaceChildren()
    this.shown = []
    this.input.setAttribute('aria-expanded', 'false')
    this.input.removeAttribute('aria-activedescendant')
    this.status.textContent = ''
  }

  /**
   * The composer's keydown, first: true when the popup took the key (the composer must not
   * act on it). With the popup closed, or nothing in it, every key is the composer's.
   * @param {KeyboardEvent} e
   */
  handleKey(e) {
    if (!this.open) return false
    if (e.key === 'Escape') {
      this.close()
      this.at = null
    } else if (this.shown.length === 0 || e.isComposing) {
      return false
    } else if (e.key === 'ArrowDown') {
      this.highlight(this.active + 1)
    } else if (e.key === 'ArrowUp') {
      this.highlight(this.active - 1)
    } else if ((e.key === 'Enter' && !e.shiftKey) || (e.key === 'Tab' && !e.shiftKey)) {
      this.insert(this.active)
    } else {
      return false
    }
    e.preventDefault()
    e.stopPropagation()
    return true
  }

  /** Replace the `/query` with a quick reply's text, its placeholders filled. @param {number} i */
  insert(i) {
    const reply = this.shown[i]
    const at = this.at
    if (!reply || !at) return
    const text = fillPlaceholders(reply.body, this.values())
    const end = at.start + 1 + at.query.length
    const value = this.input.value
    this.input.value = value.slice(0, at.start) + text + value.slice(end)
    const caret = at.start + text.length
    this.input.setSelectionRange(caret, caret)
    this.close()
    this.at = null
    this.input.focus()
    this.changed()
  }
}

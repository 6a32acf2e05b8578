/**
 * The settings page's Webhooks panel (admins; issue #18): the endpoints (GET /webhooks) in a
 * table with their filters, whether they are on (and why not), and their health, polled every
 * 5 s while the page is open and the tab visible; for each, Disable / Enable (PATCH), "Replay
 * dead letters" (POST .../replay {"deadLetters": true}, the queued count shown) and Delete (a
 * second click confirms). A small form adds one (POST /webhooks) and shows its secret once,
 * with a Copy button; it is gone from the page when the admin is done with it.
 *
 * The client (wa-client.js, a copy of @wa-helpdesk/client) has no webhook calls: these go out
 * with fetch and the console's token, and fail as its calls do (an Error with the HTTP
 * `status` and the API's `code`, like its WaError).
 * Its words come from the catalogs (i18n.js, keys `webhooks.*`), looked up as they are shown.
 * Plain DOM; what the server says goes in through textContent and value only.
 */

import { h } from './dom.js'
import { errorCode, errorText, locale, number, t } from './i18n.js'

/** @typedef {import('./wa-api').Webhook} Webhook */
/** @typedef {import('./wa-api').WebhookCreated} WebhookCreated */

export const POLL_MS = 5000

/**
 * The webhook routes, with the token the console holds at each call (a refreshed one
 * included). @param {() => string|null} token @param {typeof fetch} [fetchFn] @param {string} [baseUrl]
 */
export function webhookApi(token, fetchFn = (input, init) => fetch(input, init), baseUrl = '') {
  /** @param {string} method @param {string} path @param {unknown} [body] @returns {Promise<any>} */
  async function call(method, path, body) {
    /** @type {Record<string, string>} */
    const headers = { Authorization: `Bearer ${token() ?? ''}` }
    if (body !== undefined) headers['Content-Type'] = 'application/json'
    let response
    try {
      response = await fetchFn(`${baseUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' })
    } catch (err) {
      throw apiError(0, 'network', `cannot reach the server: ${err instanceof Error ? err.message : String(err)}`)
    }
    if (!response.ok) {
      /** @type {{error?: {code?: string, message?: string}}|null} */
      let payload = null
      try {
        payload = await response.json()
      } catch {
        payload = null
      }
      const error = payload?.error ?? {}
      throw apiError(response.status, error.code ?? 'http_error', error.message ?? `${method} ${path}: HTTP ${response.status}`)
    }
    return response.status === 204 ? null : response.json()
  }
  const one = (/** @type {string} */ id) => `/webhooks/${encodeURIComponent(id)}`
  return {
    /** @returns {Promise<Webhook[]>} */
    list: async () => (await call('GET', '/webhooks')).webhooks,
    /** @param {{url: string, description?: string|null, events?: string[]|null}} body @returns {Promise<WebhookCreated>} */
    create: (body) => call('POST', '/webhooks', body),
    /** @param {string} id @param {{enabled?: boolean}} body @returns {Promise<Webhook>} */
    update: (id, body) => call('PATCH', one(id), body),
    /** @param {string} id @returns {Promise<void>} */
    remove: async (id) => void (await call('DELETE', one(id))),
    /** @param {string} id @returns {Promise<number>} how many were queued */
    replayDeadLetters: async (id) => (await call('POST', `${one(id)}/replay`, { deadLetters: true })).queued,
  }
}

/** @typedef {ReturnType<typeof webhookApi>} WebhookApi */

/** @param {number} status @param {string} code @param {string} message */
function apiError(status, code, message) {
  return Object.assign(new Error(message), { name: 'WaError', status, code })
}

/** The events box: types separated by commas or spaces; empty is every type (null). @param {string} text */
export function parseEvents(text) {
  const types = [...new Set(text.split(/[\s,]+/).map((type) => type.trim()).filter(Boolean))]
  return types.length ? types : null
}

/** What an endpoint takes, in a few words. @param {Pick<Webhook, 'events'|'sessions'|'chatTypes'>} w */
export function filterSummary(w) {
  const parts = [w.events?.length ? w.events.join(', ') : t('webhooks.filter.allEvents')]
  if (w.sessions?.length) parts.push(t('webhooks.filter.numbers', { count: w.sessions.length, list: w.sessions.join(', ') }))
  if (w.chatTypes?.length) {
    const kinds = w.chatTypes.map((type) => t(type === 'group' ? 'webhooks.filter.group' : 'webhooks.filter.direct'))
    parts.push(t('webhooks.filter.chats', { types: new Intl.ListFormat(locale(), { type: 'conjunction' }).format(kinds) }))
  }
  return parts.join(' · ')
}

/** A duration, rounded to what a person reads. @param {number|null|undefined} seconds */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return '—'
  const s = Math.max(0, Math.round(seconds))
  if (s < 60) return t('webhooks.duration.seconds', { s })
  if (s < 3600) return t('webhooks.duration.minutes', { m: Math.floor(s / 60) })
  if (s < 86400) return t('webhooks.duration.hours', { h: Math.floor(s / 3600), m: Math.floor((s % 3600) / 60) })
  return t('webhooks.duration.days', { d: Math.floor(s / 86400), h: Math.floor((s % 86400) / 3600) })
}

/** How long ago an ISO time was ("never" for none). @param {string|null|undefined} iso @param {number} now ms */
export function ago(iso, now) {
  if (!iso) return t('webhooks.never')
  const at = Date.parse(iso)
  if (Number.isNaN(at)) return iso
  return t('webhooks.ago', { duration: duration((now - at) / 1000) })
}

/**
 * A translated text with a node in place of its `{name}` placeholder (e.g. a URL in its own
 * span). @param {string} key @param {string} name @param {Node} node @returns {(string|Node)[]}
 */
function withNode(key, name, node) {
  const [before, ...after] = t(key).split(`{${name}}`)
  return after.length ? [before, node, after.join(`{${name}}`)].filter((x) => x !== '') : [before, ' ', node]
}

/** The health counts shown, by the API's key (their words: `webhooks.health.<key>`). */
const HEALTH = /** @type {const} */ (['pending', 'retrying', 'deadLetters', 'delivered', 'failed'])

/**
 * One endpoint's row: built once, its texts updated by each poll (so a button keeps its focus
 * and a delete its pending confirmation).
 */
class Row {
  /** @param {Webhook} w @param {WebhooksPanel} panel */
  constructor(w, panel) {
    this.id = w.id
    this.panel = panel
    /** @type {Webhook} */
    this.w = w
    const text = (/** @type {string} */ cls) => h('span', { class: cls })
    this.url = text('wh-url')
    this.description = text('muted wh-description')
    this.filters = text('wh-filters')
    this.state = text('pill wh-state')
    this.reason = text('muted wh-reason')
    /** @type {Map<string, HTMLElement>} */
    this.health = new Map(HEALTH.map((key) => [key, h('b', { class: 'n' })]))
    this.lastSuccess = text('wh-last-success')
    this.lastFailure = text('wh-last-failure')
    this.lastError = text('wh-last-error')
    this.oldest = text('wh-oldest')
    this.toggle = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'ghost small wh-toggle', onclick: () => void this.setEnabled(!this.w.enabled) }))
    this.replay = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'ghost small wh-replay', onclick: () => void this.replayDead() }, t('webhooks.replay')))
    this.remove = /** @type {HTMLButtonElement} */ (h('button', { type: 'button', class: 'ghost small wh-delete', onclick: () => void this.delete() }, t('webhooks.delete')))
    this.status = h('p', { class: 'muted wh-row-status', role: 'status', 'aria-live': 'polite' })
    this.tr = h(
      'tr',
      { class: 'wh-row', dataset: { webhookId: w.id } },
      h('td', { class: 'wh-endpoint' }, this.url, this.description),
      h('td', { class: 'wh-events', dataset: { label: t('webhooks.col.events') } }, this.filters),
      h('td', { class: 'wh-state-cell' }, this.state, this.reason),
      h('td', {}, h('ul', { class: 'wh-health' }, ...HEALTH.map((key) => h('li', { dataset: { health: key } }, `${t(`webhooks.health.${key}`)} `, /** @type {HTMLElement} */ (this.health.get(key)))))),
      h('td', {}, h('ul', { class: 'wh-health' },
        h('li', {}, `${t('webhooks.lastSuccess')} `, this.lastSuccess),
        h('li', {}, `${t('webhooks.lastFailure')} `, this.lastFailure),
        h('li', {}, `${t('webhooks.lastError')} `, this.lastError),
        h('li', {}, `${t('webhooks.oldestPending')} `, this.oldest))),
      h('td', {}, h('div', { class: 'wh-actions' }, this.toggle, this.replay, this.remove, this.status)),
    )
    this.update(w)
  }

  /** @param {Webhook} w */
  update(w) {
    this.w = w
    const now = this.panel.now()
    this.url.textContent = w.url
    this.description.textContent = w.description ?? ''
    this.description.hidden = !w.description
    this.filters.textContent = filterSummary(w)
    this.state.textContent = t(w.enabled ? 'webhooks.state.enabled' : 'webhooks.state.disabled')
    this.state.classList.toggle('ok', w.enabled)
    this.state.classList.toggle('bad', !w.enabled)
    this.reason.textContent = !w.enabled && w.disabledReason ? w.disabledReason : ''
    this.reason.hidden = !this.reason.textContent
    const health = w.health
    for (const key of HEALTH) /** @type {HTMLElement} */ (this.health.get(key)).textContent = number(health[key] ?? 0)
    this.tr.classList.toggle('wh-failing', health.deadLetters > 0 || health.retrying > 0)
    this.lastSuccess.textContent = ago(health.lastSuccessAt, now)
    this.lastFailure.textContent = ago(health.lastFailureAt, now)
    this.lastError.textContent = health.lastError ?? '—'
    this.oldest.textContent = duration(health.oldestPendingSeconds)
    const where = w.description || w.url
    this.toggle.textContent = t(w.enabled ? 'webhooks.disable' : 'webhooks.enable')
    this.toggle.setAttribute('aria-label', t(w.enabled ? 'webhooks.disableWhere' : 'webhooks.enableWhere', { where }))
    this.replay.disabled = health.deadLetters === 0
    this.replay.setAttribute('aria-label', t('webhooks.replayWhere', { count: health.deadLetters, where }))
    if (this.remove.dataset.confirm !== 'yes') this.remove.setAttribute('aria-label', t('webhooks.deleteWhere', { where }))
  }

  /** @param {boolean} enabled */
  async setEnabled(enabled) {
    this.toggle.disabled = true
    try {
      this.update(await this.panel.api.update(this.id, { enabled }))
      this.say(t(enabled ? 'webhooks.saidEnabled' : 'webhooks.saidDisabled'))
    } catch (err) {
      this.say(t('webhooks.notChanged', { error: errorText(err) }), true)
    } finally {
      this.toggle.disabled = false
    }
  }

  async replayDead() {
    this.replay.disabled = true
    try {
      const queued = await this.panel.api.replayDeadLetters(this.id)
      this.say(t('webhooks.queued', { count: queued }))
      void this.panel.refresh()
    } catch (err) {
      this.say(t('webhooks.notReplayed', { error: errorText(err) }), true)
      this.replay.disabled = this.w.health.deadLetters === 0
    }
  }

  /** A second click confirms. */
  async delete() {
    if (this.remove.dataset.confirm !== 'yes') {
      this.remove.dataset.confirm = 'yes'
      this.remove.textContent = t('webhooks.deleteSure')
      this.remove.setAttribute('aria-label', t('webhooks.deleteConfirmWhere', { where: this.w.description || this.w.url }))
      return
    }
    this.remove.disabled = true
    try {
      await this.panel.api.remove(this.id)
      this.panel.removed(this.id)
    } catch (err) {
      this.remove.disabled = false
      this.say(t('webhooks.notDeleted', { error: errorText(err) }), true)
    }
  }

  /** @param {string} text @param {boolean} [failed] */
  say(text, failed = false) {
    this.status.textContent = text
    this.status.classList.toggle('error', failed)
    this.status.classList.toggle('muted', !failed)
  }
}

export class WebhooksPanel {
  /**
   * @param {WebhookApi} api
   * @param {{pollMs?: number, now?: () => number, doc?: Document}} [options] `now`: the clock (ms)
   */
  constructor(api, { pollMs = POLL_MS, now = () => Date.now(), doc = document } = {}) {
    this.api = api
    this.pollMs = pollMs
    this.now = now
    this.doc = doc
    /** @type {Map<string, Row>} */
    this.rows = new Map()
    /** @type {ReturnType<typeof setTimeout>|null} */
    this.timer = null
    this.running = false
    /** @type {Promise<void>|null} */
    this.loading = null
    this.onVisibility = () => {
      if (!this.running) return
      if (this.doc.visibilityState === 'visible') void this.refresh()
      else this.unschedule()
    }
    this.element = this.build()
  }

  build() {
    this.body = h('tbody', { id: 'webhook-rows' })
    this.empty = h('p', { class: 'muted', id: 'webhooks-empty', hidden: true }, t('webhooks.empty'))
    this.listStatus = h('p', { class: 'muted wh-list-status', role: 'status', 'aria-live': 'polite' })
    this.listError = h('p', { class: 'error', role: 'alert', id: 'webhooks-error', hidden: true })
    // Hidden while it has no row: headers over no cells are a table of nothing to a screen reader.
    this.table = h('div', { class: 'wh-table-wrap', hidden: true }, h(
      'table',
      { class: 'wh-table', 'aria-labelledby': 'webhooks-title' },
      h('thead', {}, h('tr', {}, ...['endpoint', 'events', 'state', 'deliveries', 'last', 'actions'].map((col) => h('th', { scope: 'col' }, t(`webhooks.col.${col}`))))),
      this.body,
    ))
    return h(
      'section',
      { id: 'webhooks', class: 'card settings-card webhooks-card', 'aria-labelledby': 'webhooks-title' },
      h('h3', { id: 'webhooks-title' }, t('webhooks.title')),
      h('p', { class: 'muted' }, t('webhooks.intro')),
      this.table,
      this.empty,
      this.listError,
      this.listStatus,
      this.form(),
    )
  }

  form() {
    this.secretBox = h('div', { id: 'webhook-secret-box', class: 'wh-secret', role: 'group', 'aria-labelledby': 'webhook-secret-title', hidden: true })
    this.formError = h('p', { class: 'error', role: 'alert', id: 'webhook-form-error', hidden: true })
    const field = (/** @type {string} */ id, /** @type {string} */ label, /** @type {Record<string, any>} */ attrs) => [
      h('label', { for: id }, label),
      h('input', { id, autocomplete: 'off', spellcheck: 'false', 'aria-describedby': `${id}-error`, ...attrs }),
      h('p', { id: `${id}-error`, class: 'error field-error', hidden: true }),
    ]
    return h(
      'div',
      { class: 'wh-add' },
      h(
        'form',
        { id: 'webhook-form', class: 'qr-form', novalidate: true, 'aria-labelledby': 'webhook-form-title', onsubmit: (/** @type {Event} */ e) => {
          e.preventDefault()
          void this.create()
        }, oninput: () => this.clearFormErrors() },
        h('h4', { id: 'webhook-form-title' }, t('webhooks.form.title')),
        ...field('webhook-url', t('webhooks.form.url'), { type: 'url', maxlength: '2048', placeholder: 'https://crm.example.com/hooks/whatsapp', required: true }),
        ...field('webhook-description', t('webhooks.form.description'), { maxlength: '500', spellcheck: 'true' }),
        ...field('webhook-events', t('webhooks.form.events'), { placeholder: 'new_message, message_ack' }),
        h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'webhook-add' }, t('webhooks.form.add'))),
        this.formError,
      ),
      this.secretBox,
    )
  }

  // ---- polling -----------------------------------------------------------------------------

  /** Load now, then every pollMs while the tab is visible. */
  start() {
    if (this.running) return
    this.running = true
    this.doc.addEventListener('visibilitychange', this.onVisibility)
    void this.refresh()
  }

  /** Stop polling (the page was left). */
  stop() {
    this.running = false
    this.doc.removeEventListener('visibilitychange', this.onVisibility)
    this.unschedule()
  }

  unschedule() {
    if (this.timer) clearTimeout(this.timer)
    this.timer = null
  }

  /** GET /webhooks into the table (one at a time; the next poll is scheduled after it). */
  refresh() {
    if (this.loading) return this.loading
    this.unschedule()
    this.loading = (async () => {
      try {
        this.render(await this.api.list())
        this.listError.hidden = true
      } catch (err) {
        this.listError.textContent = t('webhooks.loadFailed', { error: errorText(err) })
        this.listError.hidden = false
      } finally {
        this.loading = null
        if (this.running && this.doc.visibilityState === 'visible') {
          this.timer = setTimeout(() => void this.refresh(), this.pollMs)
        }
      }
    })()
    return this.loading
  }

  /** @param {Webhook[]} list oldest first */
  render(list) {
    const seen = new Set()
    for (const w of list) {
      seen.add(w.id)
      const row = this.rows.get(w.id)
      if (row) row.update(w)
      else this.rows.set(w.id, new Row(w, this))
    }
    for (const [id, row] of this.rows) {
      if (!seen.has(id)) {
        row.tr.remove()
        this.rows.delete(id)
      }
    }
    const order = list.map((w) => /** @type {Row} */ (this.rows.get(w.id)).tr)
    const shown = [...this.body.children]
    // Moved only when the order changed: moving a row would take the focus from its buttons.
    if (order.length !== shown.length || order.some((tr, i) => tr !== shown[i])) this.body.replaceChildren(...order)
    this.empty.hidden = list.length > 0
    this.table.hidden = list.length === 0
  }

  /** @param {string} id */
  removed(id) {
    const row = this.rows.get(id)
    row?.tr.remove()
    this.rows.delete(id)
    this.empty.hidden = this.rows.size > 0
    this.table.hidden = this.rows.size === 0
    this.listStatus.textContent = t('webhooks.deleted', { where: row?.w.description || row?.w.url || id })
  }

  // ---- adding --------------------------------------------------------------------------------

  /** @param {string} id */
  input(id) {
    return /** @type {HTMLInputElement} */ (this.element.querySelector(`#${id}`))
  }

  clearFormErrors() {
    for (const el of /** @type {NodeListOf<HTMLElement>} */ (this.element.querySelectorAll('#webhook-form .field-error'))) {
      el.textContent = ''
      el.hidden = true
    }
    for (const el of this.element.querySelectorAll('#webhook-form [aria-invalid]')) el.removeAttribute('aria-invalid')
    this.formError.hidden = true
  }

  async create() {
    this.clearFormErrors()
    const url = this.input('webhook-url').value.trim()
    const description = this.input('webhook-description').value.trim()
    const button = /** @type {HTMLButtonElement} */ (this.element.querySelector('#webhook-add'))
    button.disabled = true
    try {
      const created = await this.api.create({ url, description: description || null, events: parseEvents(this.input('webhook-events').value) })
      const { secret, ...webhook } = created
      this.render([...[...this.rows.values()].map((r) => r.w), webhook])
      for (const id of ['webhook-url', 'webhook-description', 'webhook-events']) this.input(id).value = ''
      this.showSecret(webhook, secret)
    } catch (err) {
      this.refused(err)
    } finally {
      button.disabled = false
    }
  }

  /** A refusal beside its field (the URL's, the events', the description's), else under the form. @param {unknown} err */
  refused(err) {
    const code = errorCode(err)
    const text = t('webhooks.notAdded', { error: errorText(err) })
    const id = code === 'webhook_url_forbidden' || code === 'bad_url' ? 'webhook-url'
      : code === 'bad_events' ? 'webhook-events'
        : code === 'bad_description' ? 'webhook-description'
          : null
    if (id) {
      const out = /** @type {HTMLElement} */ (this.element.querySelector(`#${id}-error`))
      out.textContent = text
      out.hidden = false
      this.input(id).setAttribute('aria-invalid', 'true')
      this.input(id).focus()
      return
    }
    this.formError.textContent = text
    this.formError.hidden = false
  }

  /**
   * The secret, this once: the server never shows it again. It leaves the page on Done (or
   * with the page). @param {Webhook} w @param {string} secret
   */
  showSecret(w, secret) {
    const value = /** @type {HTMLInputElement} */ (h('input', { id: 'webhook-secret', readonly: true, spellcheck: 'false', autocomplete: 'off', 'aria-label': t('webhooks.secret.label'), 'aria-describedby': 'webhook-secret-hint' }))
    value.value = secret
    const said = h('span', { class: 'muted', id: 'webhook-secret-status', role: 'status', 'aria-live': 'polite' })
    const copy = async () => {
      try {
        await navigator.clipboard.writeText(secret)
        said.textContent = t('webhooks.secret.copied')
      } catch {
        value.focus()
        value.select()
        said.textContent = t('webhooks.secret.selected')
      }
    }
    this.secretBox.replaceChildren(
      h('h4', { id: 'webhook-secret-title' }, ...withNode('webhooks.secret.title', 'where', h('span', { class: 'wh-url' }, w.description || w.url))),
      h('p', { id: 'webhook-secret-hint', class: 'muted' }, t('webhooks.secret.hint')),
      h('div', { class: 'row' }, value,
        h('button', { type: 'button', class: 'primary', id: 'webhook-secret-copy', onclick: () => void copy() }, t('webhooks.secret.copy')),
        h('button', { type: 'button', class: 'ghost', id: 'webhook-secret-done', onclick: () => this.hideSecret() }, t('webhooks.secret.done')),
        said),
    )
    this.secretBox.hidden = false
    value.focus()
    value.select()
  }

  hideSecret() {
    this.secretBox.replaceChildren()
    this.secretBox.hidden = true
    this.input('webhook-url').focus()
  }
}

/**
 * The settings page: a session's helpdesk settings (GET /settings), which everyone signed in
 * reads and admins change (PUT /settings, the whole document): business hours (on or off, the
 * timezone, each day's openings), the away message, the greeting, the assignment rule. A field
 * the API refuses (`bad_<field>`) shows its message beside that field. Beside it, the quick
 * replies: everyone reads them, staff add, edit and delete them. Below, for admins, the
 * webhook endpoints and their health (webhooks-ui.js), polled while the page is open.
 *
 * Below the timezone, what time and day it is there now, and whether the hours as edited are
 * open then (openNow). Its words come from the catalogs (i18n.js, keys `settings.*`), looked up as
 * they are shown; weekday names from Intl in the console's language.
 *
 * Plain DOM; texts typed by people go in through value and textContent only.
 */

import { h } from './dom.js'
import { capitalised, errorCode, errorText, locale, t } from './i18n.js'
import { WebhooksPanel } from './webhooks-ui.js'

/** @typedef {import('./wa-client').HelpdeskSettings} HelpdeskSettings */
/** @typedef {import('./wa-client').QuickReply} QuickReply */
/** @typedef {'mon'|'tue'|'wed'|'thu'|'fri'|'sat'|'sun'} Day */
/**
 * What the page needs from the console.
 * @typedef {object} SettingsHost
 * @property {(session: string) => {settings(): Promise<HelpdeskSettings>, saveSettings(doc: HelpdeskSettings): Promise<HelpdeskSettings>}} scope a session's calls
 * @property {import('./wa-client').WaClient} client quick replies (every session's)
 * @property {string} role the signed-in user's
 * @property {() => [string, string][]} numbers the numbers (id, name) to choose from: more than one shows a choice
 * @property {() => string} session the number shown first (the one viewed)
 * @property {() => void} quickRepliesChanged the composer's list is stale
 * @property {(back: boolean) => void} closed the page was left (back: by the user, who gets the focus back)
 * @property {import('./webhooks-ui.js').WebhookApi|null} webhooks the webhook routes (admins), else null
 * @property {number} [webhookPollMs] how often the webhooks' health is polled (default 5 s)
 */

/**
 * The days, Monday first, with their English names: what the API's messages call them (used to
 * find the day a refusal names, never shown).
 * @type {[Day, string][]}
 */
const DAYS = [['mon', 'monday'], ['tue', 'tuesday'], ['wed', 'wednesday'], ['thu', 'thursday'], ['fri', 'friday'], ['sat', 'saturday'], ['sun', 'sunday']]
const FALLBACK_ZONES = ['UTC', 'America/Sao_Paulo', 'America/New_York', 'Europe/Lisbon', 'Europe/London']
/** How often the "now" line below the timezone is refreshed while the page is shown. */
const NOW_EVERY_MS = 30_000

/**
 * A day's name in the console's language ("Monday", "segunda-feira"), from Intl: 5 January 2026
 * was a Monday. @param {Day} day
 */
export function dayName(day) {
  const index = DAYS.findIndex(([d]) => d === day)
  return new Intl.DateTimeFormat(locale(), { weekday: 'long', timeZone: 'UTC' }).format(new Date(Date.UTC(2026, 0, 5 + index)))
}

/**
 * What day and time it is in `timezone` at `now`, and whether the openings of `week` (the
 * settings' `businessHours.week`) are open then: start <= HH:MM < end, as the server decides it
 * (orchestrator/hours.py). The weekday and time are in the console's language, 24-hour.
 * @param {Partial<Record<Day, {start: string, end: string}[]>>} week
 * @param {string} timezone an IANA name
 * @param {Date} [now]
 * @returns {{day: Day, weekday: string, time: string, open: boolean}|null} null: a timezone Intl does not know
 */
export function openNow(week, timezone, now = new Date()) {
  if (!timezone) return null
  const options = /** @type {const} */ ({ timeZone: timezone, hour: '2-digit', minute: '2-digit', hourCycle: 'h23' })
  let parts, shown
  try {
    parts = new Intl.DateTimeFormat('en-US', { ...options, weekday: 'short' }).formatToParts(now)
    shown = new Intl.DateTimeFormat(locale(), { ...options, weekday: 'long' }).formatToParts(now)
  } catch {
    return null // RangeError: an unknown timezone
  }
  const part = (/** @type {Intl.DateTimeFormatPart[]} */ of, /** @type {string} */ type) => of.find((p) => p.type === type)?.value ?? ''
  const index = ['Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat', 'Sun'].indexOf(part(parts, 'weekday'))
  if (index < 0) return null
  const day = DAYS[index][0]
  const hhmm = `${part(parts, 'hour').padStart(2, '0')}:${part(parts, 'minute').padStart(2, '0')}`
  const open = (week[day] ?? []).some((o) => o.start <= hhmm && hhmm < o.end)
  const from = shown.findIndex((p) => p.type === 'hour')
  const to = shown.findIndex((p) => p.type === 'minute')
  const time = from >= 0 && to >= from ? shown.slice(from, to + 1).map((p) => p.value).join('') : hhmm
  return { day, weekday: part(shown, 'weekday'), time, open }
}

/** The contract's defaults: what an unset session answers. @returns {HelpdeskSettings} */
export function defaultSettings() {
  const weekday = () => [{ start: '09:00', end: '18:00' }]
  return {
    businessHours: { enabled: false, timezone: 'UTC', week: { mon: weekday(), tue: weekday(), wed: weekday(), thu: weekday(), fri: weekday(), sat: [], sun: [] } },
    awayMessage: { enabled: false, text: '' },
    greeting: { enabled: false, text: '' },
    assignment: { rule: 'none' },
  }
}


/** An error's API code and message. @param {unknown} err */
function refusal(err) {
  const e = /** @type {{message?: string}} */ (err ?? {})
  return { code: errorCode(err), message: typeof e.message === 'string' ? e.message : String(err) }
}

/**
 * How a failure reads: `key` (a text with `{error}`) around the API error's words.
 * @param {string} key @param {unknown} err
 */
function failure(key, err) {
  return t(key, { error: errorText(err) })
}

export class SettingsPage {
  /** @param {HTMLElement} root the page's container @param {SettingsHost} host */
  constructor(root, host) {
    this.root = root
    this.host = host
    this.admin = host.role === 'admin'
    this.staff = host.role === 'admin' || host.role === 'supervisor'
    /** @type {HelpdeskSettings} */
    this.doc = defaultSettings()
    /** @type {QuickReply[]} */
    this.replies = []
    /** The quick reply being edited (null: a new one). @type {number|null} */
    this.editing = null
    /** The session (WhatsApp number) whose settings are shown: settings are per number. */
    this.session = host.session()
    /** The webhooks panel while the page is shown to an admin. @type {WebhooksPanel|null} */
    this.webhooks = null
    /** @type {ReturnType<typeof setInterval>|null} */
    this.nowTimer = null
  }

  /** Show the page and load what it shows. */
  async show() {
    this.session = this.host.session()
    this.root.hidden = false
    document.body.classList.add('settings-open')
    this.build()
    const heading = /** @type {HTMLElement} */ (this.root.querySelector('h2'))
    heading.focus()
    this.webhooks?.start()
    if (this.nowTimer) clearInterval(this.nowTimer)
    this.nowTimer = setInterval(() => this.updateNow(), NOW_EVERY_MS)
    await Promise.all([this.loadSettings(), this.loadReplies()])
  }

  /** Leave the page; `back`: the user did (Back, Escape), so the focus returns to its button. @param {boolean} [back] */
  hide(back = false) {
    const shown = !this.root.hidden
    this.root.hidden = true
    document.body.classList.remove('settings-open')
    this.webhooks?.stop()
    this.webhooks = null
    if (this.nowTimer) clearInterval(this.nowTimer)
    this.nowTimer = null
    this.root.replaceChildren()
    if (shown) this.host.closed(back)
  }

  // ---- building --------------------------------------------------------------------------

  build() {
    const readOnly = !this.admin
    this.status = h('p', { class: 'muted settings-status', role: 'status', 'aria-live': 'polite' })
    this.formError = h('p', { class: 'error', role: 'alert', hidden: true })
    this.days = h('div', { class: 'days', dataset: { field: 'week' } })
    this.nowLine = h('p', { id: 'bh-now', class: 'muted bh-now', 'aria-live': 'polite', hidden: true })
    this.form = /** @type {HTMLFormElement} */ (h(
      'form',
      { id: 'settings-form', class: 'card settings-card', novalidate: true, 'aria-labelledby': 'settings-hours-title', onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault()
        void this.save()
      }, oninput: () => {
        this.clearErrors()
        this.updateNow()
      } },
      readOnly ? h('p', { id: 'settings-readonly', class: 'muted' }, t('settings.readOnly')) : null,
      h(
        'fieldset',
        { class: 'group', dataset: { field: 'businessHours' }, disabled: readOnly },
        h('legend', { id: 'settings-hours-title' }, t('settings.hours.title')),
        this.check('bh-enabled', t('settings.hours.enabled')),
        h('label', { for: 'bh-timezone' }, t('settings.hours.timezone')),
        h('input', { id: 'bh-timezone', name: 'timezone', list: 'bh-zones', autocomplete: 'off', spellcheck: 'false', 'aria-describedby': 'bh-timezone-error bh-now', dataset: { field: 'timezone' } }),
        h('datalist', { id: 'bh-zones' }, ...zones().map((z) => h('option', { value: z }))),
        h('p', { id: 'bh-timezone-error', class: 'error field-error', hidden: true }),
        this.nowLine,
        this.days,
        h('p', { id: 'bh-week-error', class: 'error field-error', hidden: true }),
      ),
      this.messageGroup('away', 'awayMessage', t('settings.away.title'), t('settings.away.hint')),
      this.messageGroup('greeting', 'greeting', t('settings.greeting.title'), t('settings.greeting.hint')),
      h(
        'fieldset',
        { class: 'group', dataset: { field: 'assignment' }, disabled: readOnly, 'aria-describedby': 'assignment-error' },
        h('legend', {}, t('settings.assignment.title')),
        h('label', { class: 'check' }, h('input', { type: 'radio', name: 'rule', value: 'none', id: 'rule-none' }), ` ${t('settings.assignment.none')}`),
        h('label', { class: 'check' }, h('input', { type: 'radio', name: 'rule', value: 'round_robin', id: 'rule-round-robin' }), ` ${t('settings.assignment.roundRobin')}`),
        h('p', { id: 'assignment-error', class: 'error field-error', hidden: true }),
      ),
      this.formError,
      readOnly ? null : h('div', { class: 'row' }, h('button', { type: 'submit', class: 'primary', id: 'settings-save' }, t('settings.save'))),
      this.status,
    ))
    this.replyList = h('ul', { class: 'qr-list', id: 'qr-list' })
    this.replyError = h('p', { class: 'error', role: 'alert', hidden: true })
    this.replyStatus = h('p', { class: 'muted qr-status', role: 'status', 'aria-live': 'polite' })
    const replies = h(
      'section',
      { class: 'card settings-card', 'aria-labelledby': 'qr-title' },
      h('h3', { id: 'qr-title' }, t('settings.quickReplies.title')),
      h('p', { class: 'muted' }, t('settings.quickReplies.hint')),
      this.replyList,
      this.staff ? this.replyForm() : h('p', { class: 'muted' }, t('settings.quickReplies.staffOnly')),
      this.replyError,
      this.replyStatus,
    )
    this.root.replaceChildren(
      h(
        'header',
        { class: 'settings-head' },
        h('button', { type: 'button', class: 'ghost', id: 'settings-close', onclick: () => this.hide(true) }, t('settings.back')),
        h('h2', { id: 'settings-title', tabindex: '-1' }, t('settings.title')),
        this.numberChoice(),
      ),
      h('div', { class: 'settings-body' }, this.form, replies, this.webhooksPanel()),
    )
    this.root.onkeydown = (e) => {
      if (e.key === 'Escape' && !(/** @type {HTMLElement} */ (e.target).closest('input, textarea'))) this.hide(true)
    }
  }

  /** Admins: the webhook endpoints (not per number: an endpoint filters the numbers itself). */
  webhooksPanel() {
    this.webhooks?.stop()
    this.webhooks = this.admin && this.host.webhooks ? new WebhooksPanel(this.host.webhooks, { pollMs: this.host.webhookPollMs }) : null
    return this.webhooks?.element ?? null
  }

  /** With several numbers, which one's settings (they are per number; quick replies are not). */
  numberChoice() {
    const numbers = this.host.numbers()
    if (numbers.length < 2) return null
    const select = /** @type {HTMLSelectElement} */ (h(
      'select',
      { id: 'settings-session', onchange: () => {
        this.session = select.value
        this.clearErrors()
        void this.loadSettings()
      } },
      ...numbers.map(([id, name]) => h('option', { value: id, selected: id === this.session }, name)),
    ))
    return h('span', { class: 'settings-number' }, h('label', { for: 'settings-session' }, t('settings.number')), select)
  }

  /** @param {string} id @param {string} text */
  check(id, text) {
    return h('label', { class: 'check' }, h('input', { type: 'checkbox', id }), ` ${text}`)
  }

  /** @param {string} id @param {'awayMessage'|'greeting'} field @param {string} title @param {string} hint */
  messageGroup(id, field, title, hint) {
    return h(
      'fieldset',
      { class: 'group', dataset: { field }, disabled: !this.admin },
      h('legend', {}, title),
      this.check(`${id}-enabled`, hint),
      h('label', { for: `${id}-text` }, t('settings.text')),
      h('textarea', { id: `${id}-text`, rows: '3', maxlength: '4096', 'aria-describedby': `${id}-error`, dataset: { field: `${field}.text` } }),
      h('p', { id: `${id}-error`, class: 'error field-error', hidden: true }),
    )
  }

  /** Each day's openings: start and end times, added and removed; none is closed. */
  renderDays() {
    const week = this.doc.businessHours.week
    this.days.replaceChildren(...DAYS.map(([day]) => {
      const name = dayName(day)
      const label = capitalised(name)
      const rows = (week[day] ?? []).map((open, i) => h(
        'span',
        { class: 'opening', dataset: { day, index: String(i) } },
        h('label', { class: 'visually-hidden', for: `bh-${day}-${i}-start` }, t('settings.hours.opensAt', { day: label })),
        h('input', { type: 'time', id: `bh-${day}-${i}-start`, value: open.start, dataset: { part: 'start' } }),
        h('span', { 'aria-hidden': 'true' }, '–'),
        h('label', { class: 'visually-hidden', for: `bh-${day}-${i}-end` }, t('settings.hours.closesAt', { day: label })),
        h('input', { type: 'time', id: `bh-${day}-${i}-end`, value: open.end, dataset: { part: 'end' } }),
        this.admin ? h('button', { type: 'button', class: 'ghost small', 'aria-label': t('settings.hours.remove', { day: name }), onclick: () => {
          this.readDays()
          week[day].splice(i, 1)
          this.renderDays()
        } }, '✕') : null,
      ))
      return h(
        'div',
        { class: 'day-row', dataset: { day }, role: 'group', 'aria-label': label },
        h('span', { class: 'day-name' }, label),
        h('span', { class: 'openings' }, ...(rows.length ? rows : [h('span', { class: 'muted closed' }, t('settings.hours.closed'))])),
        this.admin ? h('button', { type: 'button', class: 'ghost small', 'aria-label': t('settings.hours.add', { day: name }), onclick: () => {
          this.readDays()
          const last = week[day].at(-1)
          week[day].push(last ? { start: last.end, end: last.end } : { start: '09:00', end: '18:00' })
          this.renderDays()
        } }, t('settings.hours.addButton')) : null,
      )
    }))
    this.updateNow()
  }

  /** The days' openings as the form shows them. @returns {Record<Day, {start: string, end: string}[]>} */
  weekShown() {
    const week = /** @type {Record<Day, {start: string, end: string}[]>} */ ({})
    for (const [day] of DAYS) {
      week[day] = [...this.days.querySelectorAll(`.opening[data-day="${day}"]`)].map((el) => ({
        start: /** @type {HTMLInputElement} */ (el.querySelector('[data-part="start"]')).value,
        end: /** @type {HTMLInputElement} */ (el.querySelector('[data-part="end"]')).value,
      }))
    }
    return week
  }

  /** The days' inputs into the document. */
  readDays() {
    Object.assign(this.doc.businessHours.week, this.weekShown())
  }

  /**
   * The line below the timezone: the day and time there now, and whether the hours as edited
   * are open (or that the timezone is unknown). Hidden while the timezone box is empty.
   */
  updateNow() {
    const box = this.nowLine
    const zoneInput = /** @type {HTMLInputElement|null} */ (this.root.querySelector('#bh-timezone'))
    if (!box || !zoneInput || !box.isConnected) return
    const zone = zoneInput.value.trim()
    const enabled = /** @type {HTMLInputElement|null} */ (this.root.querySelector('#bh-enabled'))?.checked ?? false
    const now = openNow(this.weekShown(), zone)
    const text = !zone ? ''
      : !now ? t('settings.hours.unknownZone', { zone })
        : t(!enabled ? 'settings.hours.nowAlwaysOpen' : now.open ? 'settings.hours.nowOpen' : 'settings.hours.nowClosed', { zone, weekday: now.weekday, time: now.time })
    if (box.textContent !== text) box.textContent = text
    box.hidden = !text
    box.classList.toggle('error', !!zone && !now)
    box.classList.toggle('muted', !zone || !!now)
  }

  /** @param {string} id */
  input(id) {
    return /** @type {HTMLInputElement} */ (this.root.querySelector(`#${id}`))
  }

  /** The document into the form. */
  fill() {
    const d = this.doc
    this.input('bh-enabled').checked = d.businessHours.enabled
    this.input('bh-timezone').value = d.businessHours.timezone
    this.input('away-enabled').checked = d.awayMessage.enabled
    this.input('away-text').value = d.awayMessage.text
    this.input('greeting-enabled').checked = d.greeting.enabled
    this.input('greeting-text').value = d.greeting.text
    for (const radio of this.root.querySelectorAll('input[name="rule"]')) {
      const r = /** @type {HTMLInputElement} */ (radio)
      r.checked = r.value === d.assignment.rule
    }
    this.renderDays()
  }

  /** The form into a whole document (PUT replaces it). @returns {HelpdeskSettings} */
  read() {
    this.readDays()
    const rule = /** @type {HTMLInputElement|null} */ (this.root.querySelector('input[name="rule"]:checked'))
    return {
      ...this.doc,
      businessHours: { ...this.doc.businessHours, enabled: this.input('bh-enabled').checked, timezone: this.input('bh-timezone').value.trim(), week: this.doc.businessHours.week },
      awayMessage: { ...this.doc.awayMessage, enabled: this.input('away-enabled').checked, text: this.input('away-text').value },
      greeting: { ...this.doc.greeting, enabled: this.input('greeting-enabled').checked, text: this.input('greeting-text').value },
      assignment: { ...this.doc.assignment, rule: rule?.value === 'round_robin' ? 'round_robin' : 'none' },
    }
  }

  // ---- settings: load, save, errors by field ---------------------------------------------

  async loadSettings() {
    if (!this.status) return
    this.status.textContent = t('settings.loading')
    try {
      const session = this.session
      const doc = await this.host.scope(session).settings()
      if (session !== this.session) return // another number chosen meanwhile
      this.doc = doc
      this.fill()
      this.status.textContent = ''
    } catch (err) {
      this.fill()
      this.showError(err, 'settings.loadFailed')
    }
  }

  async save() {
    this.clearErrors()
    const doc = this.read()
    const button = /** @type {HTMLButtonElement|null} */ (this.root.querySelector('#settings-save'))
    if (button) button.disabled = true
    if (this.status) this.status.textContent = t('settings.saving')
    try {
      this.doc = await this.host.scope(this.session).saveSettings(doc)
      this.fill()
      if (this.status) this.status.textContent = t('settings.saved')
    } catch (err) {
      this.doc = doc
      if (this.status) this.status.textContent = ''
      this.showError(err, 'settings.notSaved')
    } finally {
      if (button) button.disabled = false
    }
  }

  clearErrors() {
    for (const el of /** @type {NodeListOf<HTMLElement>} */ (this.root.querySelectorAll('.field-error'))) {
      el.textContent = ''
      el.hidden = true
    }
    for (const el of this.root.querySelectorAll('[aria-invalid]')) el.removeAttribute('aria-invalid')
    if (this.formError) this.formError.hidden = true
  }

  /**
   * A refusal beside its field (`bad_timezone` by the timezone, `bad_week` or one naming a day
   * by the days, ...), else above the save button.
   * @param {unknown} err @param {string} key what failed: a text with `{error}`
   */
  showError(err, key) {
    const { code, message } = refusal(err)
    const text = failure(key, err)
    const target = this.fieldFor(code, message)
    if (target) {
      const [out, input] = target
      out.textContent = text
      out.hidden = false
      if (input) {
        input.setAttribute('aria-invalid', 'true')
        input.focus()
      }
      return
    }
    if (this.formError) {
      this.formError.textContent = text
      this.formError.hidden = false
    }
  }

  /**
   * Where a refusal goes: its error line and the control to mark. @param {string} code @param {string} message
   * @returns {[HTMLElement, HTMLElement|null]|null}
   */
  fieldFor(code, message) {
    const field = code.startsWith('bad_') ? code.slice(4).toLowerCase() : ''
    const lower = message.toLowerCase()
    const out = (/** @type {string} */ id) => /** @type {HTMLElement} */ (this.root.querySelector(`#${id}`))
    if (field === 'timezone' || (field === 'businesshours' && lower.includes('timezone'))) return [out('bh-timezone-error'), this.input('bh-timezone')]
    const day = DAYS.find(([d, name]) => field === d || new RegExp(`\\b(${d}|${name})\\b`).test(lower))
    if (['week', 'hours', 'businesshours', 'start', 'end', 'time'].includes(field) || (day && field !== 'text')) {
      const row = day ? /** @type {HTMLElement|null} */ (this.days.querySelector(`.day-row[data-day="${day[0]}"]`)) : null
      return [out('bh-week-error'), /** @type {HTMLElement|null} */ (row?.querySelector('input')) ?? row]
    }
    if (field === 'awaymessage' || field === 'away' || (field === 'text' && lower.includes('away'))) return [out('away-error'), this.input('away-text')]
    if (field === 'greeting' || (field === 'text' && lower.includes('greeting'))) return [out('greeting-error'), this.input('greeting-text')]
    if (field === 'assignment' || field === 'rule') return [out('assignment-error'), /** @type {HTMLElement} */ (this.root.querySelector('input[name="rule"]'))]
    return null
  }

  // ---- quick replies -----------------------------------------------------------------------

  replyForm() {
    return h(
      'form',
      { id: 'qr-form', class: 'qr-form', novalidate: true, 'aria-labelledby': 'qr-form-title', onsubmit: (/** @type {Event} */ e) => {
        e.preventDefault()
        void this.saveReply()
      }, oninput: () => this.clearReplyErrors() },
      h('h4', { id: 'qr-form-title' }, t('settings.quickReplies.newTitle')),
      h('label', { for: 'qr-shortcut' }, t('settings.quickReplies.shortcut')),
      h('input', { id: 'qr-shortcut', name: 'shortcut', maxlength: '50', spellcheck: 'false', autocomplete: 'off', placeholder: t('settings.quickReplies.shortcutPlaceholder'), 'aria-describedby': 'qr-shortcut-error' }),
      h('p', { id: 'qr-shortcut-error', class: 'error field-error', hidden: true }),
      h('label', { for: 'qr-body' }, t('settings.text')),
      h('textarea', { id: 'qr-body', name: 'body', rows: '3', placeholder: t('settings.quickReplies.bodyPlaceholder'), 'aria-describedby': 'qr-body-error' }),
      h('p', { id: 'qr-body-error', class: 'error field-error', hidden: true }),
      h('div', { class: 'row' },
        h('button', { type: 'submit', class: 'primary', id: 'qr-save' }, t('settings.quickReplies.add')),
        h('button', { type: 'button', class: 'ghost', id: 'qr-cancel', hidden: true, onclick: () => this.editReply(null) }, t('settings.cancel'))),
    )
  }

  async loadReplies() {
    try {
      this.replies = await this.host.client.quickReplies()
      this.renderReplies()
    } catch (err) {
      this.replyFailed(err, 'settings.quickReplies.loadFailed')
    }
  }

  renderReplies() {
    if (!this.replyList) return
    const sorted = [...this.replies].sort((a, b) => a.shortcut.localeCompare(b.shortcut))
    this.replyList.replaceChildren(...(sorted.length ? sorted.map((r) => h(
      'li',
      { class: 'qr-item', dataset: { replyId: String(r.id) } },
      h('strong', { class: 'qr-shortcut' }, `/${r.shortcut.replace(/^\//, '')}`),
      h('span', { class: 'qr-body' }, r.body),
      this.staff ? h('span', { class: 'qr-actions' },
        h('button', { type: 'button', class: 'ghost small', 'aria-label': t('settings.quickReplies.editLabel', { shortcut: r.shortcut }), onclick: () => this.editReply(r) }, t('settings.quickReplies.edit')),
        h('button', { type: 'button', class: 'ghost small', 'aria-label': t('settings.quickReplies.deleteLabel', { shortcut: r.shortcut }), onclick: (/** @type {MouseEvent} */ e) => this.deleteReply(r, /** @type {HTMLButtonElement} */ (e.currentTarget)) }, t('settings.quickReplies.delete'))) : null,
    )) : [h('li', { class: 'muted' }, t('settings.quickReplies.none'))]))
  }

  /** Fill the form with a reply to edit, or empty it for a new one. @param {QuickReply|null} r */
  editReply(r) {
    this.editing = r?.id ?? null
    this.clearReplyErrors()
    this.input('qr-shortcut').value = r?.shortcut ?? ''
    this.input('qr-body').value = r?.body ?? ''
    const el = (/** @type {string} */ id) => /** @type {HTMLElement} */ (this.root.querySelector(`#${id}`))
    el('qr-form-title').textContent = r ? t('settings.quickReplies.editLabel', { shortcut: r.shortcut }) : t('settings.quickReplies.newTitle')
    el('qr-save').textContent = t(r ? 'settings.quickReplies.save' : 'settings.quickReplies.add')
    el('qr-cancel').hidden = !r
    if (r) this.input('qr-shortcut').focus()
  }

  clearReplyErrors() {
    for (const id of ['qr-shortcut-error', 'qr-body-error']) {
      const el = /** @type {HTMLElement} */ (this.root.querySelector(`#${id}`))
      el.hidden = true
      el.textContent = ''
    }
    this.input('qr-shortcut').removeAttribute('aria-invalid')
    this.input('qr-body').removeAttribute('aria-invalid')
    if (this.replyError) this.replyError.hidden = true
    if (this.replyStatus) this.replyStatus.textContent = ''
  }

  async saveReply() {
    this.clearReplyErrors()
    const shortcut = this.input('qr-shortcut').value.trim().replace(/^\//, '')
    const body = this.input('qr-body').value
    try {
      const saved = await this.host.client.saveQuickReply({ id: this.editing, shortcut, body })
      this.replies = [...this.replies.filter((r) => r.id !== saved.id), saved]
      this.renderReplies()
      this.editReply(null)
      this.host.quickRepliesChanged()
      if (this.replyStatus) this.replyStatus.textContent = t('settings.quickReplies.saved', { shortcut: saved.shortcut })
    } catch (err) {
      this.replyFailed(err, 'settings.notSaved')
    }
  }

  /** A second click confirms. @param {QuickReply} r @param {HTMLButtonElement} button */
  async deleteReply(r, button) {
    if (button.dataset.confirm !== 'yes') {
      button.dataset.confirm = 'yes'
      button.textContent = t('settings.quickReplies.deleteSure')
      button.setAttribute('aria-label', t('settings.quickReplies.deleteConfirmLabel', { shortcut: r.shortcut }))
      return
    }
    try {
      await this.host.client.deleteQuickReply(r.id)
      this.replies = this.replies.filter((x) => x.id !== r.id)
      if (this.editing === r.id) this.editReply(null)
      this.renderReplies()
      this.host.quickRepliesChanged()
      if (this.replyStatus) this.replyStatus.textContent = t('settings.quickReplies.deleted', { shortcut: r.shortcut })
    } catch (err) {
      this.replyFailed(err, 'settings.quickReplies.notDeleted')
    }
  }

  /** @param {unknown} err @param {string} key what failed: a text with `{error}` */
  replyFailed(err, key) {
    const { code } = refusal(err)
    const text = failure(key, err)
    const field = code === 'quick_reply_exists' || code === 'bad_shortcut' ? 'qr-shortcut' : code === 'bad_body' || code === 'blank_text' ? 'qr-body' : null
    if (field && this.root.querySelector(`#${field}`)) {
      const out = /** @type {HTMLElement} */ (this.root.querySelector(`#${field}-error`))
      out.textContent = text
      out.hidden = false
      this.input(field).setAttribute('aria-invalid', 'true')
      this.input(field).focus()
    } else if (this.replyError) {
      this.replyError.textContent = text
      this.replyError.hidden = false
    }
  }
}

/** The timezones the browser knows, for the timezone box's suggestions. */
function zones() {
  try {
    const intl = /** @type {{supportedValuesOf?: (key: string) => string[]}} */ (Intl)
    const all = intl.supportedValuesOf?.('timeZone') ?? FALLBACK_ZONES
    return all.includes('UTC') ? all : ['UTC', ...all]
  } catch {
    return FALLBACK_ZONES
  }
}

/**
 * The console's languages: its words come from one message catalog per language
 * (messages.en.json, messages.pt-BR.json beside this file), never from code. A catalog maps a key
 * ("area.name") to a text with `{name}` placeholders, or, for a count, to its plural forms
 * (Intl.PluralRules' categories: "one", "other", ...). A key the chosen language lacks falls
 * back to English, then to the key itself, so a missing text shows, and tests/console/i18n.test.mjs
 * fails on it. Dates, times and numbers go through Intl in the same locale, in the browser's
 * timezone (the agent's).
 */

export const LOCALES = /** @type {const} */ (['en', 'pt-BR'])
export const FALLBACK = 'en'
/** Where the agent's choice of language is remembered (the header's switch). */
export const LOCALE_KEY = 'wa-console-locale'

/** @typedef {string | Record<string, string>} Entry a text, or its plural forms */
/** @typedef {Record<string, Entry>} Catalog */

/** @type {Record<string, Catalog>} */
const catalogs = {}
/** The catalog in use (its language), and the locale Intl formats in: the browser's own tag of that language (en-GB keeps its 24-hour clock, pt-PT its dates). */
let current = FALLBACK
let formats = FALLBACK

/**
 * The console's language: the one remembered, else the first of the browser's languages the
 * console speaks (any Portuguese is pt-BR, any English is en), else English.
 * @param {readonly string[]} languages navigator.languages
 * @param {string|null} [remembered]
 */
export function pickLocale(languages, remembered = null) {
  if (remembered && /** @type {readonly string[]} */ (LOCALES).includes(remembered)) return remembered
  for (const tag of languages) {
    const spoken = catalogOf(tag)
    if (spoken) return spoken
  }
  return FALLBACK
}

/** The catalog that speaks a language tag's language (any Portuguese is pt-BR), or null. @param {string} tag */
function catalogOf(tag) {
  const lower = tag.toLowerCase()
  if (lower === 'pt' || lower.startsWith('pt-')) return 'pt-BR'
  if (lower === 'en' || lower.startsWith('en-')) return 'en'
  return null
}

/** @param {string} locale @param {Catalog} catalog */
export function setCatalog(locale, catalog) {
  catalogs[locale] = catalog
}

/**
 * The browser's tag for the language picked, for Intl: the first of its languages that would
 * have picked it ("en-GB" for English), else the language's own tag.
 * @param {readonly string[]} languages navigator.languages @param {string} chosen a catalog's language
 */
export function formatLocale(languages, chosen) {
  return languages.find((tag) => catalogOf(tag) === chosen) ?? chosen
}

/**
 * Use this language from now on (its catalog, and English's, must be set), with Intl formatting
 * in `intl` (a tag of the same language).
 * @param {string} name @param {string} [intl]
 */
export function useLocale(name, intl = name) {
  current = name
  formats = intl
}

/** The language in use: its catalog's name (the page's lang). */
export function language() {
  return current
}

/** The locale every Intl formatter here is given. */
export function locale() {
  return formats
}

/**
 * Fetch English's catalog and the chosen one's, and use it (Intl in `intl`).
 * @param {string} chosen @param {string} [intl] @param {(url: URL) => Promise<Response>} [fetchFn]
 */
export async function loadLocale(chosen, intl = chosen, fetchFn = (url) => fetch(url)) {
  const wanted = chosen === FALLBACK ? [FALLBACK] : [FALLBACK, chosen]
  await Promise.all(
    wanted.map(async (name) => {
      const answer = await fetchFn(new URL(`messages.${name}.json`, import.meta.url))
      if (!answer.ok) throw new Error(`the ${name} catalog: HTTP ${answer.status}`)
      setCatalog(name, await answer.json())
    }),
  )
  useLocale(chosen, intl)
}

/** @param {string} key */
export function has(key) {
  return key in (catalogs[current] ?? {}) || key in (catalogs[FALLBACK] ?? {})
}

/**
 * The text of `key` in the language in use, its `{placeholders}` filled from `values`; with a
 * `count`, the plural form Intl.PluralRules picks for it (the count is shown in the locale's
 * digits as `{count}`).
 * @param {string} key @param {Record<string, string | number>} [values]
 */
export function t(key, values = {}) {
  let entry = catalogs[current]?.[key] ?? catalogs[FALLBACK]?.[key]
  if (entry === undefined) return key
  if (typeof entry !== 'string') {
    const count = Number(values.count ?? 0)
    // Zero takes the plural, as people write it ("0 conversas"), though CLDR counts it "one" in pt.
    const form = count === 0 ? 'other' : made('PluralRules', current).select(count)
    entry = entry[form] ?? entry.other ?? ''
  }
  return entry.replace(/\{(\w+)\}/g, (whole, name) => {
    const value = values[name]
    if (value === undefined) return whole
    return typeof value === 'number' ? number(value) : value
  })
}

/**
 * Intl's formatters, built once per locale and options and kept: a chat list or a page of
 * messages formats hundreds of times a render, and building one costs far more than using it.
 * @type {Map<string, any>}
 */
const formatters = new Map()

/**
 * @template {'PluralRules'|'NumberFormat'|'DateTimeFormat'|'RelativeTimeFormat'} K
 * @param {K} kind @param {string} tag @param {Record<string, unknown>} [options]
 * @returns {InstanceType<(typeof Intl)[K]>}
 */
function made(kind, tag, options = {}) {
  const key = `${kind} ${tag} ${JSON.stringify(options)}`
  let formatter = formatters.get(key)
  if (!formatter) {
    formatter = new Intl[kind](tag, /** @type {any} */ (options))
    formatters.set(key, formatter)
  }
  return formatter
}

/** @param {number} n */
export function number(n) {
  return made('NumberFormat', formats).format(n)
}

/** An API error's stable code (a WaError's `code`), or '' for any other error. @param {unknown} err */
export function errorCode(err) {
  const e = /** @type {{code?: unknown}} */ (err ?? {})
  return typeof e.code === 'string' ? e.code : ''
}

/**
 * What the console says of an API error. In English, the server's own message: the API words
 * its messages in English, naming the field or the limit at fault, which a catalog's sentence per
 * code cannot. In another language, the translation of the error's stable code
 * ("error.<code>"); a code the catalog lacks falls back to the server's message.
 * @param {unknown} err a WaError (`code`, `message`) or any error
 */
export function errorText(err) {
  const e = /** @type {{message?: unknown}} */ (err ?? {})
  const server = typeof e.message === 'string' && e.message ? e.message : null
  const key = `error.${errorCode(err)}`
  const code = has(key) ? key : null
  if (code && (current !== FALLBACK || !server)) return t(code)
  return server ?? t('error.unknown')
}

/** A text with its first letter capitalised, as a label starts. @param {string} text @param {string} [tag] */
export function capitalised(text, tag = formats) {
  return text.charAt(0).toLocaleUpperCase(tag) + text.slice(1)
}

/** A clock time ("14:05", "2:05 PM"). @param {Date} d */
export function clockTime(d) {
  return made('DateTimeFormat', formats, { hour: '2-digit', minute: '2-digit' }).format(d)
}

/** Date and time, short ("5 dez., 14:05"). @param {Date} d */
export function shortDateTime(d) {
  return made('DateTimeFormat', formats, { day: 'numeric', month: 'short', hour: '2-digit', minute: '2-digit' }).format(d)
}

/** Date and time in full (a tooltip). @param {Date} d */
export function fullDateTime(d) {
  return made('DateTimeFormat', formats, { dateStyle: 'full', timeStyle: 'short' }).format(d)
}

/** @param {Date} a @param {Date} b whole calendar days from a to b, in the browser's timezone */
function daysBetween(a, b) {
  const start = (/** @type {Date} */ d) => Date.UTC(d.getFullYear(), d.getMonth(), d.getDate())
  return Math.round((start(b) - start(a)) / 86_400_000)
}

/**
 * A day separator's words: "Today", "Yesterday" (the locale's own, capitalised, from
 * Intl.RelativeTimeFormat), else the weekday and date, with the year when it is not this one.
 * @param {Date} d @param {Date} [now]
 */
export function dayLabel(d, now = new Date()) {
  const days = daysBetween(d, now)
  if (days === 0 || days === 1) {
    const words = made('RelativeTimeFormat', formats, { numeric: 'auto' }).format(-days, 'day')
    return capitalised(words)
  }
  const year = d.getFullYear() === now.getFullYear() ? undefined : 'numeric'
  return made('DateTimeFormat', formats, { weekday: 'long', day: 'numeric', month: 'long', year }).format(d)
}

/**
 * A chat list's time: the clock today, the weekday within the week, else the date.
 * @param {Date} d @param {Date} [now]
 */
export function shortWhen(d, now = new Date()) {
  const days = daysBetween(d, now)
  if (days === 0) return clockTime(d)
  if (days > 0 && days < 6) return made('DateTimeFormat', formats, { weekday: 'short' }).format(d)
  const year = d.getFullYear() === now.getFullYear() ? undefined : '2-digit'
  return made('DateTimeFormat', formats, { day: 'numeric', month: 'short', year }).format(d)
}

/**
 * Translate the page's static markup: `data-i18n="key"` sets an element's text,
 * `data-i18n-attr="placeholder:key aria-label:key"` its attributes.
 * @param {ParentNode} root
 */
export function translateDom(root) {
  for (const el of root.querySelectorAll('[data-i18n]')) el.textContent = t(/** @type {string} */ (/** @type {HTMLElement} */ (el).dataset.i18n))
  for (const el of root.querySelectorAll('[data-i18n-attr]')) {
    for (const pair of /** @type {string} */ (/** @type {HTMLElement} */ (el).dataset.i18nAttr).split(/\s+/)) {
      const [attr, key] = pair.split(':')
      if (attr && key) el.setAttribute(attr, t(key))
    }
  }
}

/**
 * What a set of catalogs lacks: for each language, the keys another has and it has not, and the
 * keys whose placeholders or plural forms differ from English's.
 * @param {Record<string, Catalog>} all
 * @returns {string[]} one line per problem, empty when none
 */
export function catalogProblems(all) {
  const problems = []
  const keys = new Set(Object.values(all).flatMap((c) => Object.keys(c)))
  const english = all[FALLBACK] ?? {}
  const placeholders = (/** @type {Entry} */ e) =>
    [...new Set((typeof e === 'string' ? e : Object.values(e).join(' ')).match(/\{\w+\}/g) ?? [])].sort().join(',')
  for (const [name, catalog] of Object.entries(all)) {
    for (const key of [...keys].sort()) {
      const entry = catalog[key]
      if (entry === undefined) { problems.push(`${name}: missing ${key}`); continue }
      if (typeof entry !== 'string' && entry.other === undefined) problems.push(`${name}: ${key} has no "other" form`)
      const en = english[key]
      if (en !== undefined && placeholders(en) !== placeholders(entry)) problems.push(`${name}: ${key} has placeholders ${placeholders(entry) || 'none'}, English ${placeholders(en) || 'none'}`)
    }
  }
  return problems
}

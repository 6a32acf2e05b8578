/** i18n.js and the console's catalogs: every language says everything, every key the console uses
 * exists, every API error code has its words, and the locale, plurals, dates and errors follow
 * the language in use. */
import assert from 'node:assert/strict'
import { readdirSync, readFileSync } from 'node:fs'
import { describe, test } from 'node:test'
import {
  catalogProblems, clockTime, dayLabel, errorText, formatLocale, pickLocale, setCatalog, shortWhen, t, useLocale,
} from '../../orchestrator/static/i18n.js'
import { WaError } from '../../orchestrator/static/wa-client.js'
import { readCatalog, speak } from './catalogs.mjs'

const STATIC = new URL('../../orchestrator/static/', import.meta.url)
const read = (/** @type {string} */ name) => readFileSync(new URL(name, STATIC), 'utf-8')
/** Modules that are no UI: the API client, its cache, and i18n.js itself. */
const NOT_UI = new Set(['wa-client.js', 'wa-cache.js', 'i18n.js'])

/** The stable error codes: the union `ErrorCode` of wa-api.d.ts. */
function errorCodes() {
  const union = /export type ErrorCode\s*=\s*([^;\n]+)/.exec(read('wa-api.d.ts'))
  assert.ok(union, 'wa-api.d.ts declares ErrorCode')
  return [...union[1].matchAll(/'([^']+)'/g)].map((m) => m[1])
}

/** The catalogs' areas: the first part of every key ("chats" of "chats.search"). */
const AREAS = new Set(Object.keys(readCatalog('en')).map((key) => key.split('.')[0]))

/** Every literal key the console's code and markup use, each with where it is used. */
function usedKeys() {
  /** @type {Map<string, string>} */
  const used = new Map()
  for (const file of readdirSync(STATIC).filter((f) => f.endsWith('.js') && !NOT_UI.has(f)).sort()) {
    const source = read(file)
    for (const m of source.matchAll(/\bt\(\s*(['"])([\w.-]+)\1/g)) used.set(m[2], file)
    // A key picked by a condition (t(on ? 'search.messages' : 'chats.search')), or kept in a
    // table: any quoted "area.name" whose area is a catalog's.
    for (const m of source.matchAll(/(['"])([a-zA-Z]+)\.([\w.]+)\1/g)) if (AREAS.has(m[2])) used.set(`${m[2]}.${m[3]}`, file)
  }
  const html = read('index.html')
  for (const m of html.matchAll(/\sdata-i18n="([^"]*)"/g)) used.set(m[1], 'index.html data-i18n')
  for (const m of html.matchAll(/\sdata-i18n-attr="([^"]*)"/g)) {
    for (const pair of m[1].trim().split(/\s+/)) {
      const [attr, key] = pair.split(':')
      assert.ok(attr && key, `index.html: data-i18n-attr pair ${JSON.stringify(pair)} is attr:key`)
      used.set(key, 'index.html data-i18n-attr')
    }
  }
  return used
}

describe('the catalogs', () => {
  test('English and Portuguese have the same keys, placeholders and plural forms', () => {
    assert.deepEqual(catalogProblems({ en: readCatalog('en'), 'pt-BR': readCatalog('pt-BR') }), [])
  })

  test('the check finds a key one language lacks, a placeholder that differs, a plural without "other"', () => {
    const problems = catalogProblems({
      en: { 'a.same': 'Same', 'a.only': 'Only English', 'a.named': 'Hi {name}', 'a.n': { one: '{count} item', other: '{count} items' } },
      'pt-BR': { 'a.same': 'Igual', 'a.named': 'Oi {nome}', 'a.n': { one: '{count} item' }, 'a.extra': 'Só português' },
    })
    assert.ok(problems.includes('pt-BR: missing a.only'), problems.join('\n'))
    assert.ok(problems.includes('en: missing a.extra'), problems.join('\n'))
    assert.ok(problems.some((p) => p.startsWith('pt-BR: a.named has placeholders {nome}')), problems.join('\n'))
    assert.ok(problems.includes('pt-BR: a.n has no "other" form'), problems.join('\n'))
    assert.ok(!problems.some((p) => p.includes('a.same')), problems.join('\n'))
  })

  test('every API error code has its words in both languages', () => {
    const codes = errorCodes()
    assert.ok(codes.length > 90, `ErrorCode has ${codes.length} codes`)
    for (const name of ['en', 'pt-BR']) {
      const catalog = readCatalog(name)
      const missing = codes.filter((code) => typeof catalog[`error.${code}`] !== 'string')
      assert.deepEqual(missing, [], `${name} lacks error.<code> for`)
    }
    assert.equal(typeof readCatalog('en')['error.unknown'], 'string')
  })

  test('every key the console uses (t("…"), data-i18n, data-i18n-attr) is in the English catalog', () => {
    const english = readCatalog('en')
    const used = usedKeys()
    assert.ok(used.size > 0, 'the console uses keys')
    const missing = [...used].filter(([key]) => !(key in english)).map(([key, where]) => `${key} (${where})`)
    assert.deepEqual(missing, [], 'keys used but not in messages.en.json')
  })
})

describe('pickLocale', () => {
  test('the first of the browser languages the console speaks: any Portuguese is pt-BR', () => {
    assert.equal(pickLocale(['pt-BR']), 'pt-BR')
    assert.equal(pickLocale(['pt-PT', 'en']), 'pt-BR')
    assert.equal(pickLocale(['en-US']), 'en')
    assert.equal(pickLocale(['fr-FR', 'pt']), 'pt-BR')
    assert.equal(pickLocale(['fr']), 'en')
    assert.equal(pickLocale([]), 'en')
  })

  test('the remembered choice wins; an unknown one is ignored', () => {
    assert.equal(pickLocale(['pt-BR'], 'en'), 'en')
    assert.equal(pickLocale(['en-US'], 'pt-BR'), 'pt-BR')
    assert.equal(pickLocale(['pt-BR'], 'fr'), 'pt-BR')
    assert.equal(pickLocale(['en'], 'klingon'), 'en')
  })
})

describe('t', () => {
  const PLURAL = { 'x.n': { one: '{count} item', other: '{count} itens' } }

  test('fills placeholders and leaves an unknown one as it is', () => {
    setCatalog('en', { 'x.hi': 'Hi {name}, {count} new', 'x.odd': 'Hello {who}' })
    useLocale('en')
    assert.equal(t('x.hi', { name: 'Ana', count: 3 }), 'Hi Ana, 3 new')
    assert.equal(t('x.odd'), 'Hello {who}')
  })

  test('plural forms follow Intl.PluralRules in English and Portuguese', () => {
    setCatalog('en', { 'x.n': { one: '{count} item', other: '{count} items' } })
    useLocale('en')
    assert.deepEqual([0, 1, 2, 1000].map((count) => t('x.n', { count })), ['0 items', '1 item', '2 items', '1,000 items'])

    setCatalog('pt-BR', PLURAL)
    useLocale('pt-BR')
    // Intl counts 0 as "one" in Portuguese; people write "0 conversas": zero takes the plural.
    assert.equal(new Intl.PluralRules('pt-BR').select(0), 'one')
    assert.equal(t('x.n', { count: 0 }), '0 itens')
    assert.equal(t('x.n', { count: 1 }), '1 item')
    assert.equal(t('x.n', { count: 2 }), '2 itens')
    assert.equal(t('x.n', { count: 1000 }), '1.000 itens', 'the count in Portuguese digits')
    // A category the entry does not give ("many" for a million, in recent ICU) is "other".
    assert.equal(t('x.n', { count: 1_000_000 }), '1.000.000 itens')
  })

  test('a key the language lacks is English; a key no catalog has is the key itself', () => {
    setCatalog('en', { 'x.onlyEnglish': 'Only in English', 'x.both': 'Both' })
    setCatalog('pt-BR', { 'x.both': 'Ambos' })
    useLocale('pt-BR')
    assert.equal(t('x.both'), 'Ambos')
    assert.equal(t('x.onlyEnglish'), 'Only in English')
    assert.equal(t('x.nowhere'), 'x.nowhere')
  })
})

describe('dates in the language in use', () => {
  const now = new Date(2026, 11, 7, 15, 0) // Monday 7 December 2026, 15:00 local

  test('day separators: today and yesterday in words, else the weekday and date', () => {
    useLocale('pt-BR')
    assert.equal(dayLabel(new Date(2026, 11, 7, 9, 30), now), 'Hoje')
    assert.equal(dayLabel(new Date(2026, 11, 6, 23, 59), now), 'Ontem')
    const older = dayLabel(new Date(2026, 11, 2, 9, 0), now)
    assert.match(older, /quarta-feira/)
    assert.match(older, /dezembro/)
    assert.doesNotMatch(older, /2026/, 'no year within this year')
    assert.match(dayLabel(new Date(2025, 11, 2, 9, 0), now), /2025/)

    useLocale('en')
    assert.equal(dayLabel(new Date(2026, 11, 7, 9, 30), now), 'Today')
    assert.equal(dayLabel(new Date(2026, 11, 6, 23, 59), now), 'Yesterday')
    const olderEn = dayLabel(new Date(2026, 11, 2, 9, 0), now)
    assert.match(olderEn, /Wednesday/)
    assert.match(olderEn, /December/)
  })

  test('clock: 24 h in Portuguese, 12 h in English', () => {
    const at = new Date(2026, 11, 7, 14, 5)
    useLocale('pt-BR')
    assert.equal(clockTime(at), '14:05')
    useLocale('en')
    assert.match(clockTime(at), /^0?2:05\sPM$/u)
  })

  test('a chat list time: the clock today, a short weekday within the week', () => {
    useLocale('pt-BR')
    assert.equal(shortWhen(new Date(2026, 11, 7, 14, 5), now), '14:05')
    const threeDaysAgo = new Date(2026, 11, 4, 14, 5) // a Friday
    assert.equal(shortWhen(threeDaysAgo, now), new Intl.DateTimeFormat('pt-BR', { weekday: 'short' }).format(threeDaysAgo))
    assert.match(shortWhen(threeDaysAgo, now), /^sex/)
    useLocale('en')
    assert.equal(shortWhen(threeDaysAgo, now), 'Fri')
  })
})

describe('errorText', () => {
  test("English shows the server's own message; another language translates the code", () => {
    speak('en')
    const precise = 'WhatsApp is not connected: this bridge is replaying a capture'
    assert.equal(errorText(new WaError(409, 'not_connected', precise)), precise)
    assert.equal(errorText({ code: 'not_connected' }), 'WhatsApp is not connected.')
    speak('pt-BR')
    assert.equal(errorText(new WaError(409, 'not_connected', precise)), 'O WhatsApp não está conectado.')
    assert.equal(errorText({ code: 'not_connected', message: 'x' }), readCatalog('pt-BR')['error.not_connected'])
    assert.equal(errorText(new WaError(409, 'not_connected', 'x')), 'O WhatsApp não está conectado.')
  })

  test("a code without words is the server's message; no message is error.unknown", () => {
    speak('pt-BR')
    assert.equal(errorText({ code: 'brand_new_code', message: 'the server says why' }), 'the server says why')
    assert.equal(errorText(new Error('plain error')), 'plain error')
    assert.equal(errorText({ code: 'brand_new_code' }), readCatalog('pt-BR')['error.unknown'])
    assert.equal(errorText(null), 'Algo deu errado.')
    speak('en')
    assert.equal(errorText(undefined), 'Something went wrong.')
  })
})

describe('formatLocale', () => {
  test("Intl formats in the browser's own tag of the language picked", () => {
    assert.equal(formatLocale(['en-GB', 'pt-BR'], 'en'), 'en-GB')
    assert.equal(formatLocale(['fr-FR', 'pt-PT'], 'pt-BR'), 'pt-PT')
    assert.equal(formatLocale(['fr-FR'], 'en'), 'en')
    // A remembered choice the browser does not list: the language's own tag.
    assert.equal(formatLocale(['en-US'], 'pt-BR'), 'pt-BR')
  })

  test('an English agent in the UK gets a 24-hour clock, one in the US a 12-hour one', () => {
    speak('en')
    const d = new Date(2026, 11, 7, 14, 5)
    useLocale('en', 'en-GB')
    assert.equal(clockTime(d), '14:05')
    useLocale('en', 'en-US')
    assert.match(clockTime(d), /^02:05\s?PM$/)
    useLocale('en')
  })
})

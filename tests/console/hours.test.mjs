/**
 * The settings page's business hours without a browser: the weekday names in the console's
 * language, and the line below the timezone (openNow): the day and time in the chosen timezone
 * and whether the openings are open then, as the server decides it (orchestrator/hours.py). The
 * browser side is tests/browser/test_helpdesk_tools.py.
 */
import assert from 'node:assert/strict'
import { beforeEach, describe, test } from 'node:test'
import { t } from '../../orchestrator/static/i18n.js'
import { dayName, openNow } from '../../orchestrator/static/settings-ui.js'
import { speak } from './catalogs.mjs'

const nineToSix = () => [{ start: '09:00', end: '18:00' }]
/** Weekdays 09:00-18:00, Monday also 22:00 to the day's end; the weekend closed. */
const WEEK = { mon: [...nineToSix(), { start: '22:00', end: '24:00' }], tue: nineToSix(), wed: nineToSix(), thu: nineToSix(), fri: nineToSix(), sat: [], sun: [] }
/** Tuesday 01:30 in UTC: Monday 22:30 in São Paulo (UTC-3). */
const NOW = new Date('2026-01-06T01:30:00.000Z')

describe('openNow', () => {
  beforeEach(() => speak('en'))

  test('the same instant: Monday evening and open in São Paulo, Tuesday night and closed in UTC', () => {
    assert.deepEqual(openNow(WEEK, 'America/Sao_Paulo', NOW), { day: 'mon', weekday: 'Monday', time: '22:30', open: true })
    assert.deepEqual(openNow(WEEK, 'UTC', NOW), { day: 'tue', weekday: 'Tuesday', time: '01:30', open: false })
  })

  test('an opening includes its start and excludes its end; midnight is 00:00', () => {
    const at = (/** @type {string} */ iso) => openNow(WEEK, 'America/Sao_Paulo', new Date(iso))
    assert.equal(at('2026-01-05T12:00:00.000Z')?.open, true) // Monday 09:00
    assert.equal(at('2026-01-05T11:59:00.000Z')?.open, false) // 08:59
    assert.equal(at('2026-01-05T21:00:00.000Z')?.open, false) // 18:00
    assert.deepEqual(at('2026-01-06T03:00:00.000Z'), { day: 'tue', weekday: 'Tuesday', time: '00:00', open: false })
    assert.equal(openNow({ tue: [{ start: '00:00', end: '01:00' }] }, 'America/Sao_Paulo', new Date('2026-01-06T03:00:00.000Z'))?.open, true)
  })

  test('a day without openings is closed; an unknown or empty timezone is null, not a throw', () => {
    assert.equal(openNow(WEEK, 'UTC', new Date('2026-01-10T12:00:00.000Z'))?.open, false) // Saturday
    assert.equal(openNow(WEEK, 'Mars/Olympus_Mons', NOW), null)
    assert.equal(openNow(WEEK, '', NOW), null)
  })

  test('in pt-BR: the weekday and the line', () => {
    speak('pt-BR')
    assert.deepEqual(openNow(WEEK, 'America/Sao_Paulo', NOW), { day: 'mon', weekday: 'segunda-feira', time: '22:30', open: true })
    const utc = openNow(WEEK, 'UTC', NOW)
    assert.equal(utc?.weekday, 'terça-feira')
    assert.equal(t('settings.hours.nowOpen', { zone: 'America/Sao_Paulo', weekday: 'segunda-feira', time: '22:30' }), 'Agora em America/Sao_Paulo: segunda-feira 22:30 — aberto')
    assert.equal(t('settings.hours.nowClosed', { zone: 'UTC', weekday: 'terça-feira', time: '01:30' }), 'Agora em UTC: terça-feira 01:30 — fechado')
    assert.equal(t('settings.hours.unknownZone', { zone: 'Mars/X' }), 'Fuso horário desconhecido: Mars/X')
  })
})

describe('dayName', () => {
  test('Monday to Sunday in the console language', () => {
    const week = /** @type {const} */ (['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'])
    speak('en')
    assert.deepEqual(week.map(dayName), ['Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday', 'Sunday'])
    assert.equal(t('settings.hours.nowOpen', { zone: 'UTC', weekday: 'Monday', time: '14:05' }), 'Now in UTC: Monday 14:05 — open')
    speak('pt-BR')
    assert.deepEqual(week.map(dayName), ['segunda-feira', 'terça-feira', 'quarta-feira', 'quinta-feira', 'sexta-feira', 'sábado', 'domingo'])
  })
})

/**
 * The console's webhooks panel without a browser: its calls (the routes, methods, bodies and
 * token the contract names, refusals as the client's errors) and the texts it shows. The
 * browser side is tests/browser/test_webhooks_console.py.
 */
import assert from 'node:assert/strict'
import { beforeEach, describe, test } from 'node:test'
import { ago, duration, filterSummary, parseEvents, webhookApi } from '../../orchestrator/static/webhooks-ui.js'
import { speak } from './catalogs.mjs'

/** A fetch that records each request and answers `answer(method, path, body)`. @param {(method: string, path: string, body: any) => [number, any]} answer */
function recording(answer) {
  /** @type {{method: string, path: string, body: any, auth: string|null}[]} */
  const requests = []
  /** @param {string} url @param {RequestInit} [init] */
  const fetch = async (url, init = {}) => {
    const { pathname, search } = new URL(url)
    const body = init.body ? JSON.parse(String(init.body)) : undefined
    const method = init.method ?? 'GET'
    const auth = new Headers(init.headers).get('authorization')
    requests.push({ method, path: pathname + search, body, auth })
    const [status, payload] = answer(method, pathname + search, body)
    return new Response(payload === undefined ? null : JSON.stringify(payload), { status, headers: { 'Content-Type': 'application/json' } })
  }
  return { fetch, requests }
}

describe('the calls', () => {
  test('list, create, enable, replay dead letters and delete, each with the current token', async () => {
    let token = 'first'
    const { fetch, requests } = recording((method, path) => {
      if (method === 'GET') return [200, { webhooks: [{ id: 'wh_1' }] }]
      if (method === 'POST' && path === '/webhooks') return [201, { id: 'wh_2', secret: 'whsec_x' }]
      if (method === 'PATCH') return [200, { id: 'wh_1', enabled: true }]
      if (path.endsWith('/replay')) return [202, { queued: 3 }]
      return [204, undefined]
    })
    const api = webhookApi(() => token, fetch, 'http://wa.test')
    assert.deepEqual(await api.list(), [{ id: 'wh_1' }])
    token = 'refreshed'
    assert.equal((await api.create({ url: 'https://h.example/x', description: null, events: ['new_message'] })).secret, 'whsec_x')
    assert.deepEqual(await api.update('wh_1', { enabled: true }), { id: 'wh_1', enabled: true })
    assert.equal(await api.replayDeadLetters('wh_1'), 3)
    assert.equal(await api.remove('wh_1'), undefined)
    assert.deepEqual(requests, [
      { method: 'GET', path: '/webhooks', body: undefined, auth: 'Bearer first' },
      { method: 'POST', path: '/webhooks', body: { url: 'https://h.example/x', description: null, events: ['new_message'] }, auth: 'Bearer refreshed' },
      { method: 'PATCH', path: '/webhooks/wh_1', body: { enabled: true }, auth: 'Bearer refreshed' },
      { method: 'POST', path: '/webhooks/wh_1/replay', body: { deadLetters: true }, auth: 'Bearer refreshed' },
      { method: 'DELETE', path: '/webhooks/wh_1', body: undefined, auth: 'Bearer refreshed' },
    ])
  })

  test('an id goes into the path encoded', async () => {
    const { fetch, requests } = recording(() => [204, undefined])
    await webhookApi(() => 't', fetch, 'http://wa.test').remove('wh_1/../x?')
    assert.equal(requests[0].path, '/webhooks/wh_1%2F..%2Fx%3F')
  })

  test("a refusal throws the API's status, code and message; a network failure status 0", async () => {
    const { fetch } = recording(() => [409, { error: { code: 'webhook_disabled', message: 'the endpoint is disabled' } }])
    await assert.rejects(webhookApi(() => 't', fetch, 'http://wa.test').replayDeadLetters('wh_1'), { status: 409, code: 'webhook_disabled', message: 'the endpoint is disabled' })
    const { fetch: bare } = recording(() => [500, undefined])
    await assert.rejects(webhookApi(() => 't', bare, 'http://wa.test').list(), { status: 500, code: 'http_error' })
    const down = async () => {
      throw new TypeError('fetch failed')
    }
    await assert.rejects(webhookApi(() => 't', down, 'http://wa.test').list(), { status: 0, code: 'network' })
  })
})

describe('the texts', () => {
  beforeEach(() => speak('en'))

  test('events typed with commas or spaces; none is every event', () => {
    assert.deepEqual(parseEvents(' new_message,message_ack  chat_update, new_message ,'), ['new_message', 'message_ack', 'chat_update'])
    assert.equal(parseEvents('  , '), null)
  })

  test('the filters in a few words', () => {
    assert.equal(filterSummary({ events: null, sessions: null, chatTypes: null }), 'All events')
    assert.equal(filterSummary({ events: ['new_message', 'message_ack'], sessions: ['sales'], chatTypes: ['direct'] }), 'new_message, message_ack · number sales · direct chats')
    assert.equal(filterSummary({ events: null, sessions: ['a', 'b'], chatTypes: ['direct', 'group'] }), 'All events · numbers a, b · direct and group chats')
  })

  test('durations and times ago', () => {
    assert.equal(duration(null), '—')
    assert.equal(duration(4.4), '4 s')
    assert.equal(duration(125), '2 min')
    assert.equal(duration(3 * 3600 + 5 * 60), '3 h 5 min')
    assert.equal(duration(2 * 86400 + 7200), '2 d 2 h')
    const now = Date.parse('2026-12-06T12:00:00.000Z')
    assert.equal(ago(null, now), 'never')
    assert.equal(ago('2026-12-06T11:59:48.000Z', now), '12 s ago')
    assert.equal(ago('not a time', now), 'not a time')
  })

  test('in pt-BR', () => {
    speak('pt-BR')
    assert.equal(filterSummary({ events: null, sessions: ['sales'], chatTypes: ['direct', 'group'] }), 'Todos os eventos · número sales · conversas diretas e em grupo')
    assert.equal(filterSummary({ events: null, sessions: ['a', 'b'], chatTypes: ['group'] }), 'Todos os eventos · números a, b · conversas em grupo')
    const now = Date.parse('2026-12-06T12:00:00.000Z')
    assert.equal(ago(null, now), 'nunca')
    assert.equal(ago('2026-12-06T08:55:00.000Z', now), 'há 3 h 5 min')
  })
})

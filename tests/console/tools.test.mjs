/**
 * The console's helpdesk tools without a browser: the client's calls for them (the routes,
 * methods and bodies the server's contract names) and the quick replies' and the search's pure
 * parts (which word is a query, what matches, placeholders, marks). The browser side is
 * tests/browser/test_helpdesk_tools.py.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { fillPlaceholders, fold, matchQuickReplies, slashQuery } from '../../orchestrator/static/quick-replies.js'
import { markMatches } from '../../orchestrator/static/search-ui.js'
import { WaClient, WaError } from '../../orchestrator/static/wa-client.js'

/** A client whose fetch records each request and answers `answer(method, path, body)`. @param {(method: string, path: string, body: any) => [number, any]} answer */
function recording(answer) {
  /** @type {{method: string, path: string, body: any}[]} */
  const requests = []
  /** @param {string} url @param {RequestInit} [init] */
  const fetch = async (url, init = {}) => {
    const { pathname, search } = new URL(url)
    const body = init.body ? JSON.parse(String(init.body)) : undefined
    const method = init.method ?? 'GET'
    requests.push({ method, path: pathname + search, body })
    const [status, payload] = answer(method, pathname + search, body)
    return new Response(payload === undefined ? null : JSON.stringify(payload), { status, headers: { 'Content-Type': 'application/json' } })
  }
  return { client: new WaClient({ baseUrl: 'http://wa.test', token: 't', fetch }), requests }
}

describe('the client', () => {
  test('search: q, chatId, limit and offset in the query; a session scope on its routes', async () => {
    const { client, requests } = recording(() => [200, { messages: [], nextOffset: 20 }])
    assert.deepEqual(await client.search('pedido #12', { limit: 20 }), { messages: [], nextOffset: 20 })
    await client.session('sales').search('olá', { chatId: '5511@s.whatsapp.net', offset: 20 })
    assert.deepEqual(requests.map((r) => r.path), [
      '/search?q=pedido+%2312&limit=20',
      '/sessions/sales/search?q=ol%C3%A1&chatId=5511%40s.whatsapp.net&offset=20',
    ])
  })

  test('message: one message by chat and id; a 404 is a WaError unknown_message', async () => {
    const { client, requests } = recording((_, path) => path.endsWith('/NOPE')
      ? [404, { error: { code: 'unknown_message', message: 'no message NOPE' } }]
      : [200, { id: '3EB0', chatId: 'a@g.us', text: 'hi' }])
    assert.equal((await client.message('a@g.us', '3EB0')).text, 'hi')
    await assert.rejects(client.message('a@g.us', 'NOPE'), (err) => err instanceof WaError && err.status === 404 && err.code === 'unknown_message')
    assert.deepEqual(requests.map((r) => r.path), ['/chats/a%40g.us/messages/3EB0', '/chats/a%40g.us/messages/NOPE'])
  })

  test('settings: GET, and PUT of the whole document', async () => {
    const doc = { businessHours: { enabled: true, timezone: 'UTC', week: {} }, awayMessage: { enabled: false, text: '' }, greeting: { enabled: false, text: '' }, assignment: { rule: 'none' } }
    const { client, requests } = recording((method, _, body) => [200, method === 'PUT' ? body : doc])
    assert.deepEqual(await client.settings(), doc)
    assert.deepEqual(await client.session('sales').saveSettings(/** @type {any} */ (doc)), doc)
    assert.deepEqual(requests.map((r) => [r.method, r.path, r.body]), [['GET', '/settings', undefined], ['PUT', '/sessions/sales/settings', doc]])
  })

  test('quick replies: list, create (POST), edit (PUT by id), delete', async () => {
    const { client, requests } = recording((method, path, body) => {
      if (method === 'GET') return [200, { quickReplies: [{ id: 1, shortcut: 'oi', body: 'Olá' }] }]
      if (method === 'DELETE') return [204, undefined]
      return [method === 'POST' ? 201 : 200, { id: path.endsWith('/7') ? 7 : 8, ...body }]
    })
    assert.deepEqual(await client.quickReplies(), [{ id: 1, shortcut: 'oi', body: 'Olá' }])
    assert.equal((await client.saveQuickReply({ shortcut: 'a', body: 'b' })).id, 8)
    assert.equal((await client.saveQuickReply({ id: 7, shortcut: 'a', body: 'c' })).id, 7)
    await client.deleteQuickReply(7)
    assert.deepEqual(requests.map((r) => [r.method, r.path, r.body]), [
      ['GET', '/quick-replies', undefined],
      ['POST', '/quick-replies', { shortcut: 'a', body: 'b' }],
      ['PUT', '/quick-replies/7', { shortcut: 'a', body: 'c' }],
      ['DELETE', '/quick-replies/7', undefined],
    ])
  })
})

describe('quick replies', () => {
  test('a query is a word that starts with / up to the caret', () => {
    assert.deepEqual(slashQuery('/than', 5), { start: 0, query: 'than' })
    assert.deepEqual(slashQuery('Oi! /', 5), { start: 4, query: '' })
    assert.deepEqual(slashQuery('Oi!\n/pix agora', 8), { start: 4, query: 'pix' })
    assert.equal(slashQuery('see https://x.y/pix', 19), null)
    assert.equal(slashQuery('/pix agora', 10), null)
    assert.equal(slashQuery('a/b', 3), null)
  })

  const replies = [
    { id: 1, shortcut: 'thanks', body: 'Obrigado, {name}!' },
    { id: 2, shortcut: 'atenção', body: 'Um momento, por favor.' },
    { id: 3, shortcut: '/pix', body: 'Nossa chave Pix.' },
    { id: 4, shortcut: 'obrigado', body: 'De nada.' },
  ]
  test('matched by shortcut, then by text; case and accents ignored', () => {
    const shortcuts = (/** @type {string} */ q) => matchQuickReplies(replies, q).map((r) => r.shortcut)
    assert.deepEqual(shortcuts('ATENCAO'), ['atenção'])
    assert.deepEqual(shortcuts('obrigado'), ['obrigado', 'thanks'])
    assert.deepEqual(shortcuts('pix'), ['/pix'])
    assert.deepEqual(shortcuts('MOMENTO'), ['atenção'])
    assert.deepEqual(shortcuts(''), ['/pix', 'atenção', 'obrigado', 'thanks'])
    assert.deepEqual(shortcuts('zzz'), [])
    assert.equal(fold('Atenção Ünïcode'), 'atencao unicode')
  })

  test('{name} and {agent} are filled in, anything else is left as written', () => {
    assert.equal(fillPlaceholders('Oi {name}, aqui é {agent}. {agent}! {other}', { name: 'Ana', agent: 'Maria' }), 'Oi Ana, aqui é Maria. Maria! {other}')
    assert.equal(fillPlaceholders('{name}', { name: '$& $1', agent: '' }), '$& $1')
  })
})

describe('search marks', () => {
  test("the query's words are marked whatever the case and the accents", () => {
    assert.deepEqual(markMatches('Pedido #12345 não chegou', 'NAO 12345'), [['Pedido #', false], ['12345', true], [' ', false], ['não', true], [' chegou', false]])
    assert.deepEqual(markMatches('nothing here', 'order'), [['nothing here', false]])
    assert.deepEqual(markMatches('Order ORDER', 'order'), [['Order', true], [' ', false], ['ORDER', true]])
    assert.deepEqual(markMatches('abc', '  '), [['abc', false]])
  })
})

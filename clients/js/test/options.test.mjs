/**
 * The options for apps that are not the console (issue #17): getToken (short-lived stream
 * tokens, renewed on a 401 or a WebSocket close 4401 instead of stopping), wsUrl (the
 * WebSocket's own origin) and proxy (REST calls through the app's own server routes, without
 * the Authorization header). Against the fakes: the captured REST answers and a WebSocket and
 * an EventSource the test drives.
 */
import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'
import { WaClient, WaError } from '../dist/index.js'
import { FakeEventSource, FakeServer, FakeWebSocket, until } from './fakes.mjs'
import { after, fixture } from './helpers.mjs'

const demo = fixture('demo')
const BASE = 'http://wa.test'
const stream = after(demo.envelopes, demo.rest.snapshot.position)
const UNAUTHORIZED = JSON.stringify({ code: 'unauthorized', message: 'missing or wrong token' })

/** @type {WaClient[]} */
const clients = []
afterEach(() => {
  for (const c of clients.splice(0)) c.close()
  FakeWebSocket.opened = []
  FakeEventSource.opened = []
})

/**
 * A token provider like the example's /api/whatsapp/stream-token route: each call mints the
 * next token (`t1`, `t2`, ...), which the server then accepts.
 * @param {FakeServer} server
 */
function mint(server) {
  const provider = {
    calls: 0,
    /** @type {Error|null} a failure to reject with instead */
    failure: /** @type {Error|null} */ (null),
    getToken: async () => {
      provider.calls++
      await new Promise((resolve) => setTimeout(resolve, 1)) // a real round trip, not a sync answer
      if (provider.failure) throw provider.failure
      const token = `t${provider.calls}`
      server.tokens?.add(token)
      return token
    },
  }
  return provider
}

/** A client of the fake server with `options` (websocket, fast backoff, unless said). @param {FakeServer} server @param {Partial<import('../dist/index.js').WaClientOptions>} options */
function client(server, options) {
  const c = new WaClient({
    baseUrl: BASE, transport: 'websocket', fetch: server.fetch,
    WebSocket: /** @type {any} */ (FakeWebSocket), EventSource: /** @type {any} */ (FakeEventSource),
    backoffInitialMs: 2, backoffMaxMs: 10, ...options,
  })
  clients.push(c)
  return c
}

describe('getToken', () => {
  test('without a token, it is asked before connecting; REST and the stream carry its token', async () => {
    const server = new FakeServer()
    server.tokens = new Set()
    const provider = mint(server)
    const c = client(server, { getToken: provider.getToken })
    assert.equal(c.token, null)
    await c.connect()
    assert.equal(provider.calls, 1)
    assert.ok(server.requests.every((r) => r.authorization === 'Bearer t1'), 'every REST call with the token')
    const [ws] = FakeWebSocket.opened
    assert.equal(ws.url.searchParams.get('access_token'), 't1')
    ws.open()
    for (const envelope of stream.slice(0, 5)) ws.send(envelope)
    assert.equal(c.clientState().link, 'live')
  })

  test('a REST 401 (the token expired): one new token for concurrent calls, each call retried once, the link stays live', async () => {
    const server = new FakeServer()
    server.tokens = new Set(['first'])
    const provider = mint(server)
    const c = client(server, { token: 'first', getToken: provider.getToken })
    await c.connect()
    FakeWebSocket.opened[0].open()
    FakeWebSocket.opened[0].send(stream[0])
    server.tokens.delete('first') // it expires
    const chats = demo.rest.snapshot.chats.slice(0, 3).map((/** @type {any} */ chat) => chat.id)
    const pages = await Promise.all(chats.map((id) => c.messages(id)))
    assert.equal(provider.calls, 1, 'one getToken call for three refused requests')
    assert.equal(c.token, 't1')
    assert.ok(pages.every((page) => Array.isArray(page)))
    const retried = server.requests.filter((r) => r.path.includes('/messages'))
    assert.deepEqual(retried.map((r) => r.authorization).sort(), ['Bearer first', 'Bearer first', 'Bearer first', 'Bearer t1', 'Bearer t1', 'Bearer t1'])
    assert.equal(c.clientState().link, 'live')
    assert.equal(FakeWebSocket.opened.length, 1, 'the open stream goes on')
  })

  test('a WebSocket close 4401: reconnects at once with a new token from the same position', async () => {
    const server = new FakeServer()
    const provider = mint(server)
    const c = client(server, { token: 'first', getToken: provider.getToken })
    const links = /** @type {string[]} */ ([])
    c.on('client', (s) => links.push(s.link))
    await c.connect()
    const [ws] = FakeWebSocket.opened
    ws.open()
    for (const envelope of stream.slice(0, 8)) ws.send(envelope)
    ws.serverClose(4401, UNAUTHORIZED)
    await until(() => FakeWebSocket.opened.length === 2, 'a new WebSocket')
    const [, next] = FakeWebSocket.opened
    assert.equal(next.url.searchParams.get('access_token'), 't1')
    assert.equal(next.url.searchParams.get('lastEventId'), stream[7].id)
    assert.equal(provider.calls, 1)
    next.open()
    for (const envelope of stream.slice(8, 12)) next.send(envelope)
    assert.equal(c.lastEventId, stream[11].id)
    assert.ok(!links.includes('unauthorized'), links.join())
  })

  test('rejecting: link unauthorized, and connect() rejects with a WaError 401', async () => {
    const server = new FakeServer()
    const provider = mint(server)
    provider.failure = new Error('the session cookie expired')
    const c = client(server, { getToken: provider.getToken })
    await assert.rejects(c.connect(), (err) => err instanceof WaError && err.status === 401 && err.code === 'unauthorized')
    assert.equal(c.clientState().link, 'unauthorized')
    assert.match(String(c.clientState().error), /the session cookie expired/)
    assert.equal(server.requests.length, 0, 'nothing sent without a token')
  })

  test('rejecting after a 4401: link unauthorized, no reconnection', async () => {
    const server = new FakeServer()
    const provider = mint(server)
    const c = client(server, { token: 'first', getToken: provider.getToken })
    await c.connect()
    FakeWebSocket.opened[0].open()
    provider.failure = new Error('signed out')
    FakeWebSocket.opened[0].serverClose(4401, UNAUTHORIZED)
    await until(() => c.clientState().link === 'unauthorized', 'link unauthorized')
    assert.equal(FakeWebSocket.opened.length, 1)
    assert.match(String(c.clientState().error), /signed out/)
  })

  test('a token it gave that is refused before it ever worked stops the client: getToken is not called in a loop', async () => {
    const server = new FakeServer()
    server.tokens = new Set(['first']) // the provider's tokens are never accepted
    let calls = 0
    const c = client(server, { token: 'first', getToken: async () => `bad${++calls}` })
    await c.connect()
    server.tokens.delete('first')
    await assert.rejects(c.markRead(demo.rest.snapshot.chats[0].id), (err) => err instanceof WaError && err.status === 401)
    assert.equal(calls, 1)
    assert.equal(c.clientState().link, 'unauthorized')
    // And over the WebSocket: a 4401 on a fresh token that never worked is the end too.
    let wsCalls = 0
    const c2 = client(new FakeServer(), { token: 'first', getToken: async () => `fresh${++wsCalls}` })
    await c2.connect()
    const opened = FakeWebSocket.opened.length
    FakeWebSocket.opened[opened - 1].serverClose(4401, UNAUTHORIZED)
    await until(() => FakeWebSocket.opened.length === opened + 1, 'a reconnection with the new token')
    assert.equal(FakeWebSocket.opened[opened].url.searchParams.get('access_token'), 'fresh1')
    FakeWebSocket.opened[opened].serverClose(4401, UNAUTHORIZED)
    await until(() => c2.clientState().link === 'unauthorized', 'link unauthorized')
    assert.equal(wsCalls, 1)
    assert.equal(FakeWebSocket.opened.length, opened + 1)
  })

  test('SSE, which cannot see a 401: a failed stream whose token REST refuses gets a new token, not a fall back to polling', async () => {
    const server = new FakeServer()
    server.tokens = new Set(['first'])
    const provider = mint(server)
    const c = client(server, { token: 'first', getToken: provider.getToken, transport: 'sse', streamFailuresBeforePoll: 1 })
    await c.connect()
    const [es] = FakeEventSource.opened
    es.onopen()
    es.send(stream[0])
    server.tokens.delete('first') // it expires while the stream is open; the stream ends later
    es.onerror()
    await until(() => FakeEventSource.opened.length === 2, 'a new EventSource')
    FakeEventSource.opened[1].onerror() // refused: an EventSource sees only an error
    await until(() => FakeEventSource.opened.length === 3, 'a new EventSource')
    const next = FakeEventSource.opened[2]
    assert.equal(next.url.searchParams.get('access_token'), 't1')
    assert.equal(next.url.searchParams.get('lastEventId'), stream[0].id)
    next.onerror() // the new one fails right away (refused by a proxy, say), with a valid token
    await until(() => c.clientState().transport === 'poll', 'the long-poll fallback')
    assert.equal(provider.calls, 1, 'a token REST accepts is not renewed')
  })

  test('neither token nor getToken: a TypeError', () => {
    assert.throws(() => new WaClient(/** @type {any} */ ({ baseUrl: BASE })), TypeError)
  })
})

describe('wsUrl', () => {
  test('WebSockets go to wsUrl, REST to baseUrl', async () => {
    const server = new FakeServer()
    const c = client(server, { token: 'tok', wsUrl: 'wss://stream.example.com/' })
    await c.connect()
    const [ws] = FakeWebSocket.opened
    assert.equal(ws.url.origin, 'wss://stream.example.com')
    assert.equal(ws.url.pathname, '/ws')
    assert.equal(ws.url.searchParams.get('access_token'), 'tok')
    assert.ok(server.requests.every((r) => r.url.startsWith(`${BASE}/`)))
  })

  test('without it: baseUrl with http -> ws (https -> wss)', async () => {
    const server = new FakeServer()
    const c = client(server, { token: 'tok', baseUrl: 'https://api.example.com' })
    await c.connect()
    assert.equal(FakeWebSocket.opened[0].url.origin, 'wss://api.example.com')
  })
})

describe('proxy', () => {
  /**
   * The app's routes as the example maps them: the chat list, a chat's messages and sends go
   * to /api/whatsapp/... on the app's origin, the rest to the backend.
   * @param {string} path @param {string} method
   */
  function appRoutes(path, method) {
    const seen = /** @type {{path: string, method: string}[]} */ (appRoutes.seen)
    seen.push({ path, method })
    const messages = path.match(/^\/chats\/([^/?]+)\/messages(\?.*)?$/)
    if (messages) return `http://app.test/api/whatsapp/messages/${messages[1]}${messages[2] ?? ''}`
    if (path.startsWith('/chats?')) return `http://app.test/api/whatsapp/chats${path.slice('/chats'.length)}`
    if (path === '/send' && method === 'POST') return 'http://app.test/api/whatsapp/send'
    return undefined
  }
  appRoutes.seen = /** @type {{path: string, method: string}[]} */ ([])

  test('proxied calls go to the app without the token; the rest to the backend with it', async () => {
    appRoutes.seen = []
    const server = new FakeServer()
    server.override = (path, request) => {
      if (!request.url.startsWith('http://app.test/')) return null
      // The app's route adds its server-side token and asks the backend: here, the same answers.
      const backend = path.replace('/api/whatsapp/chats', '/chats').replace(/^\/api\/whatsapp\/messages\/([^?]+)/, '/chats/$1/messages').replace('/api/whatsapp/send', '/send')
      if (backend === '/send') return new Response(JSON.stringify(demo.rest.sends[0]), { status: 202 })
      return server.fetch(`${BASE}${backend}`, { headers: { Authorization: 'Bearer server-side' } })
    }
    const c = client(server, { token: 'stream-token', proxy: appRoutes })
    await c.connect()
    const chatId = demo.rest.sends[0].message.chatId
    const messages = await c.messages(chatId)
    assert.ok(messages.length > 0)
    const sent = await c.send({ chatId, text: 'hello' })
    assert.equal(sent.id, demo.rest.sends[0].message.id)
    const app = server.requests.filter((r) => r.url.startsWith('http://app.test/'))
    assert.deepEqual(app.map((r) => `${r.method} ${new URL(r.url).pathname}`), [
      'GET /api/whatsapp/chats',
      `GET /api/whatsapp/messages/${encodeURIComponent(chatId)}`,
      'POST /api/whatsapp/send',
    ])
    assert.ok(app.every((r) => r.authorization === null), 'no Authorization header to the app')
    const direct = server.requests.filter((r) => r.url.startsWith(`${BASE}/`) && r.authorization !== 'Bearer server-side')
    assert.deepEqual([...new Set(direct.map((r) => r.path.split('?')[0]))].sort(), ['/events/poll', '/status'])
    assert.ok(direct.every((r) => r.authorization === 'Bearer stream-token'))
    assert.ok(appRoutes.seen.some((s) => s.path === '/chats?limit=500' && s.method === 'GET'), 'the path with its query')
    assert.ok(appRoutes.seen.some((s) => s.path === `/chats/${encodeURIComponent(chatId)}/messages?limit=50` && s.method === 'GET'))
    assert.ok(appRoutes.seen.some((s) => s.path === '/send' && s.method === 'POST'))
    assert.equal(FakeWebSocket.opened[0].url.searchParams.get('access_token'), 'stream-token', 'the stream is not proxied')
  })

  test('with getToken and every snapshot call proxied, the stream still gets a token', async () => {
    const server = new FakeServer()
    const provider = mint(server)
    const c = client(server, { getToken: provider.getToken, proxy: (path) => `${BASE}${path}` })
    await c.connect()
    assert.ok(server.requests.every((r) => r.authorization === null), 'every REST call proxied')
    assert.equal(provider.calls, 1)
    assert.equal(FakeWebSocket.opened[0].url.searchParams.get('access_token'), 't1')
  })
})

/**
 * wa-client.js with sessions (several WhatsApp numbers), against a small real HTTP server this
 * test starts (node:http on a port the OS picks) that speaks the orchestrator's session API:
 * `/sessions/{id}/...` routes, `GET /events/poll?session=a,b` with composite positions, and an
 * event log that a "restart" rebuilds with the sessions interleaved differently. The client
 * long-polls (Node has no EventSource): the same positions and filters as its streams.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import { afterEach, describe, test } from 'node:test'
import { WaClient, WaError } from '../dist/wa-client.js'

const TOKEN = 'secret-token'
const JID = '5511900000001@s.whatsapp.net' // the same customer writes to both numbers

/** @param {string} session @param {string} chatId @param {number} ts @param {number} unreadCount */
function chat(session, chatId, ts, unreadCount) {
  return { id: chatId, name: `${session} ${chatId.slice(0, 4)}`, isGroup: false, unreadCount, timestamp: ts, lastMessage: null }
}

/** @param {string} chatId @param {string} id @param {number} ts @param {string} text */
function message(chatId, id, ts, text) {
  return { id, chatId, fromMe: false, timestamp: ts, type: 'text', text, ack: 1, status: 'delivered' }
}

/**
 * The orchestrator's side: per-session data, one event log of envelopes with `session`, and
 * the contract's resume rule (each session after its own id; a session not named from the
 * earliest named position).
 */
class SessionsServer {
  /** @param {{log?: any[], sessions?: Record<string, any>}} [from] a restart keeps the data */
  constructor(from = {}) {
    /** @type {Record<string, {name: string, status: any, chats: any[], pages: Record<string, any[]>, seq: number}>} */
    this.sessions = from.sessions ?? {
      a: { name: 'Sales', status: { connected: true, state: 'open' }, chats: [chat('a', JID, 100, 2), chat('a', '5511900000002@s.whatsapp.net', 90, 0)], pages: {}, seq: 0 },
      b: { name: 'Support', status: { connected: true, state: 'open' }, chats: [chat('b', JID, 95, 5)], pages: {}, seq: 0 },
    }
    /** @type {any[]} */
    this.log = from.log ?? []
    /** @type {{method: string, path: string, body: any}[]} */
    this.requests = []
    /** @type {Set<() => void>} */
    this.waiting = new Set()
    this.server = http.createServer((req, res) => void this.handle(req, res))
  }

  /** @param {number} [port] */
  async listen(port = 0) {
    await new Promise((resolve) => this.server.listen(port, '127.0.0.1', () => resolve(undefined)))
    const address = /** @type {import('node:net').AddressInfo} */ (this.server.address())
    this.port = address.port
    return `http://127.0.0.1:${address.port}`
  }

  async close() {
    for (const wake of this.waiting) wake()
    this.server.closeAllConnections()
    await new Promise((resolve) => this.server.close(() => resolve(undefined)))
  }

  /** Append an envelope of `session` (its epoch is the session's bridge's: `e<session>`). @param {string} session @param {string} type @param {any} data */
  emit(session, type, data) {
    const s = this.sessions[session]
    const envelope = { id: `e${session}:${++s.seq}:0`, type, session, data }
    this.log.push(envelope)
    for (const wake of this.waiting) wake()
    return envelope
  }

  /** The entries a poll from `since` gets, for the sessions of `filter`. @param {string} since @param {string[]} filter */
  after(since, filter) {
    const index = (/** @type {string} */ id) => this.log.findIndex((e) => e.id === id)
    const named = new Map(since.split(',').map((id) => [this.log[index(id)]?.session, index(id)]))
    const earliest = Math.min(...named.values())
    return this.log.filter((e, i) => filter.includes(e.session) && i > (named.get(e.session) ?? earliest))
  }

  /** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
  async handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://x')
    let raw = ''
    for await (const chunk of req) raw += chunk
    const body = raw ? JSON.parse(raw) : null
    this.requests.push({ method: req.method ?? 'GET', path: url.pathname + url.search, body })
    const json = (/** @type {any} */ payload, status = 200) => {
      res.writeHead(status, { 'Content-Type': 'application/json' })
      res.end(payload === null ? undefined : JSON.stringify(payload))
    }
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return json({ error: { code: 'unauthorized', message: 'no' } }, 401)
    const path = url.pathname
    if (path === '/health') return json({ status: 'ok' })
    if (path === '/events/poll') return this.poll(url, json)
    if (path === '/sessions' && req.method === 'GET') return json({ sessions: Object.entries(this.sessions).map(([id, s]) => this.info(id, s)) })
    if (path === '/sessions' && req.method === 'POST') {
      if (this.sessions[body.id]) return json({ error: { code: 'session_exists', message: `${body.id} exists` } }, 409)
      const s = (this.sessions[body.id] = { name: body.name ?? body.id, status: { connected: false, state: 'qr' }, chats: [], pages: {}, seq: 0 })
      return json(this.info(body.id, s), 201)
    }
    const scoped = path.match(/^\/sessions\/([^/]+)(\/.*)?$/)
    const s = scoped ? this.sessions[decodeURIComponent(scoped[1])] : undefined
    if (!scoped || !s) return json({ error: { code: 'session_not_found', message: path } }, 404)
    const id = decodeURIComponent(scoped[1])
    const route = scoped[2] ?? ''
    if (route === '' && req.method === 'DELETE') {
      this.emit(id, 'session_deleted', { sessionId: id, purged: url.searchParams.get('purge') === 'true' })
      delete this.sessions[id]
      return json(null, 204)
    }
    if (route === '/status') return json(s.status)
    if (route === '/chats') return json({ chats: s.chats })
    const messages = route.match(/^\/chats\/([^/]+)\/messages$/)
    if (messages) return json({ messages: s.pages[decodeURIComponent(messages[1])] ?? [] })
    if (route === '/send') {
      const sent = { ...message(body.chatId, `SENT-${id}-${s.seq}`, 200, body.text), fromMe: true, ack: 1, status: 'pending' }
      return json({ message: sent }, 202)
    }
    return json({ error: { code: 'not_found', message: path } }, 404)
  }

  /** @param {string} id @param {any} s */
  info(id, s) {
    const unread = s.chats.reduce((/** @type {number} */ n, /** @type {any} */ c) => n + c.unreadCount, 0)
    return { id, name: s.name, connected: s.status.connected, state: s.status.state, me: null, bridge: { alive: true, spawned: false }, proxy: null, unread }
  }

  /** @param {URL} url @param {(payload: any, status?: number) => void} json */
  async poll(url, json) {
    const filter = url.searchParams.get('session')?.split(',') ?? Object.keys(this.sessions)
    const since = url.searchParams.get('since')
    if (since === null) {
      // The head of each session read: its last id (a composite for several, as the server's).
      const heads = filter.map((id) => this.log.findLast((e) => e.session === id)?.id).filter(Boolean)
      return json({ events: [], lastEventId: heads.length ? heads.join(',') : null })
    }
    const deadline = Date.now() + Number(url.searchParams.get('timeout') ?? 0) * 1000
    for (;;) {
      const events = this.after(since, filter)
      if (events.length > 0 || Date.now() >= deadline || !this.server.listening) return json({ events, lastEventId: events.at(-1)?.id ?? since })
      await new Promise((resolve) => {
        const wake = () => {
          this.waiting.delete(wake)
          clearTimeout(timer)
          resolve(undefined)
        }
        const timer = setTimeout(wake, deadline - Date.now())
        this.waiting.add(wake)
      })
    }
  }

  /** @param {string} prefix */
  paths(prefix) {
    return this.requests.map((r) => r.path).filter((p) => p.startsWith(prefix))
  }
}

/** @param {() => unknown} predicate @param {string} what */
async function until(predicate, what, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 5))
  }
}

/** @type {(() => Promise<void>|void)[]} */
const cleanup = []
afterEach(async () => {
  for (const fn of cleanup.splice(0).reverse()) await fn()
})

/** A server, and a client of `options` connected to it over long-polls. @param {Partial<import('../dist/wa-client.js').WaClientOptions>} [options] @param {SessionsServer} [server] */
async function connected(options = {}, server = new SessionsServer()) {
  const baseUrl = await server.listen()
  cleanup.push(() => server.close())
  const client = new WaClient({ baseUrl, token: TOKEN, streamFailuresBeforePoll: 0, pollTimeout: 1, backoffInitialMs: 5, backoffMaxMs: 20, ...options })
  cleanup.push(() => client.close())
  /** @type {any[]} */
  const applied = []
  client.subscribe((e) => {
    if (e.envelope) applied.push(e.envelope)
  })
  await client.connect()
  return { server, client, applied }
}

describe('two sessions on one client', () => {
  test('snapshots of each session on its own routes; the same jid on two numbers is two chats', async () => {
    const { server, client } = await connected({ sessions: ['a', 'b'] })
    assert.deepEqual(server.paths('/events/poll').slice(0, 2).sort(), ['/events/poll?session=a', '/events/poll?session=b'], "each session's position")
    for (const id of ['a', 'b']) assert.ok(server.paths(`/sessions/${id}/`).includes(`/sessions/${id}/status`), id)
    assert.deepEqual(server.paths('/status').concat(server.paths('/chats')), [], 'no unscoped route')
    const all = client.allChats()
    assert.deepEqual(all.map((c) => [c.session, c.id]), [['a', JID], ['b', JID], ['a', '5511900000002@s.whatsapp.net']])
    assert.equal(client.session('a').chat(JID)?.unreadCount, 2)
    assert.equal(client.session('b').chat(JID)?.unreadCount, 5)
    assert.deepEqual([client.unread('a'), client.unread('b')], [2, 5])
    assert.equal(client.chats().length, 0, 'the client has no own session: the default one, not followed')
  })

  test("each envelope lands in its session; unread per session follows chat_update; the position names both", async () => {
    const { server, client } = await connected({ sessions: ['a', 'b'] })
    await until(() => server.paths('/events/poll?since=').length > 0, 'the first poll')
    server.emit('a', 'new_message', message(JID, 'A1', 101, 'to sales'))
    const b1 = server.emit('b', 'chat_update', { ...chat('b', JID, 102, 6), lastMessage: message(JID, 'B1', 102, 'to support') })
    const a2 = server.emit('a', 'chat_update', { id: JID, unreadCount: 0 })
    await until(() => client.lastEventId === `${a2.id},${b1.id}`, 'the composite position')
    assert.deepEqual([client.unread('a'), client.unread('b')], [0, 6])
    assert.equal(client.session('a').chat(JID)?.lastMessage?.id, 'A1')
    assert.equal(client.session('b').chat(JID)?.lastMessage?.id, 'B1')
    // The next poll resumes each session after its own id.
    await until(() => server.paths(`/events/poll?since=${encodeURIComponent(`${a2.id},${b1.id}`)}`).length > 0, 'a poll from the composite')
    assert.ok(server.paths('/events/poll?since=').every((p) => p.endsWith('&session=a,b')))
  })

  test("a session's calls go to its routes; a sent message is in that session's cache only", async () => {
    const { server, client } = await connected({ sessions: ['a', 'b'] })
    server.sessions.b.pages[JID] = [message(JID, 'B0', 90, 'earlier')]
    const b = client.session('b')
    assert.equal(client.session('b'), b, 'one view per session')
    assert.deepEqual((await b.messages(JID)).map((m) => m.id), ['B0'])
    const sent = await b.send({ chatId: JID, text: 'hello from support' })
    assert.deepEqual(server.requests.filter((r) => r.method === 'POST').map((r) => [r.path, r.body]), [['/sessions/b/send', { chatId: JID, text: 'hello from support' }]])
    assert.deepEqual(b.cachedMessages(JID).map((m) => m.id), ['B0', sent.id])
    assert.deepEqual(client.session('a').cachedMessages(JID), [], "not in a's chat with the same jid")
  })

  test('after an orchestrator restart, whose log interleaves the sessions differently, the client resumes exactly', async () => {
    const first = new SessionsServer()
    const { client, applied } = await connected({ sessions: ['a', 'b'] }, first)
    // a1 b1 a2 b2 a3 b3 in the first run's log.
    for (let i = 1; i <= 3; i++) {
      first.emit('a', 'new_message', message(JID, `A${i}`, 100 + i, `a${i}`))
      first.emit('b', 'new_message', message(JID, `B${i}`, 100 + i, `b${i}`))
    }
    await until(() => applied.length === 6, 'six envelopes')
    // The client saw a1..a3 and b1..b3; while the server is down, a4 and b4 happen.
    await first.close()
    const byId = new Map(first.log.map((e) => [e.id, e]))
    const a4 = { id: 'ea:4:0', type: 'new_message', session: 'a', data: message(JID, 'A4', 104, 'a4') }
    const b4 = { id: 'eb:4:0', type: 'new_message', session: 'b', data: message(JID, 'B4', 104, 'b4') }
    // The restarted orchestrator rebuilds its log per session: b's entries first, then a's.
    const rebuilt = ['eb:1:0', 'eb:2:0', 'eb:3:0'].map((id) => byId.get(id)).concat([b4], ['ea:1:0', 'ea:2:0', 'ea:3:0'].map((id) => byId.get(id)), [a4])
    const second = new SessionsServer({ log: rebuilt, sessions: first.sessions })
    await second.listen(first.port)
    cleanup.push(() => second.close())
    await until(() => applied.length === 8, 'the two envelopes of the outage')
    assert.deepEqual(applied.map((e) => e.id), ['ea:1:0', 'eb:1:0', 'ea:2:0', 'eb:2:0', 'ea:3:0', 'eb:3:0', 'eb:4:0', 'ea:4:0'])
    // A single id (the last one seen, eb:3:0) would have replayed a1..a3 from the rebuilt log:
    // the composite asked for exactly what was missing.
    assert.ok(second.paths('/events/poll?since=').some((p) => p.startsWith(`/events/poll?since=${encodeURIComponent('ea:3:0,eb:3:0')}`)))
    assert.deepEqual(second.after('eb:3:0', ['a', 'b']).map((e) => e.id), ['eb:4:0', 'ea:1:0', 'ea:2:0', 'ea:3:0', 'ea:4:0'])
    assert.equal(client.lastEventId, 'ea:4:0,eb:4:0')
  })

  test('session_deleted: the session leaves the cache and the filter, and the client says so', async () => {
    const { server, client } = await connected({ sessions: ['a', 'b'] })
    /** @type {any[]} */
    const deleted = []
    client.on('session_deleted', (data) => deleted.push(data))
    await client.deleteSession('b', { purge: true })
    assert.ok(server.requests.some((r) => r.method === 'DELETE' && r.path === '/sessions/b?purge=true'))
    await until(() => deleted.length === 1, 'session_deleted')
    assert.deepEqual(deleted, [{ sessionId: 'b', purged: true }])
    assert.deepEqual(client.allChats().map((c) => c.session), ['a', 'a'])
    assert.deepEqual(client.following, ['a'])
    await until(() => server.paths('/events/poll?since=').at(-1)?.endsWith('&session=a'), 'a poll for a alone')
  })
})

describe('the session API', () => {
  test('sessions(), createSession() and its refusal as a WaError with the code', async () => {
    const { client } = await connected({ sessions: ['a'] })
    assert.deepEqual((await client.sessions()).map((s) => [s.id, s.name, s.unread]), [['a', 'Sales', 2], ['b', 'Support', 5]])
    const created = await client.createSession({ id: 'north', name: 'North' })
    assert.deepEqual([created.id, created.name, created.state], ['north', 'North', 'qr'])
    await assert.rejects(client.createSession({ id: 'north' }), (err) => err instanceof WaError && err.status === 409 && err.code === 'session_exists')
  })

  test('a client with `session` keeps its own calls on that session, and streams it alone', async () => {
    const { server, client } = await connected({ session: 'b' })
    assert.deepEqual(server.paths('/events/poll')[0], '/events/poll?session=b')
    assert.deepEqual(client.chats().map((c) => c.id), [JID])
    assert.equal(client.chat(JID)?.unreadCount, 5)
    await client.markRead(JID).catch(() => null)
    assert.ok(server.requests.some((r) => r.method === 'POST' && r.path === `/sessions/b/chats/${encodeURIComponent(JID)}/read`))
  })
})

describe('a session quiet since the snapshot', () => {
  test("keeps the server's id for it: after a restart it resumes from its own id, not another's", async () => {
    const first = new SessionsServer()
    first.emit('a', 'new_message', message(JID, 'A1', 101, 'a1'))
    first.emit('b', 'new_message', message(JID, 'B1', 101, 'b1'))
    const { client, applied } = await connected({ sessions: ['a', 'b'] }, first)
    assert.equal(client.lastEventId, 'ea:1:0,eb:1:0', "each session's head, from its own poll")
    first.emit('a', 'new_message', message(JID, 'A2', 102, 'a2'))
    await until(() => applied.length === 1, "a's envelope")
    assert.equal(client.lastEventId, 'ea:2:0,eb:1:0', 'b, quiet, keeps its id')
    await first.close()
    // b2 happens during the outage; the rebuilt log puts b's entries before a's.
    const byId = new Map(first.log.map((e) => [e.id, e]))
    const b2 = { id: 'eb:2:0', type: 'new_message', session: 'b', data: message(JID, 'B2', 103, 'b2') }
    const second = new SessionsServer({ log: [byId.get('eb:1:0'), b2, byId.get('ea:1:0'), byId.get('ea:2:0')], sessions: first.sessions })
    await second.listen(first.port)
    cleanup.push(() => second.close())
    await until(() => applied.length === 2, 'b2')
    assert.deepEqual(applied.map((e) => e.id), ['ea:2:0', 'eb:2:0'])
    // With a's id alone, b would have resumed from a's place in the new log: after b2.
    assert.deepEqual(second.after('ea:2:0', ['a', 'b']), [])
  })
})

describe('resync across sessions', () => {
  test("one resync per session: each sets its session's position, the snapshots are reloaded", async () => {
    const { server, client } = await connected({ sessions: ['a', 'b'] })
    await until(() => server.paths('/events/poll?since=').length > 0, 'the first poll')
    server.emit('a', 'new_message', message(JID, 'A1', 101, 'a1'))
    await until(() => client.lastEventId === 'ea:1:0', 'a position')
    const before = server.paths('/sessions/b/status').length
    server.emit('a', 'resync', { reason: 'position_not_retained' })
    server.emit('b', 'resync', { reason: 'position_not_retained' })
    await until(() => client.lastEventId === 'ea:2:0,eb:1:0', 'a position per session from the resyncs')
    await until(() => server.paths('/sessions/b/status').length > before, 'the snapshots reloaded')
  })
})

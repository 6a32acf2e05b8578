/**
 * wa-client.js, the connection state machine around the cache, against a fake server: the
 * REST answers captured from a real run (capture.py), and a WebSocket and an EventSource that
 * the test drives (frames, closes with the server's codes).
 */
import assert from 'node:assert/strict'
import { afterEach, describe, test } from 'node:test'
import { WaClient, WaError } from '../dist/wa-client.js'
import { FakeEventSource, FakeServer, FakeWebSocket, until } from './fakes.mjs'
import { after, fixture } from './helpers.mjs'

const demo = fixture('demo')
const BASE = 'http://wa.test'
const TOKEN = 'secret-token'

/** @type {WaClient[]} */
const clients = []
afterEach(() => {
  for (const c of clients.splice(0)) c.close()
  FakeWebSocket.opened = []
  FakeEventSource.opened = []
})

/** A connected client and its server; `transport` websocket unless said. @param {Partial<import('../dist/wa-client.js').WaClientOptions>} [options] */
async function connected(options = {}) {
  const server = new FakeServer()
  const client = new WaClient({
    baseUrl: BASE, token: TOKEN, transport: 'websocket', fetch: server.fetch,
    WebSocket: /** @type {any} */ (FakeWebSocket), EventSource: /** @type {any} */ (FakeEventSource),
    backoffInitialMs: 2, backoffMaxMs: 10, ...options,
  })
  clients.push(client)
  await client.connect()
  return { server, client }
}

const stream = after(demo.envelopes, demo.rest.snapshot.position)

describe('connecting', () => {
  test('position first, then the snapshots, then the stream from that position; the token only where headers cannot go', async () => {
    const { server, client } = await connected()
    assert.deepEqual(server.requests.map((r) => r.path).slice(0, 3).sort(), ['/chats?limit=500', '/events/poll', '/status'])
    assert.equal(server.requests[0].path, '/events/poll')
    assert.ok(server.requests.every((r) => r.authorization === `Bearer ${TOKEN}`))
    const [ws] = FakeWebSocket.opened
    assert.equal(ws.url.pathname, '/ws')
    assert.equal(ws.url.searchParams.get('lastEventId'), demo.rest.snapshot.position)
    assert.equal(ws.url.searchParams.get('access_token'), TOKEN)
    ws.open()
    for (const envelope of stream) ws.send(envelope)
    assert.equal(client.lastEventId, stream.at(-1).id)
    assert.equal(client.clientState().link, 'live')
    assert.deepEqual(client.chats().map((c) => c.id), demo.rest.final.chats.map((/** @type {any} */ c) => c.id))
  })
})

describe('WebSocket closes', () => {
  test('1012 (the server restarts): an ordinary reconnect that resumes exactly', async () => {
    const { server } = await connected()
    const [ws] = FakeWebSocket.opened
    ws.open()
    for (const envelope of stream.slice(0, 10)) ws.send(envelope)
    ws.serverClose(1012, JSON.stringify({ code: 'shutdown', message: 'the server is restarting' }))
    await until(() => FakeWebSocket.opened.length === 2, 'a new WebSocket')
    assert.equal(FakeWebSocket.opened[1].url.searchParams.get('lastEventId'), stream[9].id)
    assert.equal(server.count('/health'), 0, 'a close the server chose is not a blocked stream')
  })

  test('4401: the token was refused, no reconnection', async () => {
    const { client } = await connected()
    const states = /** @type {string[]} */ ([])
    client.on('client', (s) => states.push(s.link))
    FakeWebSocket.opened[0].open()
    FakeWebSocket.opened[0].serverClose(4401, JSON.stringify({ code: 'unauthorized', message: 'missing or wrong token' }))
    await new Promise((resolve) => setTimeout(resolve, 30))
    assert.equal(client.clientState().link, 'unauthorized')
    assert.deepEqual(states, ['unauthorized'])
    assert.equal(FakeWebSocket.opened.length, 1)
  })

  test('4400: the position is dropped, and the client starts over from a new one with fresh snapshots', async () => {
    const { server, client } = await connected()
    const [ws] = FakeWebSocket.opened
    client.lastEventId = 'not-a-position'
    const before = server.requests.length
    server.position = stream[20].id
    server.chats = demo.rest.final.chats
    let snapshots = 0
    client.on('snapshot', () => snapshots++)
    ws.open()
    ws.serverClose(4400, JSON.stringify({ code: 'bad_event_id', message: 'not a stream position' }))
    await until(() => FakeWebSocket.opened.length === 2, 'a new WebSocket')
    const paths = server.requests.slice(before).map((r) => r.path)
    assert.equal(paths[0], '/events/poll', 'a new position first')
    assert.ok(paths.includes('/status') && paths.includes('/chats?limit=500'))
    assert.ok(!paths.includes('/health'))
    assert.equal(snapshots, 1)
    assert.equal(FakeWebSocket.opened[1].url.searchParams.get('lastEventId'), stream[20].id)
    assert.equal(client.chats().length, demo.rest.final.chats.length)
  })

  for (const [code, word] of [[4403, 'forbidden'], [4404, 'chat_not_found'], [4429, 'too_many_failures']]) {
    test(`${code}: a failure with backoff, said in the state, never a reason to poll`, async () => {
      const { server, client } = await connected({ streamFailuresBeforePoll: 1 })
      const errors = /** @type {(string|null)[]} */ ([])
      client.on('client', (s) => errors.push(s.error))
      for (let i = 0; i < 3; i++) {
        await until(() => FakeWebSocket.opened.length === i + 1, `WebSocket ${i + 1}`)
        FakeWebSocket.opened[i].open()
        FakeWebSocket.opened[i].serverClose(Number(code), JSON.stringify({ code: word, message: 'refused' }))
      }
      await until(() => FakeWebSocket.opened.length === 4, 'a fourth WebSocket')
      assert.ok(errors.includes(`${word}: refused`), JSON.stringify(errors))
      assert.equal(client.clientState().transport, null, 'not polling')
      assert.equal(client.clientState().blockedStreams, 0)
      assert.ok(client.clientState().attempt >= 3, 'backing off')
      assert.equal(server.count('/health'), 0)
    })
  }

  test('a close that did not come from the server (1006) before anything arrived may be a blocked stream', async () => {
    const { server } = await connected()
    FakeWebSocket.opened[0].serverClose(1006)
    await until(() => server.count('/health') === 1, 'a /health probe')
  })
})

describe('SSE', () => {
  test("the server's end after a retry: hint is an ordinary reconnect that resumes exactly", async () => {
    await connected({ transport: 'sse' })
    const [es] = FakeEventSource.opened
    assert.equal(es.url.pathname, '/events')
    es.onopen()
    for (const envelope of stream.slice(0, 5)) es.send(envelope)
    es.onerror() // EventSource's view of the stream ending
    assert.equal(es.closed, true, 'never EventSource reconnecting by itself')
    await until(() => FakeEventSource.opened.length === 2, 'a new EventSource')
    assert.equal(FakeEventSource.opened[1].url.searchParams.get('lastEventId'), stream[4].id)
  })
})

describe('long-poll', () => {
  test('a position refused with 400 bad_event_id starts over too', async () => {
    const { server, client } = await connected({ streamFailuresBeforePoll: 1, pollTimeout: 0 })
    let refused = 0
    server.override = (path) => {
      if (path.startsWith('/events/poll?since=bad')) {
        refused++
        return new Response(JSON.stringify({ error: { code: 'bad_event_id', message: 'not a stream position' } }), { status: 400 })
      }
      if (path.startsWith('/events/poll?since=')) {
        // A long-poll that times out with nothing new.
        const since = new URL(`http://x${path}`).searchParams.get('since')
        return new Promise((resolve) => setTimeout(() => resolve(new Response(JSON.stringify({ events: [], lastEventId: since }))), 5))
      }
      return null
    }
    client.lastEventId = 'bad'
    FakeWebSocket.opened[0].serverClose(1006) // reachable: blocked, so it polls
    await until(() => refused === 1, 'the refused poll')
    await until(() => server.requests.some((r, i) => i > 0 && r.path === '/events/poll'), 'a new position')
    await until(() => client.lastEventId === server.position, 'the new position')
  })
})

describe('media and QR never put the token in a URL', () => {
  test('mediaUrl is the base URL and the signed path, as the server gave it', () => {
    const client = new WaClient({ baseUrl: BASE, token: TOKEN, fetch: new FakeServer().fetch })
    const url = '/media/5511900000042%40s.whatsapp.net/3EB0ABC?exp=1767229200&sig=0a1b2c'
    assert.equal(client.mediaUrl(/** @type {any} */ ({ media: { url } })), `${BASE}${url}`)
    assert.equal(client.mediaUrl(/** @type {any} */ ({ media: { url: null } })), null)
    assert.equal(client.mediaUrl(/** @type {any} */ ({ media: null })), null)
    assert.equal('qrImageUrl' in client, false)
  })

  test('qrImage fetches the SVG with the token in a header; null when there is none', async () => {
    const server = new FakeServer()
    const client = new WaClient({ baseUrl: BASE, token: TOKEN, fetch: server.fetch })
    assert.equal(await client.qrImage(), null)
    server.qr = '2@first-qr-code'
    const blob = await client.qrImage()
    assert.ok(blob)
    assert.equal(blob.type, 'image/svg+xml')
    assert.match(await blob.text(), /first-qr-code/)
    assert.ok(server.requests.every((r) => r.path === '/qr.svg' && r.authorization === `Bearer ${TOKEN}`))
  })

  test('a refused token on the QR image is a WaError, and stops the client', async () => {
    const server = new FakeServer()
    server.override = () => new Response(JSON.stringify({ error: { code: 'unauthorized', message: 'no' } }), { status: 401 })
    const client = new WaClient({ baseUrl: BASE, token: TOKEN, fetch: server.fetch })
    await assert.rejects(client.qrImage(), (err) => err instanceof WaError && err.status === 401)
    assert.equal(client.clientState().link, 'unauthorized')
  })
})

describe('sending', () => {
  test('an answer held back until the stream brought the photo resolves to the stream copy', async () => {
    const { server, client } = await connected()
    const [, photo] = demo.rest.sends
    await client.messages(photo.message.chatId)
    /** @type {(r: Response) => void} */
    let answer = () => {}
    server.override = (path) => (path === '/send' ? /** @type {any} */ (new Promise((resolve) => (answer = resolve))) : null)
    const sending = client.send({ chatId: photo.message.chatId, media: { type: 'image', base64: 'AA==' } })
    const [ws] = FakeWebSocket.opened
    ws.open()
    for (const envelope of stream.slice(0, stream.findIndex((e) => e.type === 'message_ack' && e.data.messageId === photo.message.id) + 1)) ws.send(envelope)
    answer(new Response(JSON.stringify(photo), { status: 202 }))
    const sent = await sending
    assert.ok(sent.media?.url)
    assert.equal(sent.ack, 2)
    assert.deepEqual(client.cachedMessages(photo.message.chatId).filter((m) => m.id === photo.message.id), [sent])
  })
})

/**
 * The live path against a local WebSocket server (never WhatsApp's): the real Baileys
 * socket connects to BRIDGE_WA_URL, the server hangs up, and the bridge must publish the
 * close with a numeric Boom statusCode, stay alive, and not reconnect on its own.
 */
import assert from 'node:assert/strict'
import http from 'node:http'
import path from 'node:path'
import { test } from 'node:test'
import { WebSocketServer } from 'ws'
import zmq from 'zeromq'
import { collect, commandClient, sleep, spawnBridge, tmpDir } from './helpers.js'

/**
 * A bridge aimed at the local server on `port`, its events subscribed (a heartbeat has
 * arrived, so the subscription is live) and its commands ready. It connects on command, not at
 * boot, so the subscriber is in place first.
 * @param {import('node:test').TestContext} t @param {string} dir @param {number} port
 * @param {Record<string, string>} [extra]
 */
async function liveBridge(t, dir, port, extra = {}) {
  const env = {
    BRIDGE_PUB: `ipc://${path.join(dir, 'pub')}`,
    BRIDGE_ROUTER: `ipc://${path.join(dir, 'router')}`,
    BRIDGE_DATA_DIR: path.join(dir, 'data'),
    BRIDGE_WA_URL: `ws://127.0.0.1:${port}/ws/chat`,
    BRIDGE_AUTO_CONNECT: 'false',
    ...extra,
  }
  const sub = new zmq.Subscriber({ receiveTimeout: 200 })
  sub.connect(env.BRIDGE_PUB)
  sub.subscribe()
  const client = commandClient(env.BRIDGE_ROUTER)
  const bridge = spawnBridge(env)
  t.after(() => {
    sub.close()
    client.close()
    bridge.child.kill('SIGKILL')
  })
  await client.waitReady()
  await collect(sub, (e) => e.event === 'bridge.heartbeat', { heartbeats: true, timeoutMs: 5000 })
  return { sub, client, bridge }
}

test('connection.update close carries lastDisconnect.error.$error.statusCode; the bridge stays up', async (t) => {
  const dir = tmpDir(t)
  let connections = 0
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0 })
  wss.on('connection', (ws) => {
    connections += 1
    ws.close() // accept, then hang up before any Noise handshake
  })
  await new Promise((resolve) => wss.on('listening', resolve))
  t.after(() => wss.close())
  const port = /** @type {import('node:net').AddressInfo} */ (wss.address()).port

  const { sub, client, bridge } = await liveBridge(t, dir, port, { BRIDGE_RECORD: path.join(dir, 'rec.jsonl') })

  assert.equal((await client.call('sendMessage', ['1@s.whatsapp.net', { text: 'x' }])).error.code, 'not_connected')
  const conn = await client.call('connect')
  assert.deepEqual(conn.result, { already: false })
  const events = await collect(sub, (e) => e.event === 'connection.update' && e.data.connection === 'close', { timeoutMs: 15000 })
  const close = /** @type {any} */ (events.at(-1))
  const err = close.data.lastDisconnect.error.$error
  assert.equal(typeof err.statusCode, 'number', JSON.stringify(close.data))
  assert.equal(err.statusCode, 428) // Baileys' DisconnectReason.connectionClosed
  assert.equal(typeof err.message, 'string')
  assert.ok(connections >= 1)

  // Still alive, state says close, and no reconnect by itself.
  const st = await client.call('state')
  assert.equal(st.result.connection, 'close')
  assert.equal(st.result.mode, 'live')
  await sleep(500)
  assert.equal(connections, 1, 'the bridge must not reconnect on its own')
  // The orchestrator's `connect` opens a new socket.
  assert.deepEqual((await client.call('connect')).result, { already: false })
  await collect(sub, (e) => e.event === 'connection.update' && e.data.connection === 'close', { timeoutMs: 15000 })
  assert.equal(connections, 2)
  assert.equal((await client.call('state')).ok, true)

  const stopped = await bridge.stop()
  assert.equal(stopped.code, 0, bridge.output())
})

test('a refused handshake (HTTP 403) closes at once with that status, not at the connect timeout', async (t) => {
  const dir = tmpDir(t)
  const server = http.createServer()
  server.on('upgrade', (_req, socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n'))
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  t.after(() => server.close())
  const port = /** @type {import('node:net').AddressInfo} */ (server.address()).port
  const { sub, client, bridge } = await liveBridge(t, dir, port)
  const t0 = Date.now()
  assert.deepEqual((await client.call('connect')).result, { already: false })
  // Baileys' connect timeout is 20 s: well before it, the close must carry the 403.
  const events = await collect(sub, (e) => e.event === 'connection.update' && e.data.connection === 'close', { timeoutMs: 10000 })
  assert.equal(/** @type {any} */ (events.at(-1)).data.lastDisconnect.error.$error.statusCode, 403)
  assert.ok(Date.now() - t0 < 10000)
  assert.equal((await client.call('state')).result.connection, 'close')
  assert.equal((await bridge.stop()).code, 0, bridge.output())
})

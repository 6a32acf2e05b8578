/** The control API and connection hygiene, against an in-process simulator. */
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { test } from 'node:test'
import { startSim } from './lib/app.js'
import { ws as wsLib } from './lib/deps.js'
import { PHONE, waitUntil } from './helpers.js'

/** @param {import('node:test').TestContext} t */
async function sim(t) {
  const running = await startSim({ phone: PHONE })
  t.after(() => running.close())
  /** @param {string} method @param {string} route @param {string} [body] */
  const call = async (method, route, body) => {
    const res = await fetch(`${running.control}${route}`, { method, body })
    return { status: res.status, body: await res.json() }
  }
  return { running, call }
}

test('GET /state: documented shape when idle', async (t) => {
  const { running, call } = await sim(t)
  assert.match(running.ws, /^ws:\/\/127\.0\.0\.1:\d+\/ws\/chat$/)
  assert.match(running.control, /^http:\/\/127\.0\.0\.1:\d+$/)
  const { status, body } = await call('GET', '/state')
  assert.equal(status, 200)
  assert.deepEqual(
    { ...body, iqs: undefined, messages: undefined },
    {
      connections: 0,
      online: false,
      phase: 'idle',
      paired: [],
      lastQr: null,
      pings: 0,
      logins: 0,
      registrations: 0,
      accepted: 0,
      removals: 0,
      silent: false,
      phone: `${PHONE}@s.whatsapp.net`,
      iqs: undefined,
      messages: undefined,
      registration: null,
    },
  )
})

test('errors: unknown route 404, bad JSON 400, bad qr 400, unknown qr 409, nothing online 409, bad reason 400', async (t) => {
  const { call } = await sim(t)
  const expect = async (/** @type {Promise<{status: number, body: any}>} */ p, /** @type {number} */ status, /** @type {string} */ code) => {
    const r = await p
    assert.equal(r.status, status, JSON.stringify(r.body))
    assert.equal(r.body.error.code, code)
    assert.equal(typeof r.body.error.message, 'string')
  }
  await expect(call('GET', '/nope'), 404, 'not_found')
  await expect(call('POST', '/state'), 404, 'not_found')
  await expect(call('POST', '/scan', '{'), 400, 'bad_json')
  await expect(call('POST', '/scan', '{"qr":"hello"}'), 400, 'bad_qr')
  const k = Buffer.alloc(32, 1).toString('base64')
  await expect(call('POST', '/scan', JSON.stringify({ qr: `https://wa.me/settings/linked_devices#2@x,${k},${k},${k},1` })), 409, 'nothing_to_pair')
  await expect(call('POST', '/disconnect', '{"reason":515}'), 409, 'not_online')
  await expect(call('POST', '/disconnect', '{"reason":"515"}'), 400, 'bad_reason')
  await expect(call('POST', '/disconnect', '{"reason":999}'), 400, 'bad_reason')
  await expect(call('POST', '/silence', '{"on":"yes"}'), 400, 'bad_params')
})

test('silence, forget and logout-from-phone answer when nothing is linked', async (t) => {
  const { call } = await sim(t)
  assert.deepEqual((await call('POST', '/silence', '{"on":true}')).body, { silent: true })
  assert.equal((await call('GET', '/state')).body.silent, true)
  assert.deepEqual((await call('POST', '/silence', '{"on":false}')).body, { silent: false })
  assert.deepEqual((await call('POST', '/forget')).body, { removed: [] })
  assert.deepEqual((await call('POST', '/logout-from-phone')).body, { removed: [] })
})

test('a client that does not speak the protocol is dropped; the server carries on', async (t) => {
  const { running, call } = await sim(t)
  const client = new wsLib.WebSocket(running.ws)
  await once(client, 'open')
  await waitUntil(async () => (await call('GET', '/state')).body.connections === 1, 'connection counted')
  client.send(Buffer.from('GET / HTTP/1.1\r\n\r\n'))
  await once(client, 'close')
  await waitUntil(async () => (await call('GET', '/state')).body.connections === 0, 'connection dropped')
  assert.equal((await call('GET', '/state')).body.accepted, 1)
  // Only /ws/chat is served.
  const other = new wsLib.WebSocket(running.ws.replace('/ws/chat', '/other'))
  const [err] = await once(other, 'error')
  assert.match(String(err.message), /400/)
})

/**
 * BRIDGE_PROXY end to end: the real bridge (stock Baileys) reaches the WhatsApp simulator
 * only through a proxy this test runs (HTTP CONNECT, with or without Basic auth; SOCKS5):
 * pairing by QR, login, a media download (fetch) and a media upload (node https) all go
 * through it. Wrong credentials end in a reported connection failure, not a crash, and the
 * password never shows in the bridge's output or on its event stream.
 */
import assert from 'node:assert/strict'
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import net from 'node:net'
import path from 'node:path'
import { describe, test } from 'node:test'
import { scrubber } from '../src/proxy.js'
import { is, ok, pairAndLogin, startBridge, startSim, statusCode, tmpDir, waitUntil } from '../../tests/wa-sim/helpers.js'
import { selfSignedCert } from '../../tests/wa-sim/lib/x509.js'
import { spawnBridge } from './helpers.js'

/** A 1x1 PNG, so Baileys' thumbnail step has a real image to work on. */
const PNG = Buffer.from('iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==', 'base64')

/** @param {string} url @returns {string} host:port */
const hostPort = (url) => new URL(url).host

/**
 * Pipe two sockets both ways; either one failing or ending ends the other.
 * @param {net.Socket} a @param {net.Socket} b
 */
function splice(a, b) {
  a.pipe(b)
  b.pipe(a)
  a.on('error', () => b.destroy())
  b.on('error', () => a.destroy())
  a.on('close', () => b.destroy())
  b.on('close', () => a.destroy())
}

/**
 * Listen on 127.0.0.1:0; every socket it ever accepted is destroyed after the test.
 * @param {import('node:test').TestContext} t @param {net.Server} server
 */
async function listen(t, server) {
  /** @type {Set<net.Socket>} */
  const sockets = new Set()
  server.on('connection', (s) => {
    sockets.add(s)
    s.on('close', () => sockets.delete(s))
  })
  await new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve(undefined)))
  t.after(async () => {
    for (const s of sockets) s.destroy()
    await new Promise((resolve) => server.close(() => resolve(undefined)))
  })
  return /** @type {net.AddressInfo} */ (server.address()).port
}

/**
 * An HTTP proxy that only tunnels (CONNECT). With `credentials` it wants Basic auth and
 * answers 407 otherwise; with `tls` it is an https:// proxy.
 * @param {import('node:test').TestContext} t
 * @param {{user: string, password: string}} [credentials]
 * @param {{cert: string, key: string}} [tls]
 */
async function connectProxy(t, credentials, tls) {
  /** @type {{target: string, accepted: boolean}[]} */
  const tunnels = []
  const expected = credentials && `Basic ${Buffer.from(`${credentials.user}:${credentials.password}`).toString('base64')}`
  /** @type {http.RequestListener} */
  const refuse = (_req, res) => res.writeHead(405).end()
  const server = tls ? https.createServer(tls, refuse) : http.createServer(refuse)
  server.on('connect', (/** @type {http.IncomingMessage} */ req, /** @type {net.Socket} */ client, /** @type {Buffer} */ head) => {
    client.on('error', () => client.destroy())
    const accepted = !expected || req.headers['proxy-authorization'] === expected
    tunnels.push({ target: String(req.url), accepted })
    if (!accepted) {
      client.end('HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n')
      return
    }
    const { hostname, port } = new URL(`http://${req.url}`)
    const upstream = net.connect(Number(port), hostname.replace(/^\[|\]$/g, ''), () => {
      client.write('HTTP/1.1 200 Connection Established\r\n\r\n')
      upstream.write(head)
      splice(client, upstream)
    })
    upstream.on('error', () => client.destroy())
  })
  const port = await listen(t, server)
  return { port, tunnels }
}

/**
 * A SOCKS5 proxy (RFC 1928 CONNECT; RFC 1929 username/password when `credentials`).
 * @param {import('node:test').TestContext} t
 * @param {{user: string, password: string}} [credentials]
 */
async function socksProxy(t, credentials) {
  /** @type {{target: string, accepted: boolean}[]} */
  const tunnels = []
  const server = net.createServer((client) => {
    client.on('error', () => client.destroy())
    let buf = Buffer.alloc(0)
    /** @type {{n: number, resolve: (b: Buffer) => void}[]} */
    const waiting = []
    const drain = () => {
      while (waiting.length && buf.length >= waiting[0].n) {
        const { n, resolve } = /** @type {{n: number, resolve: (b: Buffer) => void}} */ (waiting.shift())
        resolve(buf.subarray(0, n))
        buf = buf.subarray(n)
      }
    }
    /** @param {number} n @returns {Promise<Buffer>} the next n bytes */
    const read = (n) =>
      new Promise((resolve) => {
        waiting.push({ n, resolve })
        drain()
      })
    const onData = (/** @type {Buffer} */ d) => {
      buf = Buffer.concat([buf, d])
      drain()
    }
    client.on('data', onData)
    void (async () => {
      const [, nMethods] = await read(2)
      const methods = [...(await read(nMethods))]
      const method = credentials ? 2 : 0
      if (!methods.includes(method)) return client.end(Buffer.from([5, 0xff]))
      client.write(Buffer.from([5, method]))
      if (credentials) {
        const [, ulen] = await read(2)
        const user = (await read(ulen)).toString()
        const [plen] = await read(1)
        const password = (await read(plen)).toString()
        if (user !== credentials.user || password !== credentials.password) {
          tunnels.push({ target: '', accepted: false })
          return client.end(Buffer.from([1, 1]))
        }
        client.write(Buffer.from([1, 0]))
      }
      const [, , , atyp] = await read(4)
      const host =
        atyp === 1 ? [...(await read(4))].join('.') : atyp === 3 ? (await read((await read(1))[0])).toString() : null
      const port = (await read(2)).readUInt16BE(0)
      tunnels.push({ target: `${host}:${port}`, accepted: true })
      if (host === null) return client.destroy()
      const upstream = net.connect(port, host, () => {
        client.off('data', onData)
        client.write(Buffer.from([5, 0, 0, 1, 0, 0, 0, 0, 0, 0]))
        if (buf.length) upstream.write(buf)
        splice(client, upstream)
      })
      upstream.on('error', () => client.end(Buffer.from([5, 5, 0, 1, 0, 0, 0, 0, 0, 0])))
    })()
  })
  const port = await listen(t, server)
  return { port, tunnels }
}

/**
 * Pair and log in through the proxy, then a contact's image is downloaded (fetch, http), an
 * image is sent (upload over node https) and the first one downloaded again over https: each
 * must have gone through a tunnel of its own.
 * @param {import('node:test').TestContext} t
 * @param {{port: number, tunnels: {target: string, accepted: boolean}[]}} proxy
 * @param {string} proxyUrl
 * @param {Record<string, string>} [env]
 * @param {(mediaCa: string) => void} [beforeBridge] called with the sim's media CA file
 */
async function everythingThrough(t, proxy, proxyUrl, env = {}, beforeBridge = () => {}) {
  const sim = await startSim(t)
  beforeBridge(sim.mediaCa)
  const bridge = await startBridge(t, { dir: tmpDir(t), waUrl: sim.ws, env: { BRIDGE_PROXY: proxyUrl, NODE_EXTRA_CA_CERTS: sim.mediaCa, ...env } })
  const { jid } = await pairAndLogin(sim, bridge)
  // The QR connection and the login after the 515 restart: two WebSockets, both tunnelled.
  assert.deepEqual(
    proxy.tunnels.map((x) => x.target),
    [hostPort(sim.ws), hostPort(sim.ws)],
  )

  const alice = await ok(sim, '/contacts', { phone: '5511988880001', name: 'Alice' })
  const bytes = Buffer.from('picture through the proxy')
  const sent = await ok(sim, '/send', { from: alice.phone, kind: 'image', bytes: bytes.toString('base64'), mimetype: 'image/jpeg' })
  const upsert = await bridge.next((e) => e.event === 'messages.upsert' && e.data.messages.some((/** @type {any} */ m) => m.key.id === sent.id), { what: 'image upsert' })
  const image = upsert.data.messages.find((/** @type {any} */ m) => m.key.id === sent.id)
  const download = await bridge.call('downloadMedia', [image])
  assert.equal(download.ok, true, JSON.stringify(download))
  assert.ok(Buffer.from(download.result.$bytes, 'base64').equals(bytes))
  assert.equal(proxy.tunnels.at(-1)?.target, hostPort(image.message.imageMessage.url), `the download went through the proxy: ${JSON.stringify(proxy.tunnels)}`)

  const before = proxy.tunnels.length
  const out = await bridge.call('sendMessage', [alice.jid, { image: { $bytes: PNG.toString('base64') }, mimetype: 'image/png' }])
  assert.equal(out.ok, true, JSON.stringify(out))
  await waitUntil(async () => (await sim.get('/received')).body.some((/** @type {any} */ r) => r.id === out.result.key.id), 'the sim to receive the image')
  assert.equal((await sim.state()).messages.media.uploads, 1)
  const uploads = proxy.tunnels.slice(before).map((x) => x.target)
  assert.equal(uploads.length, 1, `one tunnel for the upload: ${uploads}`)
  assert.notEqual(uploads[0], hostPort(sim.ws))
  assert.notEqual(uploads[0], hostPort(sim.media))

  // The same blob fetched over TLS from the media host the upload went to: a fetch to an
  // https origin is tunnelled too, TLS then spoken end to end through the tunnel.
  const overTls = structuredClone(image)
  overTls.message.imageMessage.url = `https://${uploads[0]}${new URL(image.message.imageMessage.url).pathname}`
  const again = await bridge.call('downloadMedia', [overTls])
  assert.equal(again.ok, true, JSON.stringify(again))
  assert.ok(Buffer.from(again.result.$bytes, 'base64').equals(bytes))
  assert.equal(proxy.tunnels.at(-1)?.target, uploads[0], `the https download went through the proxy: ${JSON.stringify(proxy.tunnels)}`)
  assert.equal((await sim.state()).messages.media.downloads, 2)
  assert.ok(proxy.tunnels.every((x) => x.accepted))
  return { sim, bridge, jid }
}

/**
 * The password in every form it could be printed in.
 * @param {string} password
 */
const forms = (password) => [password, encodeURIComponent(password), JSON.stringify(password).slice(1, -1)]

describe('BRIDGE_PROXY', { concurrency: true }, () => {
  test('HTTP CONNECT proxy: the WebSocket, a media download and an upload all go through it', async (t) => {
    const proxy = await connectProxy(t)
    const url = `http://127.0.0.1:${proxy.port}`
    const { bridge } = await everythingThrough(t, proxy, url)
    assert.equal((await bridge.call('state')).result.proxy, url)
  })

  test('https:// proxy (TLS to the proxy, then CONNECT) carries the same traffic', async (t) => {
    const tls = selfSignedCert({ commonName: 'test proxy', ips: ['127.0.0.1'] })
    const proxy = await connectProxy(t, undefined, tls)
    // The bridge trusts the proxy's certificate besides the media one (NODE_EXTRA_CA_CERTS is one file).
    const cas = path.join(tmpDir(t), 'cas.pem')
    const url = `https://127.0.0.1:${proxy.port}`
    await everythingThrough(t, proxy, url, { NODE_EXTRA_CA_CERTS: cas }, (mediaCa) => fs.writeFileSync(cas, fs.readFileSync(mediaCa, 'utf8') + tls.cert))
  })

  test('SOCKS5 proxy (socks5h: the proxy resolves names) carries the same traffic', async (t) => {
    const proxy = await socksProxy(t)
    const { bridge } = await everythingThrough(t, proxy, `socks5h://127.0.0.1:${proxy.port}`)
    assert.equal((await bridge.call('state')).result.proxy, `socks5h://127.0.0.1:${proxy.port}`)
  })

  for (const kind of /** @type {const} */ (['http', 'socks5'])) {
    test(`${kind} proxy with credentials: accepted; wrong ones are a reported connection failure; the password is never printed`, async (t) => {
      const user = 'agent7'
      const password = 'S3cr3t:/@"é%-pw'
      const wrong = 'Wr0ng!-pw-92741'
      const proxy = kind === 'http' ? await connectProxy(t, { user, password }) : await socksProxy(t, { user, password })
      const url = (/** @type {string} */ pw) => `${kind}://${user}:${encodeURIComponent(pw)}@127.0.0.1:${proxy.port}`
      // trace: Baileys and every library log all they have, the hardest case for a secret.
      const good = await everythingThrough(t, proxy, url(password), { BRIDGE_LOG_LEVEL: 'trace' })
      assert.equal((await good.bridge.call('state')).result.proxy, `${kind}://127.0.0.1:${proxy.port}`)

      const sim = await startSim(t)
      const bad = await startBridge(t, { dir: tmpDir(t), waUrl: sim.ws, env: { BRIDGE_PROXY: url(wrong), BRIDGE_LOG_LEVEL: 'trace' } })
      const tried = proxy.tunnels.length
      assert.equal((await bad.call('connect')).ok, true)
      const close = await bad.next(is.close, { what: 'a close after the proxy refused' })
      // The proxy's refusal is the close reason: HTTP's status, or Baileys' 500 with the SOCKS error.
      const error = close.data.lastDisconnect.error.$error
      if (kind === 'http') assert.equal(statusCode(close), 407, JSON.stringify(error))
      else assert.deepEqual([error.statusCode, error.message], [500, 'WebSocket Error (Socks5 Authentication failed)'])
      assert.deepEqual(
        proxy.tunnels.slice(tried).map((x) => x.accepted),
        [false],
      )
      assert.equal((await sim.state()).connections, 0)
      const st = await bad.call('state')
      assert.equal(st.ok, true)
      assert.equal(st.result.connection, 'close')
      assert.equal(bad.child.exitCode, null, 'the bridge is still running')

      for (const b of [good.bridge, bad]) {
        const printed = b.output()
        const published = JSON.stringify(b.events)
        assert.ok(printed.length > 0)
        for (const secret of [...forms(password), ...forms(wrong)]) {
          assert.ok(!printed.includes(secret), `the bridge printed a password form: ${secret}`)
          assert.ok(!published.includes(secret), `the bridge published a password form: ${secret}`)
        }
      }
      assert.equal(await bad.stop(), 0)
    })
  }
})

test('a bad BRIDGE_PROXY stops the bridge at start (exit 2), naming the variable, not the value', async (t) => {
  const dir = tmpDir(t)
  const bridge = spawnBridge({
    BRIDGE_PUB: `ipc://${dir}/pub`,
    BRIDGE_ROUTER: `ipc://${dir}/rtr`,
    BRIDGE_DATA_DIR: `${dir}/data`,
    BRIDGE_PROXY: 'ftp://alice7:hunter2@proxy.example:21',
  })
  t.after(() => bridge.child.kill('SIGKILL'))
  assert.equal((await bridge.exited).code, 2)
  assert.match(bridge.output(), /BRIDGE_PROXY must be an http/)
  assert.doesNotMatch(bridge.output(), /hunter2|alice7|ftp:/)
})

test('scrubber blanks every form of the password out of a log line; nothing to hide, no hook', () => {
  const scrub = /** @type {(line: string) => string} */ (scrubber(['p"w', 'p%22w', 'p\\"w']))
  assert.equal(scrub('{"msg":"p\\"w at http://u:p%22w@h and p\\"w"}'), '{"msg":"*** at http://u:***@h and ***"}')
  assert.equal(scrubber([]), undefined)
})

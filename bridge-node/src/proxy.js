/**
 * The outbound proxy of this number (BRIDGE_PROXY) as the two kinds of connection factory
 * Baileys takes: an `http.Agent` for what it opens with Node's http/https/ws (the WhatsApp
 * WebSocket, media uploads) and an undici dispatcher for what it opens with `fetch` (media
 * downloads, history and app-state blobs, media sent by URL).
 *
 * http(s) proxies are tunnelled with CONNECT (even for plain-http targets, so the proxy never
 * sees a request line), socks5 ones with SOCKS5 CONNECT. Only the libraries see the password,
 * and `scrubber` keeps it out of the log lines they or Baileys may write.
 */
import dns from 'node:dns/promises'
import { HttpsProxyAgent } from 'https-proxy-agent'
import { SocksClient } from 'socks'
import { SocksProxyAgent } from 'socks-proxy-agent'
import { Agent, ProxyAgent, buildConnector } from 'undici'

/**
 * @typedef {object} ProxyAgents
 * @property {import('node:http').Agent} agent Baileys' `agent` and `fetchAgent`.
 * @property {import('undici').Dispatcher} dispatcher Baileys' `options.dispatcher` and downloads'.
 */

/**
 * @param {Readonly<import('./config.js').ProxySetting>} setting
 * @returns {ProxyAgents}
 */
export function proxyAgents(setting) {
  const url = new URL(setting.url)
  if (url.protocol === 'http:' || url.protocol === 'https:') {
    // Both get the proxy without its credentials plus the header, so neither keeps the
    // password in a URL it may print (https-proxy-agent's DEBUG output shows its URL).
    const origin = `${url.protocol}//${url.host}`
    const token = basicToken(url)
    return {
      agent: new HttpsProxyAgent(origin, token ? { headers: { 'Proxy-Authorization': token } } : undefined),
      dispatcher: new ProxyAgent({ uri: origin, ...(token ? { token } : {}) }),
    }
  }
  return { agent: new SocksProxyAgent(url), dispatcher: new Agent({ connect: socksConnector(url) }) }
}

/**
 * The Basic Proxy-Authorization value, or null without credentials. Sent when a user or a
 * password is given, as https-proxy-agent does (undici's ProxyAgent would want both).
 * @param {URL} url
 */
function basicToken(url) {
  if (!url.username && !url.password) return null
  return `Basic ${Buffer.from(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`).toString('base64')}`
}

/**
 * A pino `streamWrite` hook that blanks the proxy password out of every finished log line:
 * the bridge formats its own lines without it, but Baileys and the proxy libraries log
 * objects of their own (whole errors, at debug), and a password must not ride along.
 * @param {readonly string[]} secrets the password's printable forms (ProxySetting.secrets)
 * @returns {((line: string) => string)|undefined} undefined when there is nothing to hide
 */
export function scrubber(secrets) {
  if (!secrets.length) return undefined
  return (line) => secrets.reduce((s, secret) => s.replaceAll(secret, '***'), line)
}

/**
 * An undici connector that reaches the origin through the SOCKS5 proxy (undici has no SOCKS
 * support), then speaks TLS over that stream for https origins.
 * @param {URL} url
 * @returns {import('undici').buildConnector.connector}
 */
function socksConnector(url) {
  const proxy = { host: url.hostname.replace(/^\[|\]$/g, ''), port: Number(url.port) || 1080, type: /** @type {const} */ (5) }
  if (url.username || url.password) {
    // Non-enumerable, as socks-proxy-agent does: SocksClientError keeps its options, and an
    // error object walked by a logger must not carry the password.
    Object.defineProperties(proxy, {
      userId: { value: decodeURIComponent(url.username), enumerable: false },
      password: { value: decodeURIComponent(url.password), enumerable: false },
    })
  }
  // socks5: names are resolved here; socks5h: the proxy resolves them.
  const remoteDns = url.protocol === 'socks5h:'
  const tls = buildConnector({})
  return (opts, callback) => {
    const port = Number(opts.port) || (opts.protocol === 'https:' ? 443 : 80)
    const resolved = remoteDns ? Promise.resolve(opts.hostname) : dns.lookup(opts.hostname).then((a) => a.address)
    resolved
      .then((host) => SocksClient.createConnection({ proxy, destination: { host, port }, command: 'connect' }))
      .then(({ socket }) => {
        if (opts.protocol !== 'https:') callback(null, socket)
        else tls({ ...opts, httpSocket: socket }, callback)
      }, (err) => callback(err, null))
  }
}

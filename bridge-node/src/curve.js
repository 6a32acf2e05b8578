/**
 * ZeroMQ CURVE for the bridge's two sockets. On loopback (or ipc://) the traffic never leaves
 * the machine; anywhere else the bridge refuses to run without keys, because its events are
 * the helpdesk's customer conversations. With BRIDGE_CURVE_CLIENTS set, a ZAP handler admits
 * only those client public keys (authentication, not just encryption).
 */
import zmq from 'zeromq'

const Z85 = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ.-:+=^!/*?&<>()[]{}@%$#'
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|localhost|\[::1\]|::1)$/

/**
 * Z85 (ZeroMQ RFC 32) text to bytes.
 * @param {string} text @returns {Buffer}
 */
export function z85Decode(text) {
  if (text.length % 5 !== 0) throw new Error('a Z85 key has a length that is a multiple of 5')
  const out = Buffer.alloc((text.length / 5) * 4)
  for (let i = 0; i < text.length; i += 5) {
    let value = 0
    for (let j = 0; j < 5; j++) {
      const digit = Z85.indexOf(text[i + j])
      if (digit < 0) throw new Error(`not a Z85 character: ${text[i + j]}`)
      value = value * 85 + digit
    }
    out.writeUInt32BE(value >>> 0, (i / 5) * 4)
  }
  return out
}

/**
 * Whether traffic on this endpoint can leave the machine.
 * @param {string} endpoint @returns {boolean}
 */
export function leavesTheMachine(endpoint) {
  const match = /^tcp:\/\/(.+):[0-9*]+$/.exec(endpoint)
  if (!match) return false // ipc://, inproc://
  return !LOOPBACK.test(match[1])
}

/**
 * Socket options for a CURVE server, or {} without keys. Throws when an endpoint leaves the
 * machine and there are no keys.
 * @param {{pub: string, router: string, curveSecretKey: string|null, curvePublicKey: string|null}} config
 * @returns {Record<string, unknown>}
 */
export function serverOptions(config) {
  if (!config.curveSecretKey || !config.curvePublicKey) {
    const exposed = [config.pub, config.router].filter(leavesTheMachine)
    if (exposed.length) {
      throw new Error(
        `refusing to serve ${exposed.join(', ')} unencrypted: set BRIDGE_CURVE_SECRET_KEY and ` +
          'BRIDGE_CURVE_PUBLIC_KEY (make curve-keys), or bind to 127.0.0.1',
      )
    }
    return {}
  }
  return { curveServer: true, curveSecretKey: config.curveSecretKey, curvePublicKey: config.curvePublicKey }
}

/**
 * Answer ZAP requests (RFC 27): only the listed client keys may connect.
 * @param {string[]} allowed Z85 public keys
 * @param {{warn: Function}} logger
 * @returns {Promise<{close(): void}>}
 */
export async function startZap(allowed, logger) {
  const keys = new Set(allowed.map((key) => z85Decode(key).toString('hex')))
  const socket = new zmq.Reply({ linger: 0 })
  await socket.bind('inproc://zeromq.zap.01')
  ;(async () => {
    for await (const [version, id, , address, , mechanism, key] of socket) {
      const ok = mechanism?.toString() === 'CURVE' && key && keys.has(key.toString('hex'))
      if (!ok) logger.warn({ address: address?.toString() }, 'zap: refused a client key')
      await socket.send([version, id, ok ? '200' : '400', ok ? 'OK' : 'unknown key', '', ''])
    }
  })().catch(() => {}) // ends when the socket closes
  return { close: () => socket.close() }
}

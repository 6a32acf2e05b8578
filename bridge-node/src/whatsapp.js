/**
 * The live WhatsApp side: one Baileys socket at a time, every event forwarded.
 *
 * Deliberately dumb (DESIGN.md): it never reconnects by itself and never interprets
 * content. After a 'close' the socket is dead and dropped; the orchestrator decides what
 * to do with the close reason and sends `connect` (or `logout`).
 */
import {
  Browsers,
  downloadMediaMessage,
  makeWASocket as baileysMakeWASocket,
} from '@whiskeysockets/baileys'
import { useAtomicAuthState, wipeAuthDir } from './auth-state.js'
import { BoundedCache } from './caches.js'
import { encode } from './codec.js'
import { historyOptions } from './history.js'

/** @typedef {'idle'|'connecting'|'open'|'close'} ConnectionState */
/** @typedef {import('./auth-state.js').AtomicAuthState} AtomicAuthState */
/**
 * Where the auth state lives: files in BRIDGE_DATA_DIR by default, JetStream KV in NATS mode.
 * @typedef {{open(): Promise<AtomicAuthState>, wipe(): Promise<void>}} AuthStore
 */

const END_TIMEOUT_MS = 5000
const LOGOUT_TIMEOUT_MS = 10000
const RETRY_COUNTER_TTL_MS = 60 * 60 * 1000 // Baileys' own default for its retry cache

export class WhatsApp {
  /**
   * @param {object} opts
   * @param {Readonly<import('./config.js').BridgeConfig>} opts.config
   * @param {(event: string, data: unknown) => number} opts.publish publisher.publish (data wire-encoded)
   * @param {import('pino').Logger} opts.logger
   * @param {import('./recorder.js').Recorder|null} [opts.recorder]
   * @param {import('./proxy.js').ProxyAgents|null} [opts.proxy] BRIDGE_PROXY's agents; null = direct
   * @param {typeof baileysMakeWASocket} [opts.makeSocket] injectable for tests
   * @param {AuthStore} [opts.authStore] default: the atomic file auth state in config.authDir
   */
  constructor({ config, publish, logger, recorder = null, proxy = null, makeSocket = baileysMakeWASocket, authStore }) {
    this.config = config
    this.proxy = proxy
    this.publish = publish
    this.logger = logger
    this.recorder = recorder
    this.makeSocket = makeSocket
    /** @type {AuthStore} */
    this.authStore = authStore ?? { open: () => useAtomicAuthState(config.authDir, logger), wipe: () => wipeAuthDir(config.authDir) }
    /** @type {ConnectionState} */
    this.connection = 'idle'
    /** @type {any} current Baileys socket (open or connecting) */
    this.sock = null
    /** @type {number|null} when the current socket last received a frame */
    this.lastFrameAt = null
    /** @type {AtomicAuthState|null} loaded once, kept across reconnects (Baileys mutates creds in place) */
    this.auth = null
    /** @type {any} creds.me of the logged-in account */
    this.me = null
    /** @type {Promise<{already: boolean}>|null} */
    this.connecting = null
    // Messages this bridge sent, so Baileys can re-encrypt them when a recipient asks for a retry.
    this.sent = new BoundedCache({ max: config.sentCacheSize })
    // Kept outside the socket so retry counts survive reconnects (BAILEYS.md).
    this.retryCounters = new BoundedCache({ max: 10000, ttlMs: RETRY_COUNTER_TTL_MS })
    // Baileys is chatty at info; follow the bridge level only when debugging.
    const lvl = ['debug', 'trace'].includes(config.logLevel) || ['error', 'fatal', 'silent'].includes(config.logLevel) ? config.logLevel : 'warn'
    this.baileysLogger = logger.child({ lib: 'baileys' }, { level: lvl })
  }

  /** The socket, when commands may use it. */
  get openSocket() {
    return this.connection === 'open' ? this.sock : null
  }

  /**
   * Open a socket unless one is open or connecting (idempotent).
   * @returns {Promise<{already: boolean}>}
   */
  connect() {
    if (this.connecting) return this.connecting.then(() => ({ already: true }))
    if (this.sock && (this.connection === 'connecting' || this.connection === 'open')) return Promise.resolve({ already: true })
    this.connecting = this._connect().finally(() => {
      this.connecting = null
    })
    return this.connecting
  }

  async _connect() {
    this.connection = 'connecting'
    try {
      this.auth ??= await this.authStore.open()
      const auth = this.auth
      this.me = auth.state.creds.me ?? null
      const sock = this.makeSocket({
        auth: auth.state,
        logger: this.baileysLogger,
        browser: Browsers.ubuntu('Chrome'),
        // Off by default so the phone keeps receiving notifications (BRIDGE_MARK_ONLINE_ON_CONNECT).
        markOnlineOnConnect: this.config.markOnlineOnConnect,
        ...historyOptions(this.config.history),
        getMessage: async (key) => (key?.id ? this.sent.get(key.id) : undefined),
        msgRetryCounterCache: this.retryCounters,
        keepAliveIntervalMs: this.config.keepAliveMs,
        ...(this.config.waUrl ? { waWebSocketUrl: this.config.waUrl } : {}),
        // agent: the WebSocket; fetchAgent: media uploads (node https); options.dispatcher:
        // what Baileys fetches itself (history/app-state blobs, media sent by URL).
        ...(this.proxy ? { agent: this.proxy.agent, fetchAgent: this.proxy.agent, options: { dispatcher: this.proxy.dispatcher } } : {}),
      })
      this.sock = sock
      this.lastFrameAt = Date.now()
      // Every frame from WhatsApp, pings included: the orchestrator's watchdog reads its age
      // from the heartbeats to catch a socket that is "open" but hears nothing.
      sock.ws?.on?.('message', () => {
        this.lastFrameAt = Date.now()
      })
      // Baileys re-emits every ws event, so ws takes 'unexpected-response' as handled and keeps
      // a refused handshake (a proxy's 407, a server's 403) pending until Baileys' connect
      // timeout. Fail it at once with ws' own error, from which Baileys takes the status code.
      sock.ws?.on?.('unexpected-response', (/** @type {unknown} */ _req, /** @type {import('node:http').IncomingMessage} */ res) => {
        res.resume()
        sock.ws.emit('error', new Error(`Unexpected server response: ${res.statusCode}`))
      })
      sock.ev.process((events) => this._onEvents(sock, auth, events))
      return { already: false }
    } catch (err) {
      this.connection = 'close'
      this.sock = null
      this.logger.error({ err }, 'whatsapp: socket creation failed')
      this._publishSafe('bridge.error', { where: 'connect', error: encode(err) })
      throw err
    }
  }

  /**
   * Forward one Baileys event map, in map order. Never throws (Baileys would turn it
   * into an unhandled rejection).
   * @param {any} sock the socket that emitted (may be stale)
   * @param {AtomicAuthState} auth
   * @param {Record<string, any>} events
   */
  _onEvents(sock, auth, events) {
    for (const name of Object.keys(events)) {
      const payload = events[name]
      try {
        let data
        if (name === 'creds.update') {
          // Persist first; only identity fields cross the wire, never key material.
          auth.saveCreds().catch((err) => {
            this.logger.error({ err }, 'whatsapp: saving creds failed')
            this._publishSafe('bridge.error', { where: 'saveCreds', error: encode(err) })
          })
          if (payload?.me) this.me = payload.me
          data = encode({ me: payload?.me, registered: payload?.registered, platform: payload?.platform })
        } else {
          data = encode(payload)
        }
        // State of a stale socket (already replaced) must not override the current one's.
        if (name === 'connection.update' && sock === this.sock) this._track(payload)
        this.recorder?.record(name, data)
        this.publish(name, data)
      } catch (err) {
        this.logger.error({ err, event: name }, 'whatsapp: forwarding an event failed')
        this._publishSafe('bridge.error', { where: `event:${name}`, error: encode(err) })
      }
    }
  }

  /** @param {{connection?: string}} update */
  _track(update) {
    const c = update?.connection
    if (c === 'connecting' || c === 'open') this.connection = c
    if (c === 'close') {
      this.connection = 'close'
      this.sock = null // dead: Baileys sockets are never reused
    }
  }

  /**
   * End the socket without logging out (the session stays valid).
   * @returns {Promise<{ended: boolean}>}
   */
  async disconnect() {
    const sock = this.sock
    if (!sock) return { ended: false }
    await this._end(sock)
    return { ended: true }
  }

  /**
   * Log out (if connected; failure ignored), end the socket and optionally wipe the auth state.
   * @param {{wipe?: boolean}} [opts]
   * @returns {Promise<{wiped: boolean}>}
   */
  async logout({ wipe = true } = {}) {
    const sock = this.sock
    if (sock && this.connection === 'open') {
      try {
        await withTimeout(sock.logout(), LOGOUT_TIMEOUT_MS)
      } catch (err) {
        this.logger.warn({ err }, 'whatsapp: logout request failed; ending the socket anyway')
      }
    }
    if (sock) await this._end(sock)
    if (wipe) {
      this.auth?.close() // a late creds save must not write into the fresh directory
      this.auth = null
      this.me = null
      await this.authStore.wipe()
    }
    return { wiped: wipe }
  }

  /** @param {any} sock @param {number} [timeoutMs] */
  async _end(sock, timeoutMs = END_TIMEOUT_MS) {
    try {
      await withTimeout(sock.end(undefined), timeoutMs)
    } catch (err) {
      this.logger.warn({ err }, 'whatsapp: ending the socket failed')
    }
    if (this.sock === sock) {
      this.sock = null
      this.connection = 'close'
    }
  }

  /**
   * Remember a message this bridge sent (sendMessage result) for getMessage.
   * @param {any} msg proto.WebMessageInfo
   */
  rememberSent(msg) {
    if (msg?.key?.id && msg.message) this.sent.set(msg.key.id, msg.message)
  }

  /**
   * @param {any} sock
   * @param {any} msg decoded WebMessageInfo
   * @returns {Promise<Buffer>}
   */
  downloadMedia(sock, msg) {
    // Baileys reads the fetch options one level down: downloadContentFromMessage's `options`.
    const options = this.proxy ? { options: { dispatcher: this.proxy.dispatcher } } : {}
    return downloadMediaMessage(msg, 'buffer', options, { reuploadRequest: sock.updateMediaMessage, logger: this.baileysLogger })
  }

  /**
   * For shutdown: end the socket, bounded so SIGTERM still exits within ~2 s.
   * @param {number} [timeoutMs]
   */
  async close(timeoutMs = 1000) {
    if (this.sock) await this._end(this.sock, timeoutMs)
  }

  /** @param {string} event @param {unknown} data */
  /** Milliseconds since the open socket last heard from WhatsApp; null unless open. */
  get lastFrameAgeMs() {
    return this.connection === 'open' && this.lastFrameAt ? Date.now() - this.lastFrameAt : null
  }

  /**
   * Publish `bridge.send_failed` for a sendMessage that threw.
   * @param {unknown[]} args the sendMessage arguments [jid, content, options]
   * @param {unknown} err
   */
  reportSendFailure(args, err) {
    const content = /** @type {Record<string, any>} */ (args[1] ?? {})
    const options = /** @type {Record<string, any>} */ (args[2] ?? {})
    this._publishSafe('bridge.send_failed', {
      jid: args[0],
      messageId: options.messageId ?? null,
      text: content.text ?? content.caption ?? null,
      timestamp: Math.floor(Date.now() / 1000),
      error: encode(err),
    })
  }

  /**
   * Publish `bridge.messages_read` for read receipts sent with readMessages.
   * @param {Array<Record<string, unknown>>} keys the message keys that were read
   */
  reportRead(keys) {
    this._publishSafe('bridge.messages_read', { keys })
  }

  /**
   * Publish `bridge.call_rejected` after rejectCall: WhatsApp does not echo a reject back to
   * the device that sent it, so nothing else tells the orchestrator the call was declined.
   * @param {string} id the call id @param {string} from the caller's jid
   */
  reportCallRejected(id, from) {
    this._publishSafe('bridge.call_rejected', { id, from, timestamp: Math.floor(Date.now() / 1000) })
  }

  _publishSafe(event, data) {
    try {
      this.publish(event, data)
    } catch (err) {
      this.logger.error({ err, event }, 'whatsapp: publishing failed')
    }
  }
}

/**
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms) {
  /** @type {NodeJS.Timeout} */
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * NATS mode (BRIDGE_NATS_URL): the connection, the event sink and the command subscription.
 *
 * The connection is made in the background: while NATS is unreachable at start the bridge
 * runs anyway (events are journaled and published once NATS comes), retrying with a jittered,
 * capped backoff and saying so with the URL. Once connected, the client reconnects by itself
 * forever; each drop and each return is handed to the sink, which logs the outage once.
 *
 * Commands: core request/reply on `<prefix>.<session>.cmd`, same JSON as the ZeroMQ ROUTER,
 * answered by commands.js's dispatcher. The subscription exists only between
 * startCommands() and stopCommands(), so the lease module (bridge-failover) can serve a
 * session only while it holds the session's lease.
 */
import { connect } from '@nats-io/transport-node'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { Backoff } from './backoff.js'
import { largeBucket } from './nats-large.js'
import { NatsSink } from './nats-sink.js'
import { streamConfig, subjects } from './nats-stream.js'

/** nats.js reconnects every 1-2 s once it has been connected: quick after a server restart, never a tight loop. */
const RECONNECT = { reconnect: true, maxReconnectAttempts: -1, reconnectTimeWait: 1000, reconnectJitter: 1000 }
// A dead peer behind a silent network (no RST) is noticed within about 15 s.
const PING = { pingInterval: 5000, maxPingOut: 3 }
const CONNECT_TIMEOUT_MS = 5000
// Replies over NATS must fit the server's max_payload (1 MiB by default).
export const NATS_REPLAY_MAX_BYTES = 512 * 1024

export class NatsTransport {
  /**
   * @param {object} opts
   * @param {Readonly<import('./config.js').NatsSetting>} opts.settings
   * @param {string} opts.session
   * @param {import('./journal.js').Journal} opts.journal
   * @param {string} opts.epoch
   * @param {() => string} [opts.lease] Wa-Lease header value (the lease's fencing term); "0" without leases
   * @param {() => boolean} [opts.fenced] true once this host lost its session's lease
   * @param {import('pino').Logger} opts.logger
   * @param {Backoff} [opts.backoff] delays between connection attempts at start
   */
  constructor({ settings, session, journal, epoch, lease = () => '0', fenced = () => false, logger, backoff = new Backoff({ minMs: 500, maxMs: 10000 }) }) {
    this.settings = settings
    this.subjects = subjects(settings.prefix, session)
    this.session = session
    this.logger = logger
    this.backoff = backoff
    this.sink = new NatsSink({
      journal,
      epoch,
      stream: streamConfig(settings),
      subjects: this.subjects,
      large: { bucket: largeBucket(settings.prefix), session },
      bufferMax: settings.buffer,
      lease,
      fenced,
      logger,
    })
    /** @type {import('@nats-io/transport-node').NatsConnection|null} */
    this.nc = null
    /** @type {((payload: string) => Promise<string>)|null} set while commands are served */
    this.dispatch = null
    /** @type {import('@nats-io/transport-node').Subscription|null} */
    this.sub = null
    this.closed = false
    /** @type {(() => void)|null} wakes the start-up retry sleep on close */
    this.wake = null
  }

  /** What `state` reports beside today's fields. */
  state() {
    const { durableSeq, buffered, natsConnected } = this.sink.state()
    return { durableSeq, buffered, natsConnected }
  }

  /**
   * Use `nc` (connected already, as a lease holder's is), or connect in the background.
   * Resolves once connected (or closed first). Never rejects.
   * @param {import('@nats-io/transport-node').NatsConnection|null} [given]
   */
  async start(given = null) {
    const nc = given ?? (await connectNats({
      settings: this.settings,
      session: this.session,
      logger: this.logger,
      backoff: this.backoff,
      closed: () => this.closed,
      onWait: (wake) => (this.wake = wake),
    }))
    this.wake = null
    if (!nc) return
    if (this.closed) {
      await nc.close()
      return
    }
    this.nc = nc
    this.#watch(nc)
    this.sink.attach(nc, jetstream(nc), await jetstreamManager(nc, { checkAPI: false }))
    if (this.dispatch) this.#subscribe()
  }

  /** @param {import('@nats-io/transport-node').NatsConnection} nc */
  async #watch(nc) {
    for await (const s of nc.status()) {
      if (s.type === 'disconnect') this.sink.detach()
      else if (s.type === 'reconnect') {
        this.sink.attach(nc, jetstream(nc), await jetstreamManager(nc, { checkAPI: false }))
        this.logger.info({ url: this.settings.display, ...this.sink.state() }, 'NATS connection restored')
      }
    }
  }

  /**
   * Serve commands from now on (at once if connected, else as soon as NATS is).
   * @param {(payload: string) => Promise<string>} dispatch commands.js createDispatcher
   */
  startCommands(dispatch) {
    this.dispatch = dispatch
    if (this.nc && !this.sub) this.#subscribe()
  }

  /** Stop answering commands at once (unsubscribe; requests in progress still get their reply). */
  stopCommands() {
    this.dispatch = null
    this.sub?.unsubscribe()
    this.sub = null
  }

  #subscribe() {
    const nc = /** @type {import('@nats-io/transport-node').NatsConnection} */ (this.nc)
    this.sub = nc.subscribe(this.subjects.cmd, {
      callback: (err, msg) => {
        if (err) {
          this.logger.warn({ err: String(err) }, 'command subscription error')
          return
        }
        const dispatch = this.dispatch
        if (!dispatch || !msg.reply) return
        const request = msg.string()
        dispatch(request)
          .then((reply) => {
            try {
              msg.respond(reply)
            } catch (e) {
              // A reply over the server's max_payload: the caller gets an error, not silence.
              this.logger.warn({ bytes: reply.length, err: String(e) }, 'command reply too large for NATS')
              msg.respond(JSON.stringify({ id: requestId(request), ok: false, error: { code: 'failed', message: 'the reply exceeds the NATS max_payload' } }))
            }
          })
          .catch((e) => this.logger.error({ err: String(e) }, 'command reply failed'))
      },
    })
  }

  /** Shutdown: stop publishing, flush what the client holds, close. */
  async close() {
    this.closed = true
    this.wake?.()
    this.sink.close()
    this.stopCommands()
    const nc = this.nc
    this.nc = null
    if (nc && !nc.isClosed()) {
      // Flush what the client holds, but a server that is away must not hold up the exit.
      if (this.sink.connected) await Promise.race([nc.flush().catch(() => {}), new Promise((r) => setTimeout(r, 500).unref())])
      await nc.close()
    }
  }
}

/**
 * Follow a connection: `onChange(false)` at each drop, `onChange(true)` at each return.
 * @param {import('@nats-io/transport-node').NatsConnection} nc @param {(up: boolean) => void} onChange
 */
export async function watchConnection(nc, onChange) {
  for await (const s of nc.status()) {
    if (s.type === 'disconnect') onChange(false)
    else if (s.type === 'reconnect') onChange(true)
  }
}

/**
 * Connect, retrying with a jittered, capped backoff while NATS is unreachable, and saying so
 * with the URL (never the credentials) at every attempt: at most one line per 0.5-10 s.
 * @param {object} opts
 * @param {Readonly<import('./config.js').NatsSetting>} opts.settings
 * @param {string} opts.session
 * @param {import('pino').Logger} opts.logger
 * @param {Backoff} [opts.backoff]
 * @param {() => boolean} [opts.closed] give up (resolve null) once this says so
 * @param {(wake: () => void) => void} [opts.onWait] receives a function that cuts a wait short
 * @returns {Promise<import('@nats-io/transport-node').NatsConnection|null>}
 */
export async function connectNats({ settings, session, logger, backoff = new Backoff({ minMs: 500, maxMs: 10000 }), closed = () => false, onWait = () => {} }) {
  const url = settings.display
  for (let attempt = 1; !closed(); attempt++) {
    try {
      const nc = await connect({
        servers: /** @type {string[]} */ (settings.servers),
        name: `wa-bridge ${session}`,
        timeout: CONNECT_TIMEOUT_MS,
        ...RECONNECT,
        ...PING,
      })
      logger.info({ url, attempt }, 'connected to NATS')
      return nc
    } catch (err) {
      const retryInMs = backoff.next()
      logger.warn({ url, attempt, retryInMs, err: String(/** @type {any} */ (err)?.message ?? err) }, 'NATS unreachable; retrying')
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, retryInMs)
        onWait(() => {
          clearTimeout(timer)
          resolve(undefined)
        })
      })
    }
  }
  return null
}

/** The id of a request, for an error reply; null when it has none. @param {string} request */
function requestId(request) {
  try {
    const id = JSON.parse(request)?.id
    return typeof id === 'string' || typeof id === 'number' ? id : null
  } catch {
    return null
  }
}

/**
 * Entry point: config -> logger -> journal -> PUB -> ROUTER -> bridge.started -> live or replay.
 * With BRIDGE_NATS_URL, NATS JetStream takes the place of PUB and ROUTER (nats-transport.js).
 *
 * Exit codes: 0 after SIGTERM/SIGINT, 1 when an endpoint cannot be bound or the journal
 * cannot be opened, 2 for invalid configuration, 3 when NATS mode fenced this host off (its
 * session lease was lost, or another host wrote the auth state): its supervisor restarts it
 * as a standby.
 *
 * NATS mode: the bridge first waits as a standby for its session's lease (failover.js), then
 * starts as below with a fresh epoch and the auth state in JetStream KV.
 */
import fs from 'node:fs'
import { createRequire } from 'node:module'
import pino from 'pino'
import { encode } from './codec.js'
import { readConfig, ConfigError } from './config.js'
import { createDispatcher, serveRouter } from './commands.js'
import { Journal } from './journal.js'
import { Publisher, bindPubSink, newEpoch } from './publisher.js'
import { NATS_REPLAY_MAX_BYTES, NatsTransport, connectNats, watchConnection } from './nats-transport.js'
import { holdSession } from './failover.js'
import { serverOptions, startZap } from './curve.js'
import { Recorder } from './recorder.js'
import { Replayer } from './replay.js'
import { StatusFile, statusPath } from './status-file.js'
import { ReplaySends } from './replay-sends.js'
import { removeAuthTrash } from './auth-state.js'
import { proxyAgents, scrubber } from './proxy.js'
import { WhatsApp } from './whatsapp.js'
import { bridgeId } from './identity.js'
import { ReplayMedia, DEFAULT_MEDIA_DIR } from './replay-media.js'

const SHUTDOWN_DEADLINE_MS = 2000
const FENCED_EXIT_CODE = 3
// Bounded: a fenced host must be gone long before its successor's WhatsApp socket opens.
const FENCED_DEADLINE_MS = 1500

/** @returns {Record<string, string>} */
function versions() {
  const require = createRequire(import.meta.url)
  const baileysPkg = new URL('../package.json', import.meta.resolve('@whiskeysockets/baileys'))
  return {
    bridge: require('../package.json').version,
    baileys: JSON.parse(fs.readFileSync(baileysPkg, 'utf8')).version,
    node: process.versions.node,
  }
}

/**
 * pino's default error serializer copies every enumerable property, and a Boom's `data`
 * can be a whole message (text, media keys): keep only what diagnoses the failure.
 * @param {any} err
 */
function safeErr(err) {
  if (!err || typeof err !== 'object') return err
  return { type: err.name, message: err.message, statusCode: err.output?.statusCode, stack: err.stack }
}

async function main() {
  let config
  try {
    config = readConfig(process.env)
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err
    pino().fatal({ err: err.message }, 'invalid configuration')
    process.exit(2)
  }
  const logger = pino({
    level: config.logLevel,
    base: { pid: process.pid, name: 'bridge' },
    serializers: { err: safeErr },
    hooks: { streamWrite: scrubber(config.proxy?.secrets ?? []) },
  })
  const mode = config.replay ? 'replay' : 'live'
  // What SIGTERM/SIGINT do changes as the bridge starts. One that comes while the bridge is
  // still setting up is kept and acted on once it can stop cleanly (a default-action signal
  // would kill it by signal, with its lease still held).
  /** @type {string|null} */
  let pendingSignal = null
  /** @type {(signal: string) => void} */
  let onSignal = (signal) => (pendingSignal = signal)
  process.on('SIGTERM', () => onSignal('SIGTERM'))
  process.on('SIGINT', () => onSignal('SIGINT'))
  const epoch = newEpoch()
  /** @type {((why: string) => void)|null} set once the bridge is up; before, fencing just exits */
  let onFenced = null
  /** @type {Awaited<ReturnType<typeof holdSession>>|null} */
  let held = null
  /** @type {Awaited<ReturnType<typeof connectNats>>|null} */
  let nc = null
  // The Docker healthcheck's source in NATS mode, from the start: a standby answers no commands.
  let natsUp = false
  const status = config.nats ? new StatusFile({ file: statusPath(config.dataDir), natsConnected: () => natsUp, role: 'starting', logger }) : null
  if (config.nats) {
    fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
    status?.start()
    const standby = new AbortController()
    const abort = () => {
      standby.abort()
      if (nc) return
      status?.stop()
      process.exit(0) // still waiting for NATS itself: nothing to hand over
    }
    onSignal = abort
    try {
      // One connection for the lease, the auth state, the events and the commands.
      nc = await connectNats({ settings: config.nats, session: config.session, logger: logger.child({ module: 'nats' }) })
      if (!nc) throw new Error('unreachable: connectNats gives up only when closed')
      natsUp = true
      void watchConnection(nc, (up) => (natsUp = up))
      status?.setRole('standby')
      held = await holdSession({
        nc,
        config,
        epoch,
        logger: logger.child({ module: 'failover' }),
        signal: standby.signal,
        onFenced: (why) => (onFenced ? onFenced(why) : fencedExit(logger, why)),
      })
    } catch (err) {
      if (!standby.signal.aborted) throw err
    }
    if (standby.signal.aborted) {
      logger.info('standby: stopped before the bridge started')
      status?.stop()
      await held?.lease.release()
      await nc?.close()
      process.exit(0)
    }
    onSignal = (signal) => (pendingSignal = signal)
    status?.setRole('holder')
  }
  const lease = held?.lease ?? null
  /** Fencing: a host that no longer holds its session sends nothing at all. */
  const fenced = () => lease !== null && !lease.held()
  if (config.testDropSeqs.size) {
    logger.warn({ seqs: [...config.testDropSeqs] }, 'BRIDGE_TEST_DROP_SEQS is set: these seqs are journaled but NOT published')
  }

  fs.mkdirSync(config.dataDir, { recursive: true, mode: 0o700 })
  /** @type {import('./identity.js').Identity} who this bridge is: announced, never interpreted here */
  const identity = { bridgeId: bridgeId(config.dataDir), session: config.session }
  const journal = new Journal({
    dir: config.journalDir,
    maxEvents: config.journalMaxEvents,
    maxBytes: config.journalMaxBytes,
    segmentBytes: config.journalSegmentBytes,
    ringSize: config.ringSize,
    logger: logger.child({ module: 'journal' }),
  })
  const previous = journal.last()

  /** @type {WhatsApp|null} */
  let whatsapp = null
  /** @type {Awaited<ReturnType<typeof bindPubSink>>|null} */
  let sink = null
  /** @type {Awaited<ReturnType<typeof serveRouter>>|null} */
  let router = null
  const nats = config.nats
    ? new NatsTransport({
        settings: config.nats,
        session: config.session,
        journal,
        epoch,
        lease: () => String(lease?.term ?? 0),
        fenced,
        logger: logger.child({ module: 'nats' }),
      })
    : null
  const publisher = new Publisher({
    journal,
    epoch,
    sink: nats ? nats.sink : { send: (f) => sink?.send(f) },
    heartbeatMs: config.heartbeatMs,
    dropSeqs: config.testDropSeqs,
    status: () => ({
      ...identity,
      connection: whatsapp ? whatsapp.connection : 'idle',
      mode,
      lastFrameAgeMs: whatsapp ? whatsapp.lastFrameAgeMs : null,
    }),
  })
  /** @param {string} event @param {unknown} data */
  const publish = (event, data) => {
    if (fenced()) throw new Error(`not the session holder: ${event} not published`)
    return publisher.publish(event, data)
  }
  const vers = versions()

  /** @type {Record<string, unknown>} */
  let curve = {}
  try {
    if (!nats) curve = serverOptions(config)
  } catch (err) {
    logger.fatal({ err: String(err) }, 'unsafe endpoint configuration')
    journal.close()
    process.exit(2)
  }
  const zap = !nats && config.curveClients.length ? await startZap(config.curveClients, logger) : null
  try {
    if (!nats) sink = await bindPubSink({ endpoint: config.pub, hwm: config.pubHwm, logger, curve })
  } catch (err) {
    logger.fatal({ endpoint: config.pub, err: String(err) }, 'cannot bind the PUB endpoint (address in use?)')
    journal.close()
    process.exit(1)
  }
  const recorder = mode === 'live' && config.record ? new Recorder(config.record) : null
  if (mode === 'live') {
    await removeAuthTrash(config.authDir)
    const proxy = config.proxy ? proxyAgents(config.proxy) : null
    whatsapp = new WhatsApp({ config, publish, logger: logger.child({ module: 'whatsapp' }), recorder, proxy, authStore: held?.authStore })
  }
  const replaySends = mode === 'replay'
    ? new ReplaySends({
      publish,
      logger: logger.child({ module: 'replay-sends' }),
      commandLog: config.commandLog,
      media: new ReplayMedia(config.replayMedia ?? DEFAULT_MEDIA_DIR, logger.child({ module: 'replay-media' })),
    })
    : null
  const dispatch = createDispatcher({
    mode,
    journal,
    publisher,
    whatsapp,
    replaySends,
    lease,
    commandTimeoutMs: config.commandTimeoutMs,
    versions: vers,
    proxy: config.proxy?.display ?? null,
    identity,
    logger: logger.child({ module: 'commands' }),
    ...(nats && { transport: () => nats.state(), replayMaxBytes: NATS_REPLAY_MAX_BYTES }),
  })
  try {
    if (!nats) router = await serveRouter({ endpoint: config.router, dispatch, logger, curve })
  } catch (err) {
    logger.fatal({ endpoint: config.router, err: String(err) }, 'cannot bind the ROUTER endpoint (address in use?)')
    sink?.close()
    journal.close()
    process.exit(1)
  }

  /** @param {string} where @param {unknown} err */
  const reportError = (where, err) => {
    logger.error({ err, where }, 'unexpected error')
    try {
      publish('bridge.error', { where, error: encode(err) })
    } catch (e) {
      logger.error({ err: e }, 'cannot publish bridge.error')
    }
  }
  // A stray rejection inside Baileys must not take the bridge (and every subscriber's
  // stream) down; it is reported on the wire instead.
  process.on('unhandledRejection', (err) => reportError('unhandledRejection', err))
  process.on('uncaughtException', (err) => reportError('uncaughtException', err))

  publish('bridge.started', { ...identity, pid: process.pid, mode, versions: vers, previous })
  publisher.startHeartbeat()
  const endpoints = nats
    ? { nats: config.nats?.display, stream: config.nats?.stream, prefix: config.nats?.prefix, session: config.session }
    : { pub: config.pub, router: config.router }
  logger.info({ epoch: publisher.epoch, ...identity, mode, ...endpoints, term: lease?.term, proxy: config.proxy?.display ?? null, previous }, 'bridge started')

  /** @type {Replayer|null} */
  let replayer = null
  // What a session's holder runs: the capture or the WhatsApp socket (and, in NATS mode, the
  // event publishing and the command subscription).
  const activate = () => {
    nats?.sink.start()
    nats?.startCommands(dispatch)
    if (mode === 'replay') {
      replayer = new Replayer({ file: /** @type {string} */ (config.replay), rate: config.replayRate, publish, logger })
      replayer.run().catch((err) => reportError('replay', err))
    } else if (config.autoConnect && whatsapp) {
      whatsapp.connect().catch(() => {}) // already reported as bridge.error by WhatsApp
    }
  }
  // NATS mode: this host holds the session's lease by now (failover.js), on this connection.
  void nats?.start(nc)
  activate()

  let stopping = false
  onFenced = (why) => {
    if (stopping) return
    stopping = true
    publisher.stopHeartbeat()
    nats?.stopCommands()
    nats?.sink.stop()
    replayer?.stop()
    logger.fatal({ why, session: config.session, term: lease?.term }, 'fenced off: this host no longer holds its session; closing WhatsApp and exiting')
    setTimeout(() => process.exit(FENCED_EXIT_CODE), FENCED_DEADLINE_MS)
    void (whatsapp?.close(FENCED_DEADLINE_MS - 500) ?? Promise.resolve()).finally(() => process.exit(FENCED_EXIT_CODE))
  }
  /** @param {string} signal */
  const shutdown = async (signal) => {
    if (stopping) return
    stopping = true
    logger.info({ signal }, 'shutting down')
    setTimeout(() => {
      logger.warn('shutdown deadline passed; exiting')
      process.exit(0)
    }, SHUTDOWN_DEADLINE_MS).unref()
    replayer?.stop()
    replaySends?.close()
    publisher.stopHeartbeat()
    try {
      await whatsapp?.close()
    } catch (err) {
      logger.warn({ err }, 'ending the WhatsApp socket failed')
    }
    // After the socket is closed, so the successor never logs in beside us.
    await lease?.release()
    recorder?.close()
    status?.stop()
    await nats?.close().catch((err) => logger.warn({ err: String(err) }, 'closing the NATS connection failed'))
    journal.close()
    router?.close()
    sink?.close()
    zap?.close()
    process.exit(0)
  }
  onSignal = (signal) => void shutdown(signal)
  if (pendingSignal) void shutdown(pendingSignal)
}

/** Fenced before the bridge is up: nothing to close yet. @param {import('pino').Logger} logger @param {string} why */
function fencedExit(logger, why) {
  logger.fatal({ why }, 'fenced off while starting; exiting')
  process.exit(FENCED_EXIT_CODE)
}

main().catch((err) => {
  // Only reached for failures before the bridge is up (e.g. an unreadable journal).
  console.error(JSON.stringify({ level: 60, msg: 'bridge failed to start', err: String(err?.stack ?? err) }))
  process.exit(1)
})

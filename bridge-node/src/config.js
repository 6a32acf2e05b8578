/**
 * Bridge configuration: read from the environment ONCE, at the edge (main.js), into a
 * frozen object that is passed down. No other module reads process.env.
 *
 * Invalid values raise a ConfigError; main.js logs it and exits with status 2 so a
 * supervisor can tell "misconfigured" from "crashed".
 */
import path from 'node:path'
import { HISTORY_MODES } from './history.js'

/** Raised for an environment variable whose value cannot be parsed. */
export class ConfigError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message)
    this.name = 'ConfigError'
  }
}

/**
 * @typedef {object} BridgeConfig
 * @property {string} pub ZeroMQ PUB endpoint to bind.
 * @property {string} router ZeroMQ ROUTER endpoint to bind.
 * @property {string} dataDir Root of the bridge's persistent state.
 * @property {string} authDir `<dataDir>/auth`: Baileys credentials and signal keys.
 * @property {string} journalDir `<dataDir>/journal`: envelope journal segments.
 * @property {string|null} replay Capture file to replay instead of connecting to WhatsApp.
 * @property {number} replayRate Replay events per second; 0 = as fast as possible.
 * @property {string|null} replayMedia Replay mode: directory of the capture's media files, found by SHA-256 (default: scripts/demo-media).
 * @property {string|null} record Capture file to append every raw event to (live mode).
 * @property {string|null} curveSecretKey CURVE server keys (Z85); required off loopback
 * @property {string|null} curvePublicKey
 * @property {string[]} curveClients client public keys admitted (empty: any with the server key)
 * @property {string|null} commandLog Replay mode: file to append every received command to (JSON lines `{method, params}`).
 * @property {string|null} waUrl WhatsApp WebSocket URL override (tests); null = Baileys default.
 * @property {boolean} autoConnect Open the WhatsApp socket at boot (live mode).
 * @property {number} keepAliveMs Baileys' keep-alive ping interval; a server silent for this + 5 s is a lost connection (408).
 * @property {number} heartbeatMs Heartbeat period.
 * @property {number} journalMaxEvents Journal retention bound (events).
 * @property {number} journalMaxBytes Journal retention bound (bytes).
 * @property {number} journalSegmentBytes Size at which a journal segment is rotated.
 * @property {number} ringSize Recent envelopes kept in memory.
 * @property {number} pubHwm ZeroMQ send high-water mark of the PUB socket.
 * @property {number} commandTimeoutMs Default command timeout.
 * @property {number} sentCacheSize Messages kept for Baileys' getMessage (retries).
 * @property {string} logLevel pino level.
 * @property {boolean} syncFullHistory Ask the phone for the full history on first login (history === 'full').
 * @property {import('./history.js').HistoryMode} history What the first history sync brings.
 * @property {boolean} markOnlineOnConnect Announce the account `available` on connect (the phone then stops notifying).
 * @property {ReadonlySet<number>} testDropSeqs Seqs journaled but NOT published (test switch).
 * @property {ProxySetting|null} proxy Outbound proxy for everything the WhatsApp side opens (BRIDGE_PROXY).
 * @property {string} session This bridge's session id (BRIDGE_SESSION): a NATS subject token and bucket key.
 * @property {number} leaseTtlMs Session lease TTL in NATS mode (BRIDGE_LEASE_TTL_MS; the leases bucket's max_age).
 * @property {NatsSetting|null} nats JetStream instead of ZeroMQ (BRIDGE_NATS_URL set); null = ZeroMQ PUB/ROUTER.
 */

/**
 * @typedef {object} NatsSetting
 * @property {string} display The server URLs without credentials, the only form ever logged or reported.
 * @property {string[]} servers The URLs as given, credentials included (non-enumerable).
 * @property {string} stream Stream name (BRIDGE_NATS_STREAM).
 * @property {string} prefix Subject prefix (BRIDGE_NATS_PREFIX): `<prefix>.<session>.events|heartbeat|cmd`.
 * @property {number} maxAgeS Stream retention by age, seconds.
 * @property {number} maxBytes Stream retention by size, bytes.
 * @property {number} replicas Stream replicas (a cluster's size at most).
 * @property {number} buffer Envelopes held in memory while JetStream has not acknowledged them; beyond, only in the journal.
 */

/**
 * @typedef {object} ProxySetting
 * @property {string} display `scheme://host:port`, the only form ever logged or reported.
 * @property {string} url The whole URL, credentials included (non-enumerable).
 * @property {string[]} secrets The password as it may appear in text: decoded, percent-encoded,
 *   JSON-escaped (non-enumerable; empty without a password).
 */

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']

/**
 * Every variable: name -> [default, parser]. One table so ENV_NAMES cannot drift from
 * what readConfig actually reads.
 * @type {Record<string, [string|undefined, (name: string, raw: string) => any]>}
 */
const SPEC = {
  BRIDGE_PUB: ['tcp://127.0.0.1:5555', str],
  BRIDGE_ROUTER: ['tcp://127.0.0.1:5556', str],
  BRIDGE_DATA_DIR: ['./data/bridge', str],
  BRIDGE_REPLAY: [undefined, str],
  BRIDGE_REPLAY_RATE: ['0', nonNegativeNumber],
  BRIDGE_REPLAY_MEDIA: [undefined, str],
  BRIDGE_RECORD: [undefined, str],
  BRIDGE_COMMAND_LOG: [undefined, str],
  BRIDGE_CURVE_SECRET_KEY: [undefined, str],
  BRIDGE_CURVE_PUBLIC_KEY: [undefined, str],
  BRIDGE_CURVE_CLIENTS: [undefined, str],
  BRIDGE_WA_URL: [undefined, str],
  BRIDGE_AUTO_CONNECT: ['true', bool],
  BRIDGE_KEEPALIVE_MS: ['30000', positiveInt],
  BRIDGE_HEARTBEAT_MS: ['1000', positiveInt],
  BRIDGE_JOURNAL_MAX_EVENTS: ['200000', positiveInt],
  BRIDGE_JOURNAL_MAX_BYTES: ['268435456', positiveInt],
  BRIDGE_JOURNAL_SEGMENT_BYTES: ['8388608', positiveInt],
  BRIDGE_RING_SIZE: ['20000', positiveInt],
  BRIDGE_PUB_HWM: ['100000', positiveInt],
  BRIDGE_COMMAND_TIMEOUT_MS: ['30000', positiveInt],
  BRIDGE_SENT_CACHE_SIZE: ['5000', positiveInt],
  BRIDGE_LOG_LEVEL: ['info', logLevel],
  BRIDGE_SYNC_FULL_HISTORY: ['false', bool],
  BRIDGE_TEST_DROP_SEQS: [undefined, seqList],
  BRIDGE_MARK_ONLINE_ON_CONNECT: ['false', bool],
  BRIDGE_HISTORY: [undefined, historyMode],
  BRIDGE_PROXY: [undefined, proxy],
  BRIDGE_SESSION: ['default', token],
  BRIDGE_NATS_URL: [undefined, natsServers],
  BRIDGE_NATS_STREAM: ['WA_EVENTS', token],
  BRIDGE_NATS_PREFIX: ['wa', token],
  BRIDGE_NATS_MAX_AGE_S: ['604800', positiveInt],
  BRIDGE_NATS_MAX_BYTES: ['1073741824', positiveInt],
  BRIDGE_NATS_REPLICAS: ['1', replicas],
  BRIDGE_NATS_BUFFER: ['100000', positiveInt],
  // Above twice the 1 s deadline margin of lease.js, so a holder renews before it gives up.
  BRIDGE_LEASE_TTL_MS: ['10000', leaseTtl],
}

/** Every BRIDGE_* variable this bridge understands (compose.yaml is diffed against it). */
export const ENV_NAMES = Object.freeze(Object.keys(SPEC))

/**
 * Parse the environment into a frozen config.
 * Empty strings count as unset, so `BRIDGE_REPLAY=` in a compose file means "off".
 * @param {Record<string, string|undefined>} env
 * @returns {Readonly<BridgeConfig>}
 * @throws {ConfigError}
 */
export function readConfig(env) {
  /** @type {Record<string, any>} */
  const v = {}
  for (const [name, [def, parse]] of Object.entries(SPEC)) {
    const raw = env[name] === undefined || env[name] === '' ? def : env[name]
    v[name] = raw === undefined ? null : parse(name, raw.trim())
  }
  const dataDir = path.resolve(v.BRIDGE_DATA_DIR)
  // BRIDGE_HISTORY wins; unset, the older BRIDGE_SYNC_FULL_HISTORY=true still means full.
  const history = v.BRIDGE_HISTORY ?? (v.BRIDGE_SYNC_FULL_HISTORY ? 'full' : 'recent')
  return Object.freeze({
    pub: v.BRIDGE_PUB,
    router: v.BRIDGE_ROUTER,
    dataDir,
    authDir: path.join(dataDir, 'auth'),
    journalDir: path.join(dataDir, 'journal'),
    replay: v.BRIDGE_REPLAY,
    replayRate: v.BRIDGE_REPLAY_RATE,
    replayMedia: v.BRIDGE_REPLAY_MEDIA ?? null,
    record: v.BRIDGE_RECORD,
    commandLog: v.BRIDGE_COMMAND_LOG,
    curveSecretKey: v.BRIDGE_CURVE_SECRET_KEY ?? null,
    curvePublicKey: v.BRIDGE_CURVE_PUBLIC_KEY ?? null,
    curveClients: (v.BRIDGE_CURVE_CLIENTS ?? '').split(',').map((k) => k.trim()).filter(Boolean),
    waUrl: v.BRIDGE_WA_URL,
    autoConnect: v.BRIDGE_AUTO_CONNECT,
    keepAliveMs: v.BRIDGE_KEEPALIVE_MS,
    heartbeatMs: v.BRIDGE_HEARTBEAT_MS,
    journalMaxEvents: v.BRIDGE_JOURNAL_MAX_EVENTS,
    journalMaxBytes: v.BRIDGE_JOURNAL_MAX_BYTES,
    journalSegmentBytes: v.BRIDGE_JOURNAL_SEGMENT_BYTES,
    ringSize: v.BRIDGE_RING_SIZE,
    pubHwm: v.BRIDGE_PUB_HWM,
    commandTimeoutMs: v.BRIDGE_COMMAND_TIMEOUT_MS,
    sentCacheSize: v.BRIDGE_SENT_CACHE_SIZE,
    logLevel: v.BRIDGE_LOG_LEVEL,
    syncFullHistory: history === 'full',
    history,
    testDropSeqs: v.BRIDGE_TEST_DROP_SEQS ?? new Set(),
    markOnlineOnConnect: v.BRIDGE_MARK_ONLINE_ON_CONNECT,
    proxy: v.BRIDGE_PROXY,
    session: v.BRIDGE_SESSION,
    nats: v.BRIDGE_NATS_URL && natsSetting(v.BRIDGE_NATS_URL, v),
    leaseTtlMs: v.BRIDGE_LEASE_TTL_MS,
  })
}

/**
 * @param {{display: string, servers: string[]}} url the parsed BRIDGE_NATS_URL
 * @param {Record<string, any>} v every parsed variable
 * @returns {Readonly<NatsSetting>}
 */
function natsSetting(url, v) {
  const setting = {
    display: url.display,
    stream: v.BRIDGE_NATS_STREAM,
    prefix: v.BRIDGE_NATS_PREFIX,
    maxAgeS: v.BRIDGE_NATS_MAX_AGE_S,
    maxBytes: v.BRIDGE_NATS_MAX_BYTES,
    replicas: v.BRIDGE_NATS_REPLICAS,
    buffer: v.BRIDGE_NATS_BUFFER,
  }
  Object.defineProperty(setting, 'servers', { value: Object.freeze(url.servers), enumerable: false })
  return /** @type {Readonly<NatsSetting>} */ (Object.freeze(setting))
}

/** @param {string} _name @param {string} raw */
function str(_name, raw) {
  return raw
}

/** @param {string} name @param {string} raw */
function bool(name, raw) {
  const s = raw.toLowerCase()
  if (['1', 'true', 'yes', 'on'].includes(s)) return true
  if (['0', 'false', 'no', 'off'].includes(s)) return false
  throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a boolean (true/false/1/0/yes/no/on/off)`)
}

/** @param {string} name @param {string} raw */
function positiveInt(name, raw) {
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN
  if (!Number.isSafeInteger(n) || n < 1) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a positive integer`)
  }
  return n
}

/** @param {string} name @param {string} raw */
function nonNegativeNumber(name, raw) {
  const n = raw === '' ? NaN : Number(raw)
  if (!Number.isFinite(n) || n < 0) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not a non-negative number`)
  }
  return n
}

/**
 * Names that go into NATS subjects, stream and bucket names: no dots, wildcards or spaces.
 * @param {string} name @param {string} raw
 */
function token(name, raw) {
  if (!/^[A-Za-z0-9_-]+$/.test(raw)) throw new ConfigError(`${name}=${JSON.stringify(raw)} may only hold letters, digits, "_" and "-"`)
  return raw
}

/** @param {string} name @param {string} raw */
function replicas(name, raw) {
  const n = positiveInt(name, raw)
  // JetStream's own ceiling for a stream's replicas.
  if (n > 5) throw new ConfigError(`${name}=${JSON.stringify(raw)} must be between 1 and 5`)
  return n
}

/**
 * One URL or a comma-separated list (a cluster's seeds): `nats://`, `tls://`, `ws://`,
 * `wss://` or a bare `host:port`, with optional `user:password@` or a token. Like BRIDGE_PROXY,
 * an error never quotes the value, and only the credential-free form is kept enumerable.
 * @param {string} name @param {string} raw
 * @returns {{display: string, servers: string[]}}
 */
function natsServers(name, raw) {
  const expected = `${name} must be a nats:// (or tls://, ws://, wss://) URL or host:port, or a comma-separated list of them`
  const servers = raw.split(',').map((s) => s.trim()).filter(Boolean)
  if (servers.length === 0) throw new ConfigError(expected)
  const shown = servers.map((server, i) => {
    /** @type {URL} */
    let url
    try {
      url = new URL(/^[a-z]+:\/\//i.test(server) ? server : `nats://${server}`)
    } catch {
      throw new ConfigError(`${expected} (entry ${i + 1} is not a URL)`)
    }
    if (!['nats:', 'tls:', 'ws:', 'wss:'].includes(url.protocol)) throw new ConfigError(`${expected} (entry ${i + 1}: unsupported scheme)`)
    if (!url.hostname) throw new ConfigError(`${expected} (entry ${i + 1}: no host)`)
    if (url.port === '0') throw new ConfigError(`${expected} (entry ${i + 1}: port 0)`)
    return `${url.protocol}//${url.host}`
  })
  return { display: shown.join(','), servers }
}

function leaseTtl(name, raw) {
  const n = positiveInt(name, raw)
  if (n < 3000) throw new ConfigError(`${name}=${JSON.stringify(raw)} is below 3000 (ms)`)
  return n
}

/** @param {string} name @param {string} raw */
function logLevel(name, raw) {
  const s = raw.toLowerCase()
  if (!LOG_LEVELS.includes(s)) {
    throw new ConfigError(`${name}=${JSON.stringify(raw)} is not one of ${LOG_LEVELS.join('/')}`)
  }
  return s
}

/** @param {string} name @param {string} raw */
function seqList(name, raw) {
  const seqs = new Set()
  for (const part of raw.split(',')) {
    const p = part.trim()
    if (p === '') continue
    seqs.add(positiveInt(name, p))
  }
  return seqs
}

/**
 * `full`, `recent` or `none`. `days:N` is accepted as `recent`, so that compose can hand the
 * orchestrator's ORCH_HISTORY to both programs: the orchestrator drops what is older.
 * @param {string} name @param {string} raw
 */
function historyMode(name, raw) {
  const s = raw.toLowerCase()
  if (HISTORY_MODES.includes(/** @type {any} */ (s))) return s
  if (/^days:\d+$/.test(s) && Number(s.slice(5)) >= 1) return 'recent'
  throw new ConfigError(`${name}=${JSON.stringify(raw)} is not one of ${HISTORY_MODES.join('/')} or days:N`)
}

const PROXY_PORTS = /** @type {Record<string, number>} */ ({ 'http:': 80, 'https:': 443, 'socks5:': 1080, 'socks5h:': 1080 })

/**
 * `http://`, `https://`, `socks5://` or `socks5h://` (the proxy resolves names), with an
 * optional `user:password@`. The value may hold a password, so unlike the other parsers the
 * error never quotes it; and the URL and password are non-enumerable, so that serializing the
 * config (a log line, a report) cannot carry them.
 * @param {string} name @param {string} raw
 * @returns {Readonly<ProxySetting>}
 */
function proxy(name, raw) {
  const expected = `${name} must be an http://, https://, socks5:// or socks5h:// URL: scheme://[user:password@]host[:port]`
  /** @type {URL} */
  let url
  try {
    url = new URL(raw)
  } catch {
    throw new ConfigError(`${expected} (it is not a URL)`)
  }
  const defaultPort = PROXY_PORTS[url.protocol]
  if (defaultPort === undefined) throw new ConfigError(`${expected} (unsupported scheme)`)
  if (!url.hostname) throw new ConfigError(`${expected} (no host)`)
  if ((url.pathname !== '' && url.pathname !== '/') || url.search || url.hash) throw new ConfigError(`${expected} (nothing may follow the port)`)
  if (url.port === '0') throw new ConfigError(`${expected} (port 0)`)
  const port = url.port === '' ? defaultPort : Number(url.port)
  /** @type {string} */
  let password
  try {
    decodeURIComponent(url.username) // the proxy libraries decode both; fail here, not at connect
    password = decodeURIComponent(url.password)
  } catch {
    throw new ConfigError(`${expected} (bad %-escape in the user or password)`)
  }
  const secrets = password ? [...new Set([password, url.password, JSON.stringify(password).slice(1, -1)])] : []
  const setting = { display: `${url.protocol}//${url.hostname}:${port}` }
  Object.defineProperties(setting, {
    url: { value: url.href, enumerable: false },
    secrets: { value: Object.freeze(secrets), enumerable: false },
  })
  return /** @type {Readonly<ProxySetting>} */ (Object.freeze(setting))
}

/**
 * The simulated WhatsApp server: accepts companion WebSocket connections (one Session
 * each), holds the account (AccountStore), counts what happened, and carries out the
 * control operations (scan, disconnect, silence, forget, logout from phone).
 *
 * Errors for the control API are SimError(status, code, message); nothing here does HTTP.
 */
import { makeServerIdentity } from './certs.js'
import { streamError } from './nodes.js'
import { parseQr } from './pairing.js'
import { PresenceError, Presences } from './presence.js'
import { readRegistration } from './registration.js'
import { Session } from './session.js'
import { AppState } from './appstate.js'
import { World, WorldError } from './world.js'
import { Calls } from './calls.js'

/** An operation that cannot be carried out now; `status` is the HTTP status to answer. */
export class SimError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message)
    this.name = 'SimError'
    this.status = status
    this.code = code
  }
}

/** How long /scan waits for the companion to sign the pairing. */
const PAIR_TIMEOUT_MS = 10000

/**
 * How each disconnect reason is produced, i.e. what makes Baileys 7.0.0-rc14 close with
 * that DisconnectReason (Socket/socket.js `CB:stream:error` -> Utils/generics.js
 * getErrorCodeFromStreamError: `code` attribute first, else `conflict` -> 440, else 500).
 * @type {Record<number, {what: string, apply: (s: Session, sim: Simulator) => void}>}
 */
export const DISCONNECTS = {
  515: { what: '<stream:error code="515"/>', apply: (s) => s.end(streamError({ code: '515' })) },
  // A bare <conflict type="device_removed"/> would map to 440 (CODE_MAP.conflict); WhatsApp
  // sends code="401" with it, which is what Baileys reads first.
  401: {
    what: '<stream:error code="401"><conflict type="device_removed"/></stream:error>, device unlinked',
    apply: (s, sim) => {
      if (s.device) sim.store.unlink(s.device.jid)
      s.end(streamError({ code: '401', reason: { tag: 'conflict', attrs: { type: 'device_removed' } } }))
    },
  },
  440: {
    what: '<stream:error><conflict type="replaced"/></stream:error>',
    apply: (s) => s.end(streamError({ reason: { tag: 'conflict', attrs: { type: 'replaced' } } })),
  },
  428: { what: 'socket closed without a stanza', apply: (s) => s.drop() },
  408: { what: 'silence on this session (socket left open; the client keep-alive gives up)', apply: (s) => (s.silent = true) },
  500: { what: '<stream:error code="500"/>', apply: (s) => s.end(streamError({ code: '500' })) },
  503: { what: '<stream:error code="503"/>', apply: (s) => s.end(streamError({ code: '503' })) },
}

/** @typedef {'idle'|'qr'|'pairing'|'online'} Phase */

export class Simulator {
  /**
   * @param {object} opts
   * @param {import('./store.js').AccountStore} opts.store
   * @param {import('./certs.js').ServerIdentity} [opts.identity] Noise static key + cert chain
   * @param {import('./media.js').MediaServer} opts.media the media endpoint (listening)
   * @param {(event: string, fields?: Record<string, unknown>) => void} [opts.log]
   */
  constructor({ store, media, identity = makeServerIdentity(), log = () => {} }) {
    this.store = store
    this.media = media
    this.identity = identity
    this.log = log
    /** @type {Set<Session>} */
    this.sessions = new Set()
    this.silent = false
    /** @type {string|null} */
    this.lastQr = null
    this.counters = { accepted: 0, registrations: 0, logins: 0, pings: 0, removals: 0 }
    /** @type {import('./registration.js').Registration|null} what the last registering device asked for */
    this.registration = null
    /** @type {Record<string, number>} iqs answered, by xmlns */
    this.iqs = {}
    this.world = new World({ store, media, online: (jid) => this.sessionFor(jid), log: (event, fields) => this.log(event, fields) })
    /** WhatsApp Business labels as app-state patches (lib/appstate.js); the iqs reach it through the world. */
    this.appState = new AppState(this.world)
    this.world.appState = this.appState
    /** Calls placed to the account and what its devices did with them (lib/calls.js). */
    this.calls = new Calls(this.world)
    this.presences = new Presences({ world: this.world, online: () => this._online(), log: (event, fields) => this.log(event, fields) })
    /** @type {string|null} the account's business name, given to devices as they pair (POST /account) */
    this.accountName = null
    /** @type {import('./session.js').SessionHost} */
    this.host = {
      identity: this.identity,
      store: this.store,
      isSilent: () => this.silent,
      log: (event, fields) => this.log(event, fields),
      count: (name) => void (this.counters[name] += 1),
      countIq: (xmlns) => void (this.iqs[xmlns] = (this.iqs[xmlns] ?? 0) + 1),
      onClosed: (session) => this.sessions.delete(session),
      world: this.world,
      calls: this.calls,
      presences: this.presences,
      accountName: () => this.accountName,
      registered: (payload) => {
        this.registration = readRegistration(payload)
      },
    }
  }

  /**
   * Serve a client connection.
   * @param {import('ws').WebSocket} ws
   */
  accept(ws) {
    this.counters.accepted += 1
    const session = new Session(ws, this.host)
    this.sessions.add(session)
    this.log('accepted', { session: session.id })
  }

  /**
   * The online session of a linked device (the newest if several).
   * @param {string} jid
   * @returns {Session|null}
   */
  sessionFor(jid) {
    let found = null
    for (const s of this.sessions) if (s.status === 'online' && s.device?.jid === jid) found = s
    return found
  }

  /** @returns {Phase} */
  get phase() {
    const statuses = new Set([...this.sessions].map((s) => s.status))
    if (statuses.has('online')) return 'online'
    if (statuses.has('pairing')) return 'pairing'
    if (statuses.has('qr')) return 'qr'
    return 'idle'
  }

  /** Snapshot for GET /state. */
  state() {
    const phase = this.phase
    return {
      connections: this.sessions.size,
      online: phase === 'online',
      phase,
      paired: this.store.pairedJids(),
      lastQr: this.lastQr,
      pings: this.counters.pings,
      logins: this.counters.logins,
      registrations: this.counters.registrations,
      accepted: this.counters.accepted,
      removals: this.counters.removals,
      silent: this.silent,
      phone: this.store.phoneJid,
      iqs: { ...this.iqs },
      messages: this.world.state(),
      registration: this.registration,
    }
  }

  // Contacts, groups and messages (lib/world.js); WorldErrors become SimErrors.

  /** @param {unknown} body */
  addContact(body) {
    return this._world(() => this.world.addContact(asObject(body)))
  }

  /** @param {unknown} body */
  addGroup(body) {
    return this._world(() => this.world.addGroup(asObject(body)))
  }

  /** @param {unknown} body */
  send(body) {
    return this._world(() => this.world.send(asObject(body)))
  }

  /** @param {unknown} body */
  receipt(body) {
    return this._world(() => this.world.receipt(asObject(body)))
  }

  /** @param {unknown} body */
  history(body) {
    return this._world(() => this.world.history(asObject(body)))
  }

  /** @param {unknown} body */
  editLabel(body) {
    return this._worldAsync(() => this.appState.editLabel(asObject(body)))
  }

  /** @param {unknown} body */
  labelChat(body) {
    return this._worldAsync(() => this.appState.labelChat(asObject(body)))
  }

  /**
   * @template T
   * @param {() => Promise<T>} fn
   * @returns {Promise<T>}
   */
  async _worldAsync(fn) {
    try {
      return await fn()
    } catch (err) {
      if (err instanceof WorldError) throw new SimError(err.status, err.code, err.message)
      throw err
    }
  }

  /** @param {unknown} body */
  typing(body) {
    try {
      return this.presences.typing(asObject(body))
    } catch (err) {
      if (err instanceof PresenceError || err instanceof WorldError) throw new SimError(err.status, err.code, err.message)
      throw err
    }
  }

  /** @param {unknown} body a contact calls the account (lib/calls.js) */
  call(body) {
    return this._world(() => this.calls.place(asObject(body)))
  }

  /**
   * Set the account's name. Baileys only announces `available`/`unavailable` (and so
   * `markOnlineOnConnect`) when it knows one; without app-state sync the only source a
   * device pairs with is the business name in pair-success (`<biz name>`).
   * @param {unknown} body `{name: string|null}`
   */
  setAccount(body) {
    const name = asObject(body).name
    if (name !== null && (typeof name !== 'string' || name === '')) throw new SimError(400, 'bad_params', '"name" must be a non-empty string or null')
    this.accountName = name
    return { name }
  }

  /** @param {string|null} to */
  received(to) {
    return this.world.listReceived(to ?? undefined)
  }

  /**
   * @template T
   * @param {() => T} fn
   * @returns {T}
   */
  _world(fn) {
    try {
      return fn()
    } catch (err) {
      if (err instanceof WorldError) throw new SimError(err.status, err.code, err.message)
      throw err
    }
  }

  /**
   * The phone scans a QR the companion displayed.
   * @param {unknown} qrString exactly what Baileys emitted in connection.update.qr
   * @returns {Promise<{jid: string}>}
   * @throws {SimError} 400 not a QR, 409 no connection is showing it, 502 pairing failed, 504 no answer
   */
  async scan(qrString) {
    const qr = parseQr(qrString)
    if (!qr) throw new SimError(400, 'bad_qr', 'not a WhatsApp linking QR string')
    const session = [...this.sessions].find(
      (s) => s.status === 'qr' && s.noiseKey?.equals(qr.noiseKey) && s.identityKey?.equals(qr.identityKey) && s.refs.includes(qr.ref),
    )
    if (!session) throw new SimError(409, 'nothing_to_pair', 'no open connection is showing this QR')
    this.lastQr = /** @type {string} */ (qrString)
    /** @type {NodeJS.Timeout|undefined} */
    let timer
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new SimError(504, 'pair_timeout', `no pair-device-sign within ${PAIR_TIMEOUT_MS} ms`)), PAIR_TIMEOUT_MS)
    })
    try {
      const jid = await Promise.race([session.pair(qr), timeout])
      return { jid: /** @type {string} */ (jid) }
    } catch (err) {
      if (err instanceof SimError) throw err
      throw new SimError(502, 'pair_failed', /** @type {Error} */ (err).message)
    } finally {
      clearTimeout(timer)
    }
  }

  /**
   * End every online session the way WhatsApp does for `reason`.
   * @param {unknown} reason
   * @returns {{reason: number, jids: string[], what: string}}
   * @throws {SimError} 400 unknown reason, 409 nothing online
   */
  disconnect(reason) {
    const how = typeof reason === 'number' ? DISCONNECTS[reason] : undefined
    if (!how) throw new SimError(400, 'bad_reason', `reason must be one of ${Object.keys(DISCONNECTS).join(', ')}`)
    const online = this._online()
    if (online.length === 0) throw new SimError(409, 'not_online', 'no session is online')
    for (const s of online) how.apply(s, this)
    this.log('disconnect', { reason, sessions: online.map((s) => s.id) })
    return { reason: /** @type {number} */ (reason), jids: online.map((s) => /** @type {any} */ (s.device).jid), what: how.what }
  }

  /**
   * The user unlinks the companion on the phone: online sessions get the 401 device_removed
   * stream error; every linked device is forgotten either way.
   * @returns {{removed: string[]}}
   */
  logoutFromPhone() {
    const removed = this.store.pairedJids()
    if (this._online().length) this.disconnect(401)
    this.store.unlinkAll()
    return { removed }
  }

  /** Forget every linked device (their next login fails with 401). @returns {{removed: string[]}} */
  forget() {
    const removed = this.store.pairedJids()
    this.store.unlinkAll()
    return { removed }
  }

  /**
   * Stop (true) or resume (false) answering and sending anything, on every connection.
   * @param {boolean} on
   */
  setSilent(on) {
    this.silent = Boolean(on)
    return { silent: this.silent }
  }

  /** Drop every connection (shutdown). */
  close() {
    for (const s of this.sessions) s.terminate()
  }

  _online() {
    return [...this.sessions].filter((s) => s.status === 'online')
  }
}

/** @param {unknown} body @returns {Record<string, any>} */
function asObject(body) {
  if (body === null || typeof body !== 'object' || Array.isArray(body)) throw new SimError(400, 'bad_params', 'body must be a JSON object')
  return /** @type {Record<string, any>} */ (body)
}

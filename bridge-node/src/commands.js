/**
 * Commands: request/reply over a ZeroMQ ROUTER (in NATS mode over NATS: nats-transport.js).
 *
 * Request `{"id","method","params"[,"timeoutMs"]}`; reply `{"id","ok":true,"result"}` or
 * `{"id","ok":false,"error":{"code","message",...}}`. The dispatch table below is the one
 * place that lists what the orchestrator may ask. Error codes (each distinct):
 *
 *   bad_request     payload not JSON, no id, no method, params of the wrong shape
 *   unknown_method  method not in the table
 *   bad_params      arguments fail basic checks, or the method threw a TypeError/RangeError
 *   not_connected   needs an open WhatsApp socket and there is none
 *   replay_mode     needs WhatsApp and the bridge is replaying a capture
 *   timeout         no answer within BRIDGE_COMMAND_TIMEOUT_MS (or the request's timeoutMs)
 *   failed          the method threw; carries statusCode when it was a Boom
 *   position_gone   replay from a position the journal no longer holds (+ oldest, last)
 *   not_holder      NATS mode: this host does not hold the session's lease (fenced off)
 *
 * createDispatcher does no zmq I/O and is tested directly; serveRouter is the thin loop.
 */
import zmq from 'zeromq'
import { decode, encode } from './codec.js'
import { REPLAY_METHODS } from './replay-sends.js'
import { SendQueue } from './send-queue.js'

const REPLAY_DEFAULT_LIMIT = 1000
const REPLAY_MAX_LIMIT = 10000
// ZeroMQ has no message size problem at 8 MiB, but a subscriber parsing a huge reply
// stalls its event loop; `more` lets it page instead.
const REPLAY_MAX_BYTES = 8 * 1024 * 1024

export class CommandError extends Error {
  /**
   * @param {string} code
   * @param {string} message
   * @param {Record<string, unknown>} [extra] merged into the reply's error object
   */
  constructor(code, message, extra = {}) {
    super(message)
    this.name = 'CommandError'
    this.code = code
    this.extra = extra
  }
}

/** A reply already serialized by its handler (a plain string result is just a string). */
class RawReply {
  /** @param {string} text */
  constructor(text) {
    this.text = text
  }
}

/**
 * @typedef {object} DispatchContext
 * @property {'live'|'replay'} mode
 * @property {import('./journal.js').Journal} journal
 * @property {{epoch: string, seq: number}} publisher
 * @property {import('./whatsapp.js').WhatsApp|null} whatsapp null in replay mode
 * @property {import('./replay-sends.js').ReplaySends|null} [replaySends] replay mode: simulated sends, command log
 * @property {{held(): boolean}|null} [lease] NATS mode: the session lease, checked before every command
 * @property {number} commandTimeoutMs
 * @property {Record<string, string>} versions
 * @property {string|null} [proxy] BRIDGE_PROXY as scheme://host:port (never its credentials)
 * @property {import('./identity.js').Identity} [identity] who this bridge is (identity.js), in `state`
 * @property {() => Record<string, unknown>} [transport] NATS mode: {durableSeq, buffered, natsConnected}, merged into `state`
 * @property {number} [replayMaxBytes] soft cap of a replay reply (NATS replies must fit max_payload)
 * @property {{warn: Function, error: Function, debug: Function}} logger
 */

/** @type {(a: any) => boolean} */
const isStr = (a) => typeof a === 'string' && a.length > 0
/** @type {(a: any) => boolean} */
const isObj = (a) => a !== null && typeof a === 'object' && !Array.isArray(a)

/**
 * Whitelisted socket methods: positional args (decoded with codec.decode) -> a basic check.
 * `whileConnecting`: pairing codes are requested before the socket is open.
 * @type {Record<string, {check: (args: any[]) => boolean, whileConnecting?: boolean}>}
 */
const SOCKET_METHODS = {
  sendMessage: { check: (a) => isStr(a[0]) && isObj(a[1]) && (a[2] === undefined || isObj(a[2])) },
  readMessages: { check: (a) => Array.isArray(a[0]) && a[0].every(isObj) },
  sendPresenceUpdate: { check: (a) => isStr(a[0]) && (a[1] === undefined || isStr(a[1])) },
  presenceSubscribe: { check: (a) => isStr(a[0]) },
  profilePictureUrl: { check: (a) => isStr(a[0]) && (a[1] === undefined || a[1] === 'preview' || a[1] === 'image') },
  onWhatsApp: { check: (a) => a.length > 0 && a.every(isStr) },
  groupMetadata: { check: (a) => isStr(a[0]) },
  groupFetchAllParticipating: { check: () => true },
  fetchStatus: { check: (a) => a.length > 0 && a.every(isStr) },
  updateBlockStatus: { check: (a) => isStr(a[0]) && (a[1] === 'block' || a[1] === 'unblock') },
  chatModify: { check: (a) => isObj(a[0]) && isStr(a[1]) },
  requestPairingCode: { check: (a) => isStr(a[0]), whileConnecting: true },
  updateMediaMessage: { check: (a) => isObj(a[0]) && isObj(a[0].key) },
  downloadMedia: { check: (a) => isObj(a[0]) && isObj(a[0].message) },
  // (call id, caller jid), both as the `call` event named them.
  rejectCall: { check: (a) => isStr(a[0]) && isStr(a[1]) && a[1].includes('@') && a.length === 2 },
}

/**
 * @param {DispatchContext} ctx
 * @returns {(payload: string|Buffer) => Promise<string>} request text -> reply text; never rejects
 */
export function createDispatcher(ctx) {
  /** @type {Record<string, (params: any, id: any) => Promise<any>>} */
  const table = {
    state: async () => state(ctx),
    replay: async (params, id) => replay(ctx, params, id),
    connect: async () => needLive(ctx).connect(),
    disconnect: async () => needLive(ctx).disconnect(),
    logout: async (params) => {
      const wa = needLive(ctx)
      const p = params ?? {}
      if (!isObj(p) || (p.wipe !== undefined && typeof p.wipe !== 'boolean')) throw new CommandError('bad_params', 'logout params must be {"wipe"?: boolean}')
      return wa.logout({ wipe: p.wipe ?? true })
    },
  }

  return async function dispatch(payload) {
    /** @type {any} */
    let req
    try {
      req = JSON.parse(String(payload))
    } catch {
      return errorReply(null, new CommandError('bad_request', 'request is not valid JSON'))
    }
    const id = isObj(req) ? req.id : undefined
    if (!isObj(req) || id === undefined || id === null || (typeof id !== 'string' && typeof id !== 'number')) {
      return errorReply(null, new CommandError('bad_request', 'request must be an object with a string or number "id"'))
    }
    if (typeof req.method !== 'string') return errorReply(id, new CommandError('bad_request', 'request has no "method"'))
    // Fencing: a host whose lease lapsed (even one that just woke from a pause) answers nothing.
    if (ctx.lease && !ctx.lease.held()) return errorReply(id, new CommandError('not_holder', 'this bridge host does not hold the session'))
    ctx.replaySends?.record(req.method, req.params)
    const timeoutMs = requestTimeout(req, ctx.commandTimeoutMs)
    if (timeoutMs === null) return errorReply(id, new CommandError('bad_request', '"timeoutMs" must be a positive integer'))
    try {
      let run
      if (Object.hasOwn(table, req.method)) {
        const handler = table[req.method]
        run = () => handler(req.params, id)
      } else if (Object.hasOwn(SOCKET_METHODS, req.method)) {
        run = socketCall(ctx, req.method, req.params)
      } else {
        throw new CommandError('unknown_method', `unknown method ${JSON.stringify(req.method)}`)
      }
      const result = await withTimeout(run(), timeoutMs, req.method)
      // replay builds its whole reply by concatenating stored lines.
      if (result instanceof RawReply) return result.text
      return JSON.stringify({ id, ok: true, result: encode(result) ?? null })
    } catch (err) {
      return errorReply(id, toCommandError(err, ctx, req.method))
    }
  }
}

/** @param {DispatchContext} ctx */
function needLive(ctx) {
  if (ctx.mode === 'replay' || !ctx.whatsapp) throw new CommandError('replay_mode', 'the bridge is replaying a capture; WhatsApp is not used')
  return ctx.whatsapp
}

/**
 * Validate synchronously, return the thunk that runs the call.
 * @param {DispatchContext} ctx @param {string} method @param {unknown} params
 */
function socketCall(ctx, method, params) {
  if (params !== undefined && params !== null && !Array.isArray(params)) {
    throw new CommandError('bad_request', `params of ${method} must be an array of positional arguments`)
  }
  const args = decode(params ?? [])
  const spec = SOCKET_METHODS[method]
  if (!spec.check(args)) throw new CommandError('bad_params', `invalid arguments for ${method}`)
  // Replay mode has no WhatsApp: sends are answered the way WhatsApp would (replay-sends.js).
  const replaySends = ctx.mode === 'replay' ? ctx.replaySends : null
  if (replaySends && REPLAY_METHODS.has(method)) return () => replaySends.call(method, args)
  const wa = needLive(ctx)
  const sock = wa.openSocket ?? (spec.whileConnecting && wa.connection === 'connecting' ? wa.sock : null)
  if (!sock) throw new CommandError('not_connected', `no open WhatsApp connection (state: ${wa.connection})`)
  return async () => {
    if (method === 'downloadMedia') return wa.downloadMedia(sock, args[0])
    if (method === 'readMessages') {
      await sock.readMessages(args[0])
      // Read receipts change nothing Baileys announces: this event is how the orchestrator,
      // and through it every agent, learns the chat was read.
      wa.reportRead(args[0])
      return null
    }
    if (method === 'rejectCall') {
      await sock.rejectCall(args[0], args[1])
      wa.reportCallRejected(args[0], args[1])
      return null
    }
    if (method !== 'sendMessage') return sock[method](...args)
    let result
    try {
      result = await sock.sendMessage(...args)
    } catch (err) {
      // Baileys announces our own message only after a successful relay: without this event
      // nobody but the caller would learn that the message never left.
      wa.reportSendFailure(args, err)
      throw err
    }
    wa.rememberSent(result)
    return result
  }
}

/** @param {DispatchContext} ctx */
function state(ctx) {
  const wa = ctx.whatsapp
  return {
    epoch: ctx.publisher.epoch,
    seq: ctx.publisher.seq,
    connection: wa ? wa.connection : 'idle',
    mode: ctx.mode,
    oldest: ctx.journal.oldest(),
    journal: ctx.journal.stats(),
    me: wa?.me ?? null,
    pid: process.pid,
    versions: ctx.versions,
    proxy: ctx.proxy ?? null,
    ...ctx.identity,
    ...ctx.transport?.(),
  }
}

/**
 * Build the reply by concatenating the journal's stored lines: they are valid envelope
 * JSON already, and re-parsing thousands of them per request would waste the bridge's CPU.
 * @param {DispatchContext} ctx @param {unknown} params @param {string|number} id
 * @returns {RawReply}
 */
function replay(ctx, params, id) {
  if (!isObj(params)) throw new CommandError('bad_request', 'replay params must be an object {"epoch","seq","limit"?,"until"?}')
  const p = /** @type {Record<string, any>} */ (params)
  const epoch = p.epoch ?? null
  if (epoch !== null && typeof epoch !== 'string') throw new CommandError('bad_params', '"epoch" must be a string or null')
  const seq = p.seq ?? 0
  if (!Number.isSafeInteger(seq) || seq < 0) throw new CommandError('bad_params', '"seq" must be a non-negative integer')
  const limit = p.limit ?? REPLAY_DEFAULT_LIMIT
  if (!Number.isSafeInteger(limit) || limit < 1) throw new CommandError('bad_params', '"limit" must be a positive integer')
  const until = p.until ?? null
  if (until !== null && !(isObj(until) && typeof until.epoch === 'string' && Number.isSafeInteger(until.seq) && until.seq >= 1)) {
    throw new CommandError('bad_params', '"until" must be null or {"epoch": string, "seq": positive integer}')
  }
  const res = ctx.journal.readAfter(epoch === null ? null : { epoch, seq }, Math.min(limit, REPLAY_MAX_LIMIT), ctx.replayMaxBytes ?? REPLAY_MAX_BYTES)
  if ('gone' in res) {
    throw new CommandError('position_gone', `position ${epoch}:${seq} is no longer in the journal`, { oldest: res.oldest, last: res.last })
  }
  let { events, more } = res
  if (until !== null) {
    // The caller already holds `until` (a live event that revealed a gap): stop just before it,
    // so a large event (a history sync) is neither sent nor parsed twice.
    const head = `{"v":1,"epoch":${JSON.stringify(until.epoch)},"seq":${until.seq},`
    const end = events.findIndex((line) => line.startsWith(head))
    if (end >= 0) {
      events = events.slice(0, end)
      more = false
    }
  }
  return new RawReply(`{"id":${JSON.stringify(id)},"ok":true,"result":{"events":[${events.join(',')}],"more":${more}}}`)
}

/** @param {any} req @param {number} fallback @returns {number|null} */
function requestTimeout(req, fallback) {
  const t = req.timeoutMs ?? (isObj(req.params) ? req.params.timeoutMs : undefined)
  if (t === undefined) return fallback
  return Number.isSafeInteger(t) && t > 0 ? t : null
}

/**
 * Translate anything thrown into a CommandError (the one boundary for foreign errors).
 * @param {any} err @param {DispatchContext} ctx @param {string} method
 */
function toCommandError(err, ctx, method) {
  if (err instanceof CommandError) return err
  if (err instanceof TypeError || err instanceof RangeError) {
    return new CommandError('bad_params', `${method}: ${err.message}`)
  }
  const statusCode = err?.output?.statusCode
  // Not the error object itself: a Boom's data can hold a whole message (text, media keys).
  ctx.logger.warn({ method, statusCode, error: err?.message }, 'command failed')
  const extra = typeof statusCode === 'number' ? { statusCode } : {}
  return new CommandError('failed', `${method}: ${err?.message ?? String(err)}`, extra)
}

/** @param {string|number|null} id @param {CommandError} err */
function errorReply(id, err) {
  return JSON.stringify({ id, ok: false, error: { code: err.code, message: err.message, ...err.extra } })
}

/**
 * @template T
 * @param {Promise<T>} promise @param {number} ms @param {string} method
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms, method) {
  /** @type {NodeJS.Timeout} */
  let timer
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new CommandError('timeout', `${method} did not complete within ${ms} ms`)), ms)
  })
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer))
}

/**
 * Bind the ROUTER and serve requests concurrently (a slow sendMessage must not hold up
 * `state` or `replay`). Accepts DEALER framing [identity, payload] and REQ framing
 * [identity, "", payload]; replies with the same envelope. The loop survives anything.
 * @param {object} opts
 * @param {string} opts.endpoint
 * @param {(payload: Buffer) => Promise<string>} opts.dispatch
 * @param {{warn: Function, error: Function}} opts.logger
 * @param {Record<string, unknown>} [opts.curve] CURVE server options (curve.js)
 * @returns {Promise<{socket: zmq.Router, done: Promise<void>, close(): void}>}
 */
export async function serveRouter({ endpoint, dispatch, logger, curve = {} }) {
  const socket = new zmq.Router({ linger: 0, ...curve })
  try {
    await socket.bind(endpoint)
  } catch (err) {
    socket.close()
    throw err
  }
  const replies = new SendQueue(socket, { maxQueued: 100000, logger })
  const done = (async () => {
    while (!socket.closed) {
      /** @type {Buffer[]} */
      let frames
      try {
        frames = await socket.receive()
      } catch (err) {
        if (socket.closed) break
        logger.warn({ err }, 'router receive failed')
        continue
      }
      const delimited = frames.length >= 3 && frames[1].length === 0
      const envelope = delimited ? frames.slice(0, 2) : frames.slice(0, 1)
      const payload = frames[envelope.length] ?? Buffer.alloc(0)
      dispatch(payload)
        .then((reply) => replies.send([...envelope, reply]))
        .catch((err) => logger.error({ err }, 'dispatch failed unexpectedly'))
    }
  })()
  return { socket, done, close: () => socket.close() }
}

/**
 * The control API: a small JSON-over-HTTP surface through which tests play the phone and
 * the WhatsApp backend. Routes map 1:1 onto Simulator methods; see ../README.md.
 *
 *   GET  /state                 -> Simulator.state()
 *   POST /scan {qr}             -> 200 {jid} | 400 | 409 | 502 | 504
 *   POST /disconnect {reason}   -> 200 {reason, jids, what} | 400 | 409
 *   POST /silence {on}          -> 200 {silent}
 *   POST /forget                -> 200 {removed}
 *   POST /logout-from-phone     -> 200 {removed}
 *   GET  /contacts              -> [{jid, phone, name, lid}]
 *   POST /contacts {phone, name?, lid?}          -> {jid, phone, name, lid}
 *   POST /groups {subject, participants}         -> {jid, subject, participants}
 *   POST /send {from, to?, kind, text?, target?, emoji?, bytes?, mimetype?, fileName?, undecryptable?, failures?} -> {id, devices}
 *   GET  /received?to=          -> [{id, to, from, participant?, type, t, recipients, message, media?}]
 *   POST /receipt {id, from, type}               -> {id, to, type}
 *   GET  /receipts              -> [{ids, to, type, participant?, from}] receipts devices sent
 *   (POST /history also takes progress?, chunkOrder?, daysAgo?, groups?, and answers ids too)
 *   POST /history {conversations?, messages?, syncType?} -> {id, conversations, messages, devices}
 *   POST /app-state/key         -> {keyId, devices}: the phone shares its app-state key again
 *   GET  /app-state/mutations   -> [{collection, index, action, from}] patches devices uploaded
 *   GET  /labels                -> {labels, chats, version, counters}   (lib/appstate.js)
 *   POST /labels {id, name?, color?, deleted?}   -> {id, name, color, deleted, version, devices}
 *   POST /labels/chats {labelId, chat, add?}     -> {labelId, chat, add, version, devices}
 *   POST /call {from, video?, group?, then?}    -> {id, from, group, video, steps, devices}
 *   GET  /calls                 -> [{id, from, group, video, steps, devices, acks, rejects}]
 *   POST /typing {from, state, to?}             -> {from, to, state, devices} a contact's chat state
 *   GET  /presences             -> [{t, from, kind, to, state, name?}] presence/chatstate devices sent
 *   POST /account {name}        -> {name} the business name devices pair with
 *
 * Errors are `{"error": {"code", "message"}}`.
 */
import http from 'node:http'
import { SimError } from './simulator.js'

const MAX_BODY = 32 * 1024 * 1024 // media bytes travel base64 in /send

/**
 * @param {import('./simulator.js').Simulator} sim
 * @returns {Record<string, (body: any, url: URL) => unknown>} "METHOD /path" -> handler
 */
export function routes(sim) {
  return {
    'GET /contacts': () => sim.world.listContacts(),
    'POST /contacts': (body) => sim.addContact(body),
    'POST /groups': (body) => sim.addGroup(body),
    'POST /send': (body) => sim.send(body),
    'GET /received': (_body, url) => sim.received(url.searchParams.get('to')),
    'POST /receipt': (body) => sim.receipt(body),
    'GET /receipts': () => sim.world.receipts,
    'POST /history': (body) => sim.history(body),
    'POST /app-state/key': () => sim.appState.shareKeyWithAll(),
    'GET /app-state/mutations': () => sim.appState.mutations,
    'GET /labels': () => sim.appState.list(),
    'POST /labels': (body) => sim.editLabel(body),
    'POST /labels/chats': (body) => sim.labelChat(body),
    'POST /call': (body) => sim.call(body),
    'GET /calls': () => sim.calls.list(),
    'POST /typing': (body) => sim.typing(body),
    'GET /presences': () => sim.presences.list(),
    'POST /account': (body) => sim.setAccount(body),
    'GET /state': () => sim.state(),
    'POST /scan': (body) => sim.scan(body?.qr),
    'POST /disconnect': (body) => sim.disconnect(body?.reason),
    'POST /silence': (body) => {
      if (typeof body?.on !== 'boolean') throw new SimError(400, 'bad_params', 'body must be {"on": boolean}')
      return sim.setSilent(body.on)
    },
    'POST /forget': () => sim.forget(),
    'POST /logout-from-phone': () => sim.logoutFromPhone(),
  }
}

/**
 * An HTTP server (not yet listening) serving the control API.
 * @param {import('./simulator.js').Simulator} sim
 * @returns {http.Server}
 */
export function makeControlServer(sim) {
  const table = routes(sim)
  return http.createServer(async (req, res) => {
    const url = new URL(req.url ?? '/', 'http://x')
    const route = table[`${req.method} ${url.pathname}`]
    try {
      if (!route) throw new SimError(404, 'not_found', `no route ${req.method} ${req.url}`)
      const body = req.method === 'POST' ? await readJson(req) : undefined
      reply(res, 200, await route(body, url))
    } catch (err) {
      const e = err instanceof SimError ? err : new SimError(500, 'internal', /** @type {Error} */ (err)?.message ?? String(err))
      reply(res, e.status, { error: { code: e.code, message: e.message } })
    }
  })
}

/** @param {http.ServerResponse} res @param {number} status @param {unknown} body */
function reply(res, status, body) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

/** @param {http.IncomingMessage} req @returns {Promise<any>} parsed body; {} when empty */
async function readJson(req) {
  let size = 0
  const chunks = []
  for await (const chunk of req) {
    size += chunk.length
    if (size > MAX_BODY) throw new SimError(413, 'too_large', `body over ${MAX_BODY} bytes`)
    chunks.push(chunk)
  }
  const text = Buffer.concat(chunks).toString('utf8').trim()
  if (text === '') return {}
  try {
    return JSON.parse(text)
  } catch {
    throw new SimError(400, 'bad_json', 'body is not JSON')
  }
}

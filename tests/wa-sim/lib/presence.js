/**
 * Presence and typing: what linked devices announce (`<presence>`: available, unavailable,
 * subscribe; `<chatstate>`: composing, recording, paused) is recorded; a presence subscribe
 * is answered the way WhatsApp does, with the contact's current `<presence>`; and a contact
 * can type to the account (`<chatstate from=contact><composing/></chatstate>`), which
 * Baileys (Socket/chats.js handlePresenceUpdate) turns into `presence.update`.
 *
 * Chat states are not queued: WhatsApp only relays them to devices online at that moment.
 */

/** @typedef {import('./nodes.js').BinaryNode} BinaryNode */

/**
 * One stanza a linked device sent.
 * @typedef {object} PresenceRecord
 * @property {number} t when it arrived (ms since epoch)
 * @property {string} from the device jid
 * @property {'presence'|'subscribe'|'chatstate'} kind
 * @property {string|null} to the chat (chatstate) or the subscribed jid (subscribe)
 * @property {string|null} state available | unavailable (presence; null for Baileys' bare
 *   `<presence name>`, sent whenever its creds change the push name), composing | recording |
 *   paused (chatstate), subscribe
 * @property {string} [name] the push name a `<presence>` carries
 */

/** The chat states a contact can send (Baileys' WAPresence, minus the account-wide ones). */
const TYPING_STATES = new Set(['composing', 'recording', 'paused'])

export class PresenceError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

export class Presences {
  /**
   * @param {object} o
   * @param {import('./world.js').World} o.world contacts and groups
   * @param {() => import('./session.js').Session[]} o.online the sessions logged in now
   * @param {(event: string, fields?: Record<string, unknown>) => void} [o.log]
   * @param {() => number} [o.now]
   */
  constructor({ world, online, log = () => {}, now = Date.now }) {
    this.world = world
    this.online = online
    this.log = log
    this.now = now
    /** @type {PresenceRecord[]} */
    this.records = []
  }

  /**
   * A `<presence>` or `<chatstate>` from a logged-in device: record it; answer a subscribe.
   * @param {import('./session.js').Session} session
   * @param {BinaryNode} node
   */
  fromDevice(session, node) {
    const record = parse(node, session.device?.jid ?? '', this.now())
    if (!record) return
    this.records.push(record)
    this.log('presence-from-device', { ...record })
    if (record.kind === 'subscribe' && record.to) {
      const answer = this.presenceOf(record.to)
      if (answer) session.send(answer)
    }
  }

  /**
   * What WhatsApp answers a subscribe with: the contact's presence. Simulated contacts are
   * offline, last seen just now (a real privacy setting could hide `last`: "deny").
   * @param {string} jid
   * @returns {BinaryNode|null} null for anyone who is not a simulated contact
   */
  presenceOf(jid) {
    const contact = this.world.contactFor(jid.replace(/:\d+@/, '@'))
    if (!contact) return null
    return { tag: 'presence', attrs: { from: jid, type: 'unavailable', last: String(Math.floor(this.now() / 1000)) } }
  }

  /**
   * A contact types (or records audio, or stops) in its chat with the account, or in a group.
   * @param {Record<string, unknown>} p `{from, state, to?}`
   * @returns {{from: string, to: string, state: string, devices: string[]}}
   */
  typing(p) {
    const state = p.state ?? 'composing'
    if (typeof state !== 'string' || !TYPING_STATES.has(state)) {
      throw new PresenceError(400, 'bad_params', `"state" must be one of ${[...TYPING_STATES].join(', ')}`)
    }
    const contact = typeof p.from === 'string' ? this.world.contactFor(p.from) : null
    if (!contact) throw new PresenceError(400, 'unknown_contact', `no simulated contact ${JSON.stringify(p.from)} (POST /contacts first)`)
    /** @type {Record<string, string>} */
    const attrs = { from: contact.jid }
    if (p.to !== undefined) {
      const group = typeof p.to === 'string' ? this.world.groups.get(p.to) : undefined
      if (!group) throw new PresenceError(400, 'unknown_group', `no simulated group ${JSON.stringify(p.to)}`)
      if (!group.participants.includes(contact.phone)) throw new PresenceError(400, 'not_participant', `${contact.jid} is not in ${group.jid}`)
      attrs.from = group.jid
      attrs.participant = contact.jid
    }
    const sessions = this.online()
    if (sessions.length === 0) throw new PresenceError(409, 'not_online', 'no linked device is online: chat states are not queued')
    const child = state === 'recording' ? { tag: 'composing', attrs: { media: 'audio' } } : { tag: state, attrs: {} }
    for (const s of sessions) s.send({ tag: 'chatstate', attrs, content: [child] })
    this.log('typing', { ...attrs, state })
    return { from: contact.jid, to: attrs.from, state, devices: sessions.map((s) => /** @type {any} */ (s.device).jid) }
  }

  /** @returns {PresenceRecord[]} oldest first */
  list() {
    return this.records
  }
}

/**
 * @param {BinaryNode} node
 * @param {string} from
 * @param {number} t
 * @returns {PresenceRecord|null}
 */
export function parse(node, from, t) {
  const a = node.attrs ?? {}
  if (node.tag === 'presence') {
    if (a.type === 'subscribe') return { t, from, kind: 'subscribe', to: a.to ?? null, state: 'subscribe' }
    const record = { t, from, kind: /** @type {const} */ ('presence'), to: null, state: a.type ?? null }
    return a.name === undefined ? record : { ...record, name: a.name }
  }
  if (node.tag === 'chatstate') {
    const first = Array.isArray(node.content) ? node.content[0] : undefined
    if (!first || typeof first !== 'object') return null
    const state = first.tag === 'composing' && first.attrs?.media === 'audio' ? 'recording' : first.tag
    return { t, from, kind: 'chatstate', to: a.to ?? null, state }
  }
  return null
}

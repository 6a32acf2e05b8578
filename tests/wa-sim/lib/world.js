/**
 * The simulated people around the account: contacts (each a phone with its own Signal
 * identity and pre-keys), groups, the account's own phone (it sends history syncs), and
 * the traffic between them and the linked devices.
 *
 *   inbound   /send -> proto.Message -> per linked device an outbox item, encrypted at
 *             delivery time (pkmsg/msg, or SKDM + skmsg in groups) and sent when the device
 *             is online and its pre-keys are known; items delivered during login, before
 *             `<ib><offline count>`, carry `offline="1"` (Baileys: messages.upsert `append`).
 *   outbound  the device's `<message>` -> every `<to>`/`<enc>` we hold keys for decrypted
 *             -> `received` (proto toJSON), plus the media it uploaded, decrypted.
 *   receipts  /receipt -> `<receipt>` to the device that sent the message (queued likewise).
 *
 * Also the answers that need this world: usync (devices, lid, contact), pre-key fetches,
 * group metadata, media_conn. Contacts and groups live in memory only.
 */
import crypto from 'node:crypto'
import zlib from 'node:zlib'
import { baileys } from './deps.js'
import { decryptMedia, encryptMedia } from './media.js'
import { child, children } from './nodes.js'
import { SignalParty, decodeMessage, encodeMessage } from './signal.js'
import { Resends, UNDECRYPTABLE_MODES } from './resend.js'

const { proto, jidDecode, jidEncode } = baileys
const ProtocolType = proto.Message.ProtocolMessage.Type
const HistoryType = proto.HistorySync.HistorySyncType

/** Raised for a request the world cannot carry out; the simulator maps it to HTTP. */
export class WorldError extends Error {
  /** @param {number} status @param {string} code @param {string} message */
  constructor(status, code, message) {
    super(message)
    this.name = 'WorldError'
    this.status = status
    this.code = code
  }
}

/** @typedef {import('./nodes.js').BinaryNode} BinaryNode */
/** @typedef {import('./store.js').Device} Device */

/**
 * @typedef {object} Contact
 * @property {string} phone digits
 * @property {string} jid `<phone>@s.whatsapp.net`
 * @property {string} name push name (`notify`)
 * @property {string|null} lid `<lid>@lid` when it has one
 * @property {SignalParty} party
 */

/**
 * @typedef {object} Group
 * @property {string} jid
 * @property {string} subject
 * @property {string[]} participants contact phones
 * @property {number} creation
 * @property {Set<string>} keysSent `<phone>|<device jid>`: sender keys already distributed
 */

/**
 * A message the world knows (sent by a contact, or by a device), for replies, reactions,
 * edits, revokes and receipts.
 * @typedef {object} KnownMessage
 * @property {string} id
 * @property {string} chat contact PN jid (1:1) or group jid
 * @property {string} author PN jid of the sender (the account's for device messages)
 * @property {string|null} device the linked device that sent it (device messages)
 * @property {any} message proto.Message
 */

/**
 * An item waiting for a device.
 * @typedef {object} OutboxItem
 * @property {string} id
 * @property {string} what for logs
 * @property {(device: Device) => Promise<BinaryNode>} build
 * @property {boolean} [needsKeys] encrypted: wait until the device's pre-keys are known
 * @property {() => void} [onSent]
 */

const KINDS = new Set(['text', 'reply', 'reaction', 'edit', 'revoke', 'image', 'document'])
const RECEIPT_TYPES = new Set(['delivery', 'read', 'played'])
/** message field -> media type for the key derivation */
const MEDIA_FIELDS = { imageMessage: 'image', documentMessage: 'document', videoMessage: 'video', audioMessage: 'audio', stickerMessage: 'sticker' }

const now = () => Math.floor(Date.now() / 1000)
/** A message id the way phones make them (`3A` + 18 hex). */
export const messageId = () => `3A${crypto.randomBytes(9).toString('hex').toUpperCase()}`
/** @param {number} n @param {number} bytes */
const bigEndian = (n, bytes) => {
  const b = Buffer.alloc(bytes)
  b.writeUIntBE(n, 0, bytes)
  return b
}

export class World {
  /**
   * @param {object} o
   * @param {import('./store.js').AccountStore} o.store
   * @param {import('./media.js').MediaServer} o.media
   * @param {(jid: string) => import('./session.js').Session|null} o.online the online session of a linked device
   * @param {(event: string, fields?: Record<string, unknown>) => void} [o.log]
   */
  constructor({ store, media, online, log = () => {} }) {
    this.store = store
    this.media = media
    this.online = online
    this.log = log
    /** The account's own phone (device 0): sends history syncs, receives DSMs. */
    this.phoneParty = new SignalParty('phone')
    /** @type {Map<string, Contact>} by phone */
    this.contacts = new Map()
    /** @type {Map<string, Contact>} by LID user */
    this.contactsByLid = new Map()
    /** @type {Map<string, Group>} */
    this.groups = new Map()
    /** @type {Map<string, KnownMessage>} */
    this.messages = new Map()
    /** @type {Map<string, OutboxItem[]>} by device jid */
    this.outbox = new Map()
    /** @type {Map<string, Promise<number>>} per-device delivery chain */
    this.chains = new Map()
    /** @type {any[]} what devices sent, decrypted */
    this.received = []
    /** @type {any[]} receipts devices sent */
    this.receipts = []
    this.counters = { delivered: 0, offlineDelivered: 0, redelivered: 0, buildFailures: 0, decryptFailures: 0, nacks: 0, retryReceipts: 0 }
    /** @type {string[]} last decryption errors (diagnostics) */
    this.errors = []
    /** @type {import('./appstate.js').AppState|null} app-state patches, set by the simulator */
    this.appState = null
    /** Messages sent undecryptable (`/send` `undecryptable`) and their resends. */
    this.resends = new Resends(this)
  }

  get accountJid() {
    return this.store.phoneJid
  }

  get accountLidUser() {
    return this.store.data.lidUser
  }

  // ---------------------------------------------------------------- contacts & groups

  /**
   * @param {{phone?: unknown, name?: unknown, lid?: unknown}} p
   * @returns {{jid: string, phone: string, name: string, lid: string|null}}
   */
  addContact({ phone, name, lid }) {
    if (typeof phone !== 'string' || !/^\d{6,15}$/.test(phone)) throw new WorldError(400, 'bad_params', '"phone" must be 6-15 digits')
    if (phone === this.store.phone) throw new WorldError(400, 'bad_params', 'that is the account itself')
    if (name !== undefined && typeof name !== 'string') throw new WorldError(400, 'bad_params', '"name" must be a string')
    let lidJid = null
    if (lid === true) lidJid = `${String(200000000000000 + crypto.randomInt(0, 2 ** 40))}@lid`
    else if (typeof lid === 'string' && /^\d{6,20}(@lid)?$/.test(lid)) lidJid = lid.endsWith('@lid') ? lid : `${lid}@lid`
    else if (lid !== undefined && lid !== false && lid !== null) throw new WorldError(400, 'bad_params', '"lid" must be true or a LID (digits[@lid])')
    const existing = this.contacts.get(phone)
    if (existing) {
      if (name !== undefined) existing.name = name
      if (lidJid && !existing.lid) this._setLid(existing, lidJid)
      return this._contactView(existing)
    }
    /** @type {Contact} */
    const c = { phone, jid: `${phone}@s.whatsapp.net`, name: name ?? phone, lid: null, party: new SignalParty(phone) }
    if (lidJid) this._setLid(c, lidJid)
    this.contacts.set(phone, c)
    this.log('contact', { jid: c.jid, lid: c.lid })
    return this._contactView(c)
  }

  /** @param {Contact} c @param {string} lid */
  _setLid(c, lid) {
    const user = lid.split('@')[0]
    if (this.contactsByLid.has(user) || user === this.accountLidUser) throw new WorldError(409, 'lid_taken', `${lid} already belongs to someone`)
    c.lid = lid
    this.contactsByLid.set(user, c)
  }

  /** @param {Contact} c */
  _contactView(c) {
    return { jid: c.jid, phone: c.phone, name: c.name, lid: c.lid }
  }

  listContacts() {
    return [...this.contacts.values()].map((c) => this._contactView(c))
  }

  /**
   * @param {{subject?: unknown, participants?: unknown}} p
   * @returns {{jid: string, subject: string, participants: string[]}}
   */
  addGroup({ subject, participants }) {
    if (typeof subject !== 'string' || subject === '') throw new WorldError(400, 'bad_params', '"subject" must be a non-empty string')
    if (!Array.isArray(participants) || participants.length === 0) throw new WorldError(400, 'bad_params', '"participants" must be a list of contact phones')
    const phones = participants.map((p) => this._contact(p).phone)
    const jid = `120363${String(crypto.randomInt(0, 1e12)).padStart(12, '0')}@g.us`
    /** @type {Group} */
    const g = { jid, subject, participants: [...new Set(phones)], creation: now(), keysSent: new Set() }
    this.groups.set(jid, g)
    this.log('group', { jid, participants: g.participants })
    return { jid, subject, participants: g.participants.map((p) => `${p}@s.whatsapp.net`) }
  }

  /**
   * A contact by phone digits, PN jid or LID jid.
   * @param {unknown} ref
   * @returns {Contact}
   */
  _contact(ref) {
    const c = typeof ref === 'string' ? this.contactFor(ref) : null
    if (!c) throw new WorldError(400, 'unknown_contact', `no simulated contact ${JSON.stringify(ref)} (POST /contacts first)`)
    return c
  }

  /** @param {string} ref digits or jid @returns {Contact|null} */
  contactFor(ref) {
    if (/^\d+$/.test(ref)) return this.contacts.get(ref) ?? null
    const d = jidDecode(ref)
    if (!d?.user) return null
    if (d.server === 'lid') return this.contactsByLid.get(d.user) ?? null
    if (d.server === 's.whatsapp.net') return this.contacts.get(d.user) ?? null
    return null
  }

  // ---------------------------------------------------------------- inbound: contacts -> devices

  /**
   * A contact sends something to the account (or a group it is in).
   * @param {Record<string, unknown>} p `{from, to?, kind, text?, target?, emoji?, bytes?, mimetype?, fileName?}`
   * @returns {{id: string, devices: string[]}}
   */
  send(p) {
    const sender = this._contact(p.from)
    const group = p.to === undefined || p.to === null ? null : this.groups.get(String(p.to))
    if (p.to !== undefined && p.to !== null && !group) throw new WorldError(400, 'unknown_group', `no simulated group ${JSON.stringify(p.to)}`)
    if (group && !group.participants.includes(sender.phone)) throw new WorldError(400, 'not_participant', `${sender.jid} is not in ${group.jid}`)
    const kind = p.kind
    if (typeof kind !== 'string' || !KINDS.has(kind)) throw new WorldError(400, 'bad_params', `"kind" must be one of ${[...KINDS].join(', ')}`)
    const undecryptable = undecryptableMode(p.undecryptable, Boolean(group))
    const failures = failuresOf(p.failures, undecryptable)
    const chat = group ? group.jid : sender.jid
    const message = this._compose(kind, p, sender, chat, group)
    const id = messageId()
    const t = now()
    this.messages.set(id, { id, chat, author: sender.jid, device: null, message })
    const type = message.reactionMessage ? 'reaction' : mediaTypeOf(message) ? 'media' : 'text'
    const edit = message.protocolMessage?.type === ProtocolType.MESSAGE_EDIT ? '1' : message.protocolMessage?.type === ProtocolType.REVOKE ? '7' : undefined
    const mediatype = mediaTypeOf(message)
    const bytes = encodeMessage(message)
    const devices = this.store.pairedJids()
    for (const jid of devices) {
      this.enqueue(jid, {
        id,
        what: `${kind} from ${sender.jid}${group ? ` in ${group.jid}` : ''}`,
        needsKeys: true,
        build: async (device) => {
          const attrs = { id, t: String(t), type, notify: sender.name, ...(edit ? { edit } : {}) }
          const encAttrs = { v: '2', ...(mediatype ? { mediatype } : {}) }
          if (!group && undecryptable) {
            const messageAttrs = { from: sender.jid, ...attrs, ...(sender.lid ? { sender_lid: sender.lid } : {}) }
            const broken = { id, mode: undecryptable, contact: sender, message, bytes, t }
            return { tag: 'message', attrs: messageAttrs, content: [await this.resends.brokenContent(device, broken, messageAttrs, encAttrs, failures)] }
          }
          if (!group) {
            const enc = await this._encryptFor(sender.party, device, bytes)
            return {
              tag: 'message',
              attrs: { from: sender.jid, ...attrs, ...(sender.lid ? { sender_lid: sender.lid } : {}) },
              content: [{ tag: 'enc', attrs: { ...encAttrs, type: enc.type }, content: enc.ciphertext }],
            }
          }
          const content = []
          const keyed = `${sender.phone}|${device.jid}`
          if (!group.keysSent.has(keyed)) {
            const skdm = await sender.party.senderKeyDistribution(group.jid, 'self')
            const dist = encodeMessage({ senderKeyDistributionMessage: { groupId: group.jid, axolotlSenderKeyDistributionMessage: skdm } })
            const enc = await this._encryptFor(sender.party, device, dist)
            content.push({ tag: 'enc', attrs: { v: '2', type: enc.type }, content: enc.ciphertext })
          }
          const sk = await sender.party.groupEncrypt(group.jid, 'self', bytes)
          content.push({ tag: 'enc', attrs: { ...encAttrs, type: 'skmsg' }, content: sk })
          group.keysSent.add(keyed)
          const participant = sender.lid ? { participant: sender.lid, participant_pn: sender.jid, addressing_mode: 'lid' } : { participant: sender.jid }
          return { tag: 'message', attrs: { from: group.jid, ...participant, ...attrs }, content }
        },
      })
    }
    return { id, devices }
  }

  /**
   * Build the proto.Message for a /send.
   * @param {string} kind @param {Record<string, unknown>} p @param {Contact} sender @param {string} chat @param {Group|null} group
   */
  _compose(kind, p, sender, chat, group) {
    const text = p.text === undefined ? undefined : String(p.text)
    const needText = () => {
      if (text === undefined || text === '') throw new WorldError(400, 'bad_params', `"text" is required for ${kind}`)
      return text
    }
    /** the target, from the sender's point of view */
    const target = () => {
      const t = typeof p.target === 'string' ? this.messages.get(p.target) : undefined
      if (!t) throw new WorldError(400, 'unknown_target', `"target" must be the id of a message the simulator knows, got ${JSON.stringify(p.target)}`)
      if (t.chat !== chat) throw new WorldError(400, 'bad_target', `message ${t.id} is not in ${chat}`)
      const fromMe = t.author === sender.jid
      // In a 1:1 chat the sender sees the chat as the account's jid.
      const key = { remoteJid: group ? group.jid : this.accountJid, fromMe, id: t.id, ...(group && !fromMe ? { participant: t.author } : {}) }
      return { t, key }
    }
    switch (kind) {
      case 'text':
        return { conversation: needText() }
      case 'reply': {
        const { t } = target()
        return { extendedTextMessage: { text: needText(), contextInfo: { stanzaId: t.id, participant: t.author, quotedMessage: t.message } } }
      }
      case 'reaction': {
        const { key } = target()
        const emoji = p.emoji === undefined ? '👍' : String(p.emoji) // '' removes a reaction
        return { reactionMessage: { key, text: emoji, senderTimestampMs: Date.now() } }
      }
      case 'edit': {
        const { t, key } = target()
        if (!key.fromMe) throw new WorldError(400, 'not_author', `${sender.jid} did not write ${t.id}`)
        return { protocolMessage: { key, type: ProtocolType.MESSAGE_EDIT, editedMessage: { conversation: needText() }, timestampMs: Date.now() } }
      }
      case 'revoke': {
        const { t, key } = target()
        if (!key.fromMe) throw new WorldError(400, 'not_author', `${sender.jid} did not write ${t.id}`)
        return { protocolMessage: { key, type: ProtocolType.REVOKE } }
      }
      case 'image':
      case 'document': {
        if (typeof p.bytes !== 'string' || p.bytes === '') throw new WorldError(400, 'bad_params', `"bytes" (base64) is required for ${kind}`)
        const plain = Buffer.from(p.bytes, 'base64')
        const enc = encryptMedia(plain, kind)
        const { url, directPath } = this.media.put(enc.file, `/mms/${kind}`)
        const common = {
          url,
          fileSha256: enc.fileSha256,
          fileEncSha256: enc.fileEncSha256,
          fileLength: enc.fileLength,
          mediaKey: enc.mediaKey,
          mediaKeyTimestamp: now(),
        }
        this.log('media-put', { kind, directPath, bytes: plain.length })
        if (kind === 'image') {
          return { imageMessage: { ...common, mimetype: typeof p.mimetype === 'string' ? p.mimetype : 'image/jpeg', ...(text ? { caption: text } : {}) } }
        }
        const fileName = typeof p.fileName === 'string' ? p.fileName : 'file.bin'
        return {
          documentMessage: { ...common, mimetype: typeof p.mimetype === 'string' ? p.mimetype : 'application/octet-stream', fileName, title: fileName, ...(text ? { caption: text } : {}) },
        }
      }
    }
    throw new WorldError(400, 'bad_params', `unknown kind ${kind}`)
  }

  /**
   * Encrypt for a linked device with a party's session, building it from the device's
   * uploaded pre-keys when needed.
   * @param {SignalParty} party @param {Device} device @param {Uint8Array} bytes
   */
  _encryptFor(party, device, bytes) {
    return party.encrypt(this.store.phone, device.device, bytes, () => this.takeDeviceBundle(device.jid))
  }

  /**
   * The account's phone sends a history sync to every linked device.
   * `progress` (0-100) and `chunkOrder` go into the sync and its notification; `daysAgo`
   * dates the newest message of each conversation that many days back; `groups` adds those
   * simulated groups as conversations, their members writing in turn.
   * @param {{conversations?: unknown, messages?: unknown, syncType?: unknown, progress?: unknown, chunkOrder?: unknown, daysAgo?: unknown, groups?: unknown}} p
   * @returns {{id: string, conversations: number, messages: number, devices: string[], ids: string[]}}
   */
  history({ conversations = 1, messages = 1, syncType = 'RECENT', progress = 100, chunkOrder = 1, daysAgo = 0, groups = [] }) {
    const nConv = Number(conversations)
    const nMsg = Number(messages)
    if (!Number.isInteger(nConv) || nConv < 0 || nConv > 200) throw new WorldError(400, 'bad_params', '"conversations" must be an integer 0-200')
    if (!Number.isInteger(nMsg) || nMsg < 0 || nMsg > 1000) throw new WorldError(400, 'bad_params', '"messages" (per conversation) must be an integer 0-1000')
    const type = HistoryType[/** @type {any} */ (syncType)]
    if (typeof syncType !== 'string' || type === undefined) throw new WorldError(400, 'bad_params', `"syncType" must be one of ${Object.keys(HistoryType).join(', ')}`)
    if (!Number.isInteger(progress) || /** @type {number} */ (progress) < 0 || /** @type {number} */ (progress) > 100) throw new WorldError(400, 'bad_params', '"progress" must be an integer 0-100')
    if (!Number.isInteger(chunkOrder) || /** @type {number} */ (chunkOrder) < 1) throw new WorldError(400, 'bad_params', '"chunkOrder" must be a positive integer')
    if (typeof daysAgo !== 'number' || !Number.isFinite(daysAgo) || daysAgo < 0 || daysAgo > 10000) throw new WorldError(400, 'bad_params', '"daysAgo" must be a number of days 0-10000')
    if (!Array.isArray(groups)) throw new WorldError(400, 'bad_params', '"groups" must be a list of simulated group jids')
    const inGroups = groups.map((jid) => {
      const g = this.groups.get(String(jid))
      if (!g) throw new WorldError(400, 'unknown_group', `no simulated group ${JSON.stringify(jid)}`)
      return g
    })
    const devices = this.store.pairedJids()
    const payload = this._historyPayload(nConv, nMsg, type, { progress: /** @type {number} */ (progress), chunkOrder: /** @type {number} */ (chunkOrder), newest: now() - Math.round(daysAgo * 86400), groups: inGroups })
    const id = this._sendHistory(devices, payload, type)
    const ids = payload.conversations.flatMap((/** @type {any} */ c) => c.messages.map((/** @type {any} */ m) => m.message.key.id))
    return { id, conversations: payload.conversations.length, messages: ids.length, devices, ids }
  }

  /**
   * A HistorySync with `nConv` conversations (existing contacts first, then new ones) of
   * `nMsg` text messages each, alternating incoming and outgoing, the newest at `newest`
   * (unix seconds), one minute apart; then the `groups`, written by each member in turn.
   * @param {number} nConv @param {number} nMsg @param {number} syncType
   * @param {{progress: number, chunkOrder: number, newest: number, groups: Group[]}} [o]
   */
  _historyPayload(nConv, nMsg, syncType, o = { progress: 100, chunkOrder: 1, newest: now(), groups: [] }) {
    const contacts = [...this.contacts.values()]
    for (let i = contacts.length; i < nConv; i++) {
      let phone
      do phone = `55119${String(crypto.randomInt(0, 1e8)).padStart(8, '0')}`
      while (this.contacts.has(phone) || phone === this.store.phone)
      this.addContact({ phone, name: `History ${i + 1}` })
      contacts.push(/** @type {Contact} */ (this.contacts.get(phone)))
    }
    const t0 = o.newest - nMsg * 60
    const conversations = contacts.slice(0, nConv).map((c) => {
      const msgs = Array.from({ length: nMsg }, (_, i) => {
        const fromMe = i % 2 === 1
        const id = messageId()
        const message = { conversation: `history ${c.phone} #${i + 1}` }
        this.messages.set(id, { id, chat: c.jid, author: fromMe ? this.accountJid : c.jid, device: null, message })
        return {
          msgOrderId: i + 1,
          message: {
            key: { remoteJid: c.jid, fromMe, id },
            message,
            messageTimestamp: t0 + i * 60,
            ...(fromMe ? { status: proto.WebMessageInfo.Status.READ } : { pushName: c.name }),
          },
        }
      })
      return { id: c.jid, name: c.name, ...(c.lid ? { lidJid: c.lid } : {}), conversationTimestamp: t0 + nMsg * 60, unreadCount: 0, messages: msgs.reverse() }
    })
    for (const g of o.groups) {
      const msgs = Array.from({ length: nMsg }, (_, i) => {
        const phone = g.participants[i % g.participants.length]
        const author = /** @type {Contact} */ (this.contacts.get(phone))
        const id = messageId()
        const message = { conversation: `history ${g.subject} #${i + 1}` }
        this.messages.set(id, { id, chat: g.jid, author: author.jid, device: null, message })
        return { msgOrderId: i + 1, message: { key: { remoteJid: g.jid, fromMe: false, id, participant: author.jid }, message, messageTimestamp: t0 + i * 60, pushName: author.name } }
      })
      conversations.push({ id: g.jid, name: g.subject, conversationTimestamp: t0 + nMsg * 60, unreadCount: 0, messages: msgs.reverse() })
    }
    return { syncType, conversations, progress: o.progress, chunkOrder: o.chunkOrder, pushnames: contacts.slice(0, nConv).map((c) => ({ id: c.jid, pushname: c.name })) }
  }

  /**
   * Compress, encrypt and serve a HistorySync, and queue its notification from the phone.
   * The notification carries the payload inline as well: it has no `url` field, so Baileys
   * could only download the blob from https://mmg.whatsapp.net<directPath> (history.js,
   * messages-media.js), which a loopback-only test must never reach; Baileys uses
   * `initialHistBootstrapInlinePayload` whenever it is present, for any sync type.
   * @param {string[]} devices @param {any} payload @param {number} syncType
   * @param {() => void} [onSent]
   */
  _sendHistory(devices, payload, syncType, onSent) {
    const compressed = zlib.deflateSync(proto.HistorySync.encode(proto.HistorySync.fromObject(payload)).finish())
    const enc = encryptMedia(compressed, 'md-msg-hist')
    const { directPath } = this.media.put(enc.file, '/mms/md-app-state')
    const id = messageId()
    const message = {
      protocolMessage: {
        type: ProtocolType.HISTORY_SYNC_NOTIFICATION,
        historySyncNotification: {
          fileSha256: enc.fileSha256,
          fileLength: enc.fileLength,
          mediaKey: enc.mediaKey,
          fileEncSha256: enc.fileEncSha256,
          directPath,
          syncType,
          chunkOrder: payload.chunkOrder ?? 1,
          progress: payload.progress ?? 100,
          initialHistBootstrapInlinePayload: compressed,
        },
      },
    }
    const bytes = encodeMessage(message)
    const t = now()
    for (const jid of devices) {
      this.enqueue(jid, {
        id,
        what: `history sync ${HistoryType[syncType]}`,
        needsKeys: true,
        onSent,
        build: async (device) => {
          const enc2 = await this._encryptFor(this.phoneParty, device, bytes)
          return {
            tag: 'message',
            attrs: { from: this.accountJid, id, t: String(t), type: 'text', category: 'peer' },
            content: [{ tag: 'enc', attrs: { v: '2', type: enc2.type }, content: enc2.ciphertext }],
          }
        },
      })
    }
    return id
  }

  /**
   * WhatsApp's phone pushes an initial bootstrap history sync to a newly linked device; a
   * Baileys first login waits up to 20 s for it (chats.js AwaitingInitialSync).
   * @param {Device} device
   */
  bootstrap(device) {
    if (device.bootstrapped) return
    // The app-state key first (lib/appstate.js): the bootstrap starts Baileys' full app-state sync.
    this.appState?.shareKey(device)
    this._sendHistory([device.jid], { syncType: HistoryType.INITIAL_BOOTSTRAP, conversations: [], progress: 100, chunkOrder: 1 }, HistoryType.INITIAL_BOOTSTRAP, () =>
      this.store.update(device.jid, { bootstrapped: true }),
    )
  }

  /**
   * The account's phone sends a peer message (category `peer`) to one linked device.
   * @param {string} jid device @param {any} message proto.Message object @param {string} what
   * @param {() => void} [onSent]
   */
  phoneMessage(jid, message, what, onSent) {
    const id = messageId()
    const bytes = encodeMessage(message)
    const t = now()
    this.enqueue(jid, {
      id,
      what,
      needsKeys: true,
      onSent,
      build: async (device) => {
        const enc = await this._encryptFor(this.phoneParty, device, bytes)
        return {
          tag: 'message',
          attrs: { from: this.accountJid, id, t: String(t), type: 'text', category: 'peer' },
          content: [{ tag: 'enc', attrs: { v: '2', type: enc.type }, content: enc.ciphertext }],
        }
      },
    })
    return id
  }

  /**
   * A contact's delivery/read/played receipt for a message a device sent.
   * @param {{id?: unknown, from?: unknown, type?: unknown}} p
   */
  receipt({ id, from, type = 'read' }) {
    if (typeof type !== 'string' || !RECEIPT_TYPES.has(type)) throw new WorldError(400, 'bad_params', `"type" must be one of ${[...RECEIPT_TYPES].join(', ')}`)
    const m = typeof id === 'string' ? this.messages.get(id) : undefined
    if (!m || !m.device) throw new WorldError(400, 'unknown_target', `"id" must be a message a linked device sent, got ${JSON.stringify(id)}`)
    const c = this._contact(from)
    const group = this.groups.get(m.chat)
    if (group ? !group.participants.includes(c.phone) : m.chat !== c.jid) throw new WorldError(400, 'bad_target', `${c.jid} did not receive ${m.id}`)
    const attrs = {
      id: m.id,
      t: String(now()),
      ...(group ? { from: group.jid, participant: c.jid } : { from: c.jid }),
      ...(type === 'delivery' ? {} : { type }),
    }
    this.enqueue(m.device, { id: m.id, what: `${type} receipt from ${c.jid}`, build: async () => ({ tag: 'receipt', attrs }) })
    return { id: m.id, to: m.device, type }
  }

  // ---------------------------------------------------------------- delivery

  /** @param {string} jid device @param {OutboxItem} item */
  enqueue(jid, item) {
    const q = this.outbox.get(jid) ?? []
    q.push(item)
    this.outbox.set(jid, q)
    void this.flush(jid)
  }

  /**
   * Items a closed session never got acked: first in line again, in their order, rebuilt
   * (encrypted afresh) when the device is next online.
   * @param {string} jid device @param {OutboxItem[]} items
   */
  redeliver(jid, items) {
    this.counters.redelivered += items.length
    this.log('redeliver', { jid, ids: items.map((i) => i.id) })
    this.outbox.set(jid, [...items, ...(this.outbox.get(jid) ?? [])])
    void this.flush(jid)
  }

  /** @param {string} jid */
  pending(jid) {
    return this.outbox.get(jid)?.length ?? 0
  }

  /**
   * Deliver what is queued for a device, in order, if it is online. Serialized per device.
   * @param {string} jid
   * @param {{offline?: boolean}} [opts] offline: the login flush (items carry offline="1")
   * @returns {Promise<number>} items delivered
   */
  flush(jid, { offline = false } = {}) {
    const prev = this.chains.get(jid) ?? Promise.resolve(0)
    const next = prev.then(() => this._flush(jid, offline)).catch((err) => {
      this.log('flush-error', { jid, error: err.message })
      return 0
    })
    this.chains.set(jid, next)
    return next
  }

  /** @param {string} jid @param {boolean} offline */
  async _flush(jid, offline) {
    const q = this.outbox.get(jid)
    let n = 0
    while (q?.length) {
      const session = this.online(jid)
      const device = this.store.get(jid)
      if (!session || !device) break
      const item = q[0]
      if (item.needsKeys && !device.signal) break // pre-keys not uploaded yet: the upload flushes again
      let node
      try {
        node = await item.build(device)
      } catch (err) {
        q.shift()
        this.counters.buildFailures += 1
        this.errors.push(`build ${item.what}: ${/** @type {Error} */ (err).message}`)
        this.log('build-error', { jid, id: item.id, error: /** @type {Error} */ (err).message })
        continue
      }
      if (this.online(jid) !== session) break // went away while encrypting: retry on next login
      if (offline) node.attrs.offline = '1'
      session.deliver(node, item)
      q.shift()
      item.onSent?.()
      n += 1
      this.counters.delivered += 1
      if (offline) this.counters.offlineDelivered += 1
    }
    return n
  }

  // ---------------------------------------------------------------- keys

  /**
   * A linked device's bundle from what it uploaded; consumes one one-time pre-key.
   * @param {string} jid
   * @returns {import('./signal.js').Bundle|null}
   */
  takeDeviceBundle(jid) {
    const device = this.store.get(jid)
    const s = device?.signal
    if (!device || !s) return null
    const ids = Object.keys(s.preKeys)
    const preId = ids[0]
    let preKey
    if (preId !== undefined) {
      preKey = { id: Number(preId), public: Buffer.from(s.preKeys[preId], 'base64') }
      const rest = { ...s.preKeys }
      delete rest[preId]
      this.store.update(jid, { signal: { ...s, preKeys: rest }, preKeys: ids.length - 1 })
    }
    return {
      registrationId: s.registrationId,
      identity: Buffer.from(s.identity, 'base64'),
      signedPreKey: { id: s.signedPreKey.id, public: Buffer.from(s.signedPreKey.public, 'base64'), signature: Buffer.from(s.signedPreKey.signature, 'base64') },
      ...(preKey ? { preKey } : {}),
    }
  }

  /**
   * A linked device's bundle without a one-time pre-key (consumes nothing).
   * @param {string} jid
   * @returns {import('./signal.js').Bundle}
   */
  signedBundle(jid) {
    const s = this.store.get(jid)?.signal
    if (!s) throw new Error(`${jid} has uploaded no pre-keys`)
    return {
      registrationId: s.registrationId,
      identity: Buffer.from(s.identity, 'base64'),
      signedPreKey: { id: s.signedPreKey.id, public: Buffer.from(s.signedPreKey.public, 'base64'), signature: Buffer.from(s.signedPreKey.signature, 'base64') },
    }
  }

  /**
   * Who a jid (any device) is, for usync and pre-key fetches.
   * @param {string} jid
   * @returns {{kind: 'contact', contact: Contact} | {kind: 'phone'} | {kind: 'device', device: Device} | null}
   */
  resolve(jid) {
    const d = jidDecode(jid)
    if (!d?.user) return null
    const deviceNo = d.device ?? 0
    const isAccount = (d.server === 's.whatsapp.net' && d.user === this.store.phone) || (d.server === 'lid' && d.user === this.accountLidUser)
    if (isAccount) {
      if (deviceNo === 0) return { kind: 'phone' }
      const device = this.store.get(`${this.store.phone}:${deviceNo}@s.whatsapp.net`)
      return device ? { kind: 'device', device } : null
    }
    const contact = this.contactFor(jidEncode(d.user, d.server))
    return contact && deviceNo === 0 ? { kind: 'contact', contact } : null
  }

  // ---------------------------------------------------------------- iq answers

  /**
   * usync: devices, lid and contact protocols for the users asked about.
   * @param {BinaryNode} iq
   * @param {Device|null} asker
   * @returns {BinaryNode[]}
   */
  usync(iq, asker) {
    const usync = child(iq, 'usync')
    const protocols = children(child(usync, 'query')).map((n) => n.tag)
    const users = children(child(usync, 'list')).map((user) => {
      let jid = user.attrs.jid
      const contactNode = child(user, 'contact')
      if (!jid && contactNode?.content) jid = `${String(Buffer.from(/** @type {any} */ (contactNode.content))).replace(/\D/g, '')}@s.whatsapp.net`
      const who = jid ? this.resolve(jidEncode(jidDecode(jid)?.user ?? '', jidDecode(jid)?.server ?? 's.whatsapp.net')) : null
      const isPn = jid?.endsWith('@s.whatsapp.net')
      /** @type {BinaryNode[]} */
      const content = []
      for (const p of protocols) {
        if (p === 'devices') {
          const ids = who?.kind === 'phone' ? [0, ...(asker ? [asker.device] : [])] : who ? [0] : []
          const list = ids.map((id) => ({ tag: 'device', attrs: id === 0 ? { id: '0' } : { id: String(id), 'key-index': String(asker?.keyIndex ?? 1) } }))
          content.push({ tag: 'devices', attrs: {}, content: [{ tag: 'device-list', attrs: {}, content: list }] })
        } else if (p === 'lid') {
          const lid = who?.kind === 'contact' ? who.contact.lid : who?.kind === 'phone' ? `${this.accountLidUser}@lid` : null
          if (lid && isPn) content.push({ tag: 'lid', attrs: { val: lid } })
        } else if (p === 'contact') {
          content.push({ tag: 'contact', attrs: { type: who ? 'in' : 'out' } })
        }
      }
      return { tag: 'user', attrs: { jid: jid ?? '' }, content }
    })
    return [{ tag: 'usync', attrs: {}, content: [{ tag: 'result', attrs: {} }, { tag: 'list', attrs: {}, content: users }] }]
  }

  /**
   * Pre-key fetch (`encrypt` get with `<key><user jid/>...`).
   * @param {BinaryNode} iq
   * @returns {BinaryNode[]}
   */
  preKeys(iq) {
    const users = children(child(iq, 'key')).filter((n) => n.tag === 'user')
    const list = users.map((u) => {
      const jid = u.attrs.jid
      const who = this.resolve(jid)
      const bundle =
        who?.kind === 'contact' ? who.contact.party.bundle() : who?.kind === 'phone' ? this.phoneParty.bundle() : who?.kind === 'device' ? this.takeDeviceBundle(who.device.jid) : null
      if (!bundle) return { tag: 'user', attrs: { jid }, content: [{ tag: 'error', attrs: { code: '404', text: 'item-not-found' } }] }
      return { tag: 'user', attrs: { jid }, content: bundleNodes(bundle) }
    })
    return [{ tag: 'list', attrs: {}, content: list }]
  }

  /**
   * `w:g2`: one group's metadata, or every group (participating).
   * @param {BinaryNode} iq
   * @returns {BinaryNode[]}
   */
  groupQuery(iq) {
    if (child(iq, 'participating')) {
      return [{ tag: 'groups', attrs: {}, content: [...this.groups.values()].map((g) => this._groupNode(g)) }]
    }
    const g = this.groups.get(iq.attrs.to)
    if (!g) return [{ tag: 'error', attrs: { code: '404', text: 'item-not-found' } }]
    return [this._groupNode(g)]
  }

  /** @param {Group} g @returns {BinaryNode} */
  _groupNode(g) {
    const first = this.contacts.get(g.participants[0])
    return {
      tag: 'group',
      attrs: {
        id: g.jid.split('@')[0],
        subject: g.subject,
        s_t: String(g.creation),
        s_o: first?.jid ?? '',
        creation: String(g.creation),
        creator: first?.jid ?? '',
        addressing_mode: 'pn',
        size: String(g.participants.length + 1),
      },
      content: [
        ...g.participants.map((p) => {
          const c = /** @type {Contact} */ (this.contacts.get(p))
          return { tag: 'participant', attrs: { jid: c.jid, ...(c.lid ? { lid: c.lid } : {}), ...(p === g.participants[0] ? { type: 'superadmin' } : {}) } }
        }),
        { tag: 'participant', attrs: { jid: this.accountJid, lid: `${this.accountLidUser}@lid` } },
      ],
    }
  }

  /** `w:m` media_conn: our TLS media listener is the only upload host. @returns {BinaryNode[]} */
  mediaConn() {
    return [
      {
        tag: 'media_conn',
        attrs: { auth: this.media.auth, ttl: '3600', auth_ttl: '21600', max_buckets: '12' },
        content: [{ tag: 'host', attrs: { hostname: this.media.uploadHost, maxContentLengthBytes: String(64 * 1024 * 1024) } }],
      },
    ]
  }

  // ---------------------------------------------------------------- outbound: devices -> contacts

  /**
   * A `<message>` a linked device sent: decrypt what we can, record it, answer the ack.
   * @param {Device} device
   * @param {BinaryNode} node
   * @returns {Promise<BinaryNode>} the server ack
   */
  async fromDevice(device, node) {
    const { id, to } = node.attrs
    const ack = { tag: 'ack', attrs: { class: 'message', id, from: to, t: String(now()) } }
    /** @type {{party: SignalParty, jid: string, enc: BinaryNode, phone: boolean}[]} */
    const direct = []
    const participants = child(node, 'participants')
    for (const toNode of children(participants)) {
      const enc = child(toNode, 'enc')
      if (toNode.tag === 'to' && enc) direct.push(this._targetFor(toNode.attrs.jid, enc))
    }
    const topEncs = children(node).filter((n) => n.tag === 'enc')
    const skmsg = topEncs.find((e) => e.attrs.type === 'skmsg')
    for (const enc of topEncs.filter((e) => e.attrs.type !== 'skmsg')) direct.push(this._targetFor(to, enc))

    const addr = this.store.phone
    /** @type {any} */
    let message = null
    /** @type {string[]} */
    const recipients = []
    /** @type {Set<SignalParty>} */
    const keyHolders = new Set()
    for (const target of direct) {
      if (!target.party) continue // another linked device: not ours to read
      try {
        const plain = await target.party.decrypt(addr, device.device, /** @type {any} */ (target.enc.attrs.type), /** @type {Uint8Array} */ (target.enc.content))
        let msg = decodeMessage(plain)
        if (msg.senderKeyDistributionMessage?.groupId && msg.senderKeyDistributionMessage.axolotlSenderKeyDistributionMessage) {
          const skd = msg.senderKeyDistributionMessage
          await target.party.processSenderKey(skd.groupId, addr, device.device, skd.axolotlSenderKeyDistributionMessage)
          keyHolders.add(target.party)
        }
        if (msg.deviceSentMessage?.message) msg = msg.deviceSentMessage.message
        const pdo = msg.protocolMessage?.peerDataOperationRequestMessage
        if (target.phone && pdo) this.resends.onPeerRequest(device, id, pdo)
        if (!target.phone) recipients.push(target.jid)
        const hasContent = Object.keys(msg.toJSON()).some((k) => k !== 'senderKeyDistributionMessage' && k !== 'messageContextInfo')
        if (hasContent && (!message || !target.phone)) message = msg
      } catch (err) {
        this._decryptFailed(`${id} for ${target.jid}`, err)
      }
    }
    if (skmsg) {
      const group = this.groups.get(to)
      const members = group ? group.participants.map((p) => /** @type {Contact} */ (this.contacts.get(p))) : []
      for (const member of members) {
        if (!member.party.hasSenderKey(to, addr, device.device)) continue
        try {
          const msg = decodeMessage(await member.party.groupDecrypt(to, addr, device.device, /** @type {Uint8Array} */ (skmsg.content)))
          message ??= msg
          recipients.push(member.jid)
        } catch (err) {
          this._decryptFailed(`${id} skmsg for ${member.jid}`, err)
        }
      }
    }
    if (!message) {
      this.log('device-message-unread', { id, to })
      return ack
    }
    const contact = this.contactFor(to)
    const chat = this.groups.has(to) ? to : contact ? contact.jid : to
    this.messages.set(id, { id, chat, author: this.accountJid, device: device.jid, message })
    const entry = {
      id,
      to,
      from: device.jid,
      ...(this.groups.has(to) ? { participant: this.accountJid } : {}),
      type: node.attrs.type,
      ...(node.attrs.category ? { category: node.attrs.category } : {}),
      t: now(),
      recipients: [...new Set(recipients)],
      message: message.toJSON(),
      ...this._mediaOf(message),
    }
    this.received.push(entry)
    this.log('device-message', { id, to, recipients: entry.recipients })
    return ack
  }

  /**
   * The party that should read an `<enc>` addressed to `jid`.
   * @param {string} jid @param {BinaryNode} enc
   */
  _targetFor(jid, enc) {
    const who = this.resolve(jid)
    if (who?.kind === 'contact') return { party: who.contact.party, jid: who.contact.jid, enc, phone: false }
    if (who?.kind === 'phone') return { party: this.phoneParty, jid: this.accountJid, enc, phone: true }
    return { party: null, jid, enc, phone: false }
  }

  /** @param {string} what @param {unknown} err */
  _decryptFailed(what, err) {
    this.counters.decryptFailures += 1
    const msg = `decrypt ${what}: ${err instanceof Error ? err.message : String(err)}`
    this.errors.push(msg)
    if (this.errors.length > 50) this.errors.shift()
    this.log('decrypt-error', { error: msg })
  }

  /**
   * The media a device uploaded for this message, decrypted (base64), when it is ours.
   * @param {any} message
   */
  _mediaOf(message) {
    const field = Object.keys(MEDIA_FIELDS).find((f) => message[f])
    if (!field) return {}
    const m = message[field]
    const blob = this.media.blobFor(m)
    if (!blob || !m.mediaKey) return { media: { error: 'not uploaded here' } }
    try {
      const bytes = decryptMedia(blob, m.mediaKey, /** @type {any} */ (MEDIA_FIELDS)[field])
      const sha = crypto.createHash('sha256').update(bytes).digest()
      return { media: { bytes: bytes.toString('base64'), fileSha256Ok: m.fileSha256 ? sha.equals(Buffer.from(m.fileSha256)) : false } }
    } catch (err) {
      return { media: { error: /** @type {Error} */ (err).message } }
    }
  }

  /**
   * A `<receipt>` a device sent (delivery of our messages, retries, reads). Recorded.
   * @param {Device} device @param {BinaryNode} node
   * @returns {BinaryNode} the server ack
   */
  receiptFromDevice(device, node) {
    const { id, to, type, participant } = node.attrs
    const ids = [id, ...children(child(node, 'list')).map((i) => i.attrs.id)]
    if (type === 'retry') {
      this.counters.retryReceipts += 1
      this.errors.push(`retry receipt from ${device.jid} for ${id}`)
      this.resends.onRetryReceipt(device, node)
    }
    this.receipts.push({ ids, to, type: type ?? 'delivery', ...(participant ? { participant } : {}), from: device.jid })
    return { tag: 'ack', attrs: { class: 'receipt', id, from: to ?? this.accountJid, ...(type ? { type } : {}), ...(participant ? { participant } : {}) } }
  }

  /** @param {BinaryNode} node an ack the device sent */
  ackFromDevice(node) {
    if (node.attrs.error) {
      this.counters.nacks += 1
      this.errors.push(`nack ${node.attrs.class} ${node.attrs.id}: ${node.attrs.error}`)
    }
  }

  /**
   * What devices sent, oldest first; `to` (phone, PN or LID jid, group jid) filters by chat.
   * @param {string} [to]
   */
  listReceived(to) {
    if (!to) return this.received
    const chat = (/** @type {string} */ jid) => this.contactFor(jid)?.jid ?? jid
    const want = chat(to)
    return this.received.filter((r) => chat(r.to) === want)
  }

  state() {
    return {
      contacts: this.contacts.size,
      groups: this.groups.size,
      outbox: Object.fromEntries([...this.outbox].map(([jid, q]) => [jid, q.length])),
      received: this.received.length,
      receipts: this.receipts.length,
      ...this.counters,
      ...this.resends.state(),
      errors: this.errors.slice(-10),
      media: { downloads: this.media.downloads, uploads: this.media.uploads.size, http: this.media.httpBase, https: this.media.httpsBase, ca: this.media.caFile },
    }
  }
}

/**
 * `/send`'s `undecryptable`: null for a normal message.
 * @param {unknown} value @param {boolean} group
 * @returns {import('./resend.js').Mode|null}
 */
function undecryptableMode(value, group) {
  if (value === undefined || value === null) return null
  if (typeof value !== 'string' || !(/** @type {readonly string[]} */ (UNDECRYPTABLE_MODES).includes(value))) {
    throw new WorldError(400, 'bad_params', `"undecryptable" must be one of ${UNDECRYPTABLE_MODES.join(', ')}`)
  }
  // A group resend would need sender-key retries (skmsg), which are not simulated.
  if (group) throw new WorldError(400, 'bad_params', '"undecryptable" is for 1:1 messages only')
  return /** @type {import('./resend.js').Mode} */ (value)
}

/**
 * `/send`'s `failures` (with `undecryptable: "retry"`): deliveries that fail before the
 * resend that works; from the 2nd retry on Baileys puts fresh pre-keys in its receipt.
 * @param {unknown} value @param {string|null} mode
 * @returns {number}
 */
function failuresOf(value, mode) {
  if (value === undefined || value === null) return 1
  if (mode !== 'retry') throw new WorldError(400, 'bad_params', '"failures" goes with "undecryptable": "retry"')
  // Baileys asks at most 5 times (maxMsgRetryCount) and gives up after that.
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 1 || value > 5) throw new WorldError(400, 'bad_params', '"failures" must be an integer 1-5')
  return value
}

/** @param {any} message proto.Message @returns {string|undefined} its media type (the `mediatype` attribute) */
function mediaTypeOf(message) {
  const field = Object.keys(MEDIA_FIELDS).find((f) => message[f])
  return field ? /** @type {any} */ (MEDIA_FIELDS)[field] : undefined
}

/**
 * `<registration><type><identity><skey><key>` as in a pre-key fetch result.
 * @param {import('./signal.js').Bundle} b
 * @returns {BinaryNode[]}
 */
export function bundleNodes(b) {
  return [
    { tag: 'registration', attrs: {}, content: bigEndian(b.registrationId, 4) },
    { tag: 'type', attrs: {}, content: Buffer.from([5]) },
    { tag: 'identity', attrs: {}, content: b.identity },
    {
      tag: 'skey',
      attrs: {},
      content: [
        { tag: 'id', attrs: {}, content: bigEndian(b.signedPreKey.id, 3) },
        { tag: 'value', attrs: {}, content: b.signedPreKey.public },
        { tag: 'signature', attrs: {}, content: b.signedPreKey.signature },
      ],
    },
    ...(b.preKey
      ? [
          {
            tag: 'key',
            attrs: {},
            content: [
              { tag: 'id', attrs: {}, content: bigEndian(b.preKey.id, 3) },
              { tag: 'value', attrs: {}, content: b.preKey.public },
            ],
          },
        ]
      : []),
  ]
}

/**
 * Parse a pre-key upload (`encrypt` set): registration, identity, one-time keys, signed key.
 * @param {BinaryNode} iq
 * @returns {{registrationId: number, identity: string, signedPreKey: {id: number, public: string, signature: string}, preKeys: Record<string, string>}|null}
 */
export function parsePreKeyUpload(iq) {
  const buf = (/** @type {BinaryNode|undefined} */ n) => (n?.content instanceof Uint8Array ? Buffer.from(n.content) : null)
  const reg = buf(child(iq, 'registration'))
  const identity = buf(child(iq, 'identity'))
  const skey = child(iq, 'skey')
  const skId = buf(child(skey, 'id'))
  const skValue = buf(child(skey, 'value'))
  const skSig = buf(child(skey, 'signature'))
  if (!reg || !identity || !skId || !skValue || !skSig) return null
  /** @type {Record<string, string>} */
  const preKeys = {}
  for (const key of children(child(iq, 'list'))) {
    const kid = buf(child(key, 'id'))
    const value = buf(child(key, 'value'))
    if (kid && value) preKeys[String(kid.readUIntBE(0, kid.length))] = value.toString('base64')
  }
  return {
    registrationId: reg.readUIntBE(0, reg.length),
    identity: identity.toString('base64'),
    signedPreKey: { id: skId.readUIntBE(0, skId.length), public: skValue.toString('base64'), signature: skSig.toString('base64') },
    preKeys,
  }
}

/**
 * The account's app state (WhatsApp's "syncd"), as far as WhatsApp Business labels need it:
 *
 *   key share   the phone sends each newly linked device an APP_STATE_SYNC_KEY_SHARE peer
 *               protocol message with the account's app-state sync key (what real phones do
 *               after pairing); Baileys stores it (process-message.js) under its base64 id.
 *   patches     each change is one SyncdPatch of the `regular` collection, built by Baileys'
 *               own encodeSyncdPatch (Utils/chat-utils.js) with that key, so the value is
 *               AES-encrypted, MACed and LT-hashed exactly as the client will check it.
 *   resync      `w:sync:app:state` answers, per asked collection, the patches after the
 *               asked version (`<collection name version><patches><patch>SyncdPatch</patch>`);
 *               collections without patches are echoed at the asked version, as before.
 *   notify      after a change every linked device gets `<notification type="server_sync">
 *               <collection name="regular" version/>`, which makes Baileys resync it
 *               (Socket/messages-recv.js) and emit labels.edit / labels.association
 *               (processSyncAction).
 *   uploads     the patches a device sends (`<iq xmlns="w:sync:app:state" type="set">`:
 *               chatModify, delete for me, ...) are decrypted with the shared key and kept
 *               (`mutations`), so a test sees exactly what a device changed; they are not
 *               applied to the collections or sent to other devices.
 *
 * Label edits are SETs of `["label_edit", id]` with a labelEditAction; chat associations SETs
 * of `["label_jid", labelId, chatJid]` with a labelAssociationAction `{labeled}` (what
 * Baileys' own chatModificationToAppPatch builds). No snapshots: a device syncing from version
 * 0 gets every patch, which Baileys applies the same way.
 */
import crypto from 'node:crypto'
import { baileys } from './deps.js'
import { SERVER_JID, child, children } from './nodes.js'
import { encodeMessage } from './signal.js'
import { WorldError, messageId } from './world.js'

const { proto, encodeSyncdPatch, decodeSyncdMutations, newLTHashState } = baileys
const SET = proto.SyncdMutation.SyncdOperation.SET
const KEY_SHARE = proto.Message.ProtocolMessage.Type.APP_STATE_SYNC_KEY_SHARE
const LABEL_COLORS = 20 // WhatsApp's label palette (Types/Label.d.ts LabelColor)
const MAX_NAME = 100

const now = () => Math.floor(Date.now() / 1000)

/** @typedef {import('./nodes.js').BinaryNode} BinaryNode */
/** @typedef {import('./store.js').Device} Device */

/**
 * @typedef {object} Label
 * @property {string} id
 * @property {string} name
 * @property {number} color palette index 0-19
 * @property {boolean} deleted
 */

/**
 * @typedef {object} ReceivedMutation
 * @property {string} collection e.g. regular_high
 * @property {unknown[]} index e.g. ["deleteMessageForMe", chat jid, message id, fromMe "1"|"0", participant]
 * @property {any} action the SyncActionValue, toJSON()
 * @property {string} from the device jid that sent it
 */

/**
 * @typedef {object} Collection
 * @property {any} state the LT-hash state after the last patch (Baileys' LTHashState)
 * @property {{version: number, bytes: Uint8Array}[]} patches encoded SyncdPatch, oldest first
 */

export class AppState {
  /**
   * @param {import('./world.js').World} world who sends (the account's phone) and to whom
   */
  constructor(world) {
    this.world = world
    // One key, as a freshly set-up account has; ids are short random bytes, as WhatsApp's.
    this.keyId = crypto.randomBytes(6)
    this.keyData = {
      keyData: crypto.randomBytes(32),
      fingerprint: { rawId: crypto.randomInt(1, 2 ** 31), currentIndex: 0, deviceIndexes: [0] },
      timestamp: Date.now(),
    }
    /** @type {Record<string, Collection>} */
    this.collections = {}
    /** @type {Map<string, Label>} */
    this.labels = new Map()
    /** @type {Map<string, Set<string>>} label id -> chat jids */
    this.chatLabels = new Map()
    /** Mutations one after another: each patch's version and LT hash build on the last. */
    this.chain = Promise.resolve()
    this.counters = { keyShares: 0, patches: 0, served: 0, notifications: 0 }
    /** @type {ReceivedMutation[]} what devices uploaded */
    this.mutations = []
    /** @type {string[]} uploaded patches that could not be read (diagnostics) */
    this.errors = []
  }

  get keyIdBase64() {
    return this.keyId.toString('base64')
  }

  /**
   * The phone shares the app-state key with a newly linked device (before its bootstrap
   * history sync, whose arrival starts Baileys' first full app-state sync).
   * @param {Device} device
   */
  shareKey(device) {
    const world = this.world
    const bytes = encodeMessage({
      protocolMessage: {
        type: KEY_SHARE,
        appStateSyncKeyShare: { keys: [{ keyId: { keyId: this.keyId }, keyData: this.keyData }] },
      },
    })
    const id = messageId()
    const t = now()
    world.enqueue(device.jid, {
      id,
      what: 'app state key share',
      needsKeys: true,
      onSent: () => void (this.counters.keyShares += 1),
      build: async (d) => {
        const enc = await world._encryptFor(world.phoneParty, d, bytes)
        return {
          tag: 'message',
          attrs: { from: world.accountJid, id, t: String(t), type: 'text', category: 'peer' },
          content: [{ tag: 'enc', attrs: { v: '2', type: enc.type }, content: enc.ciphertext }],
        }
      },
    })
  }

  /**
   * POST /app-state/key: the phone shares the key again with every linked device (as a phone
   * does when a device reports it missing).
   * @returns {{keyId: string, devices: string[]}}
   */
  shareKeyWithAll() {
    const devices = this.world.store.pairedJids()
    for (const jid of devices) this.shareKey({ jid })
    return { keyId: this.keyIdBase64, devices }
  }

  /**
   * Keep the mutations of the patches in a `w:sync:app:state` set iq.
   * @param {BinaryNode} iq
   * @param {string} from the device jid
   */
  async record(iq, from) {
    const getKey = async (/** @type {string} */ id) => (id === this.keyIdBase64 ? { keyData: this.keyData.keyData } : undefined)
    for (const collection of children(child(iq, 'sync')).filter((c) => c.tag === 'collection')) {
      for (const node of children(collection).filter((c) => c.tag === 'patch')) {
        try {
          const patch = proto.SyncdPatch.decode(/** @type {Uint8Array} */ (node.content))
          // Macs unchecked: the lt-hash the patch mac covers is the device's, not ours.
          await decodeSyncdMutations(patch.mutations, newLTHashState(), getKey, (/** @type {any} */ m) => this.mutations.push({
            collection: collection.attrs.name,
            index: m.index,
            action: proto.SyncActionValue.toObject(m.syncAction.value, { longs: Number, bytes: String }),
            from,
          }), false)
        } catch (err) {
          this.errors.push(/** @type {Error} */ (err).message)
        }
      }
    }
  }

  /**
   * The phone creates, renames, recolours or deletes a label.
   * @param {{id?: unknown, name?: unknown, color?: unknown, deleted?: unknown}} p
   */
  async editLabel({ id, name, color, deleted = false }) {
    if (typeof id !== 'string' || !/^\d{1,10}$/.test(id)) throw new WorldError(400, 'bad_params', '"id" must be a string of 1-10 digits')
    if (typeof deleted !== 'boolean') throw new WorldError(400, 'bad_params', '"deleted" must be a boolean')
    const old = this.labels.get(id)
    const label = {
      id,
      name: name === undefined && old ? old.name : name,
      color: color === undefined && old ? old.color : color,
      deleted,
    }
    if (typeof label.name !== 'string' || !label.name.trim() || label.name.length > MAX_NAME) {
      throw new WorldError(400, 'bad_params', `"name" must be a non-blank string of at most ${MAX_NAME} characters`)
    }
    if (!Number.isInteger(label.color) || label.color < 0 || label.color >= LABEL_COLORS) {
      throw new WorldError(400, 'bad_params', `"color" must be an integer 0-${LABEL_COLORS - 1}`)
    }
    const action = { labelEditAction: { name: label.name, color: label.color, deleted } }
    const version = await this._mutate(['label_edit', id], action)
    this.labels.set(id, /** @type {Label} */ (label))
    return { ...label, version, devices: this._notify(version) }
  }

  /**
   * The phone puts a label on a chat (add) or takes it off.
   * @param {{labelId?: unknown, chat?: unknown, add?: unknown}} p
   */
  async labelChat({ labelId, chat, add = true }) {
    const label = typeof labelId === 'string' ? this.labels.get(labelId) : undefined
    if (!label || label.deleted) throw new WorldError(400, 'unknown_label', `no label ${JSON.stringify(labelId)} (POST /labels first)`)
    if (typeof add !== 'boolean') throw new WorldError(400, 'bad_params', '"add" must be a boolean')
    const jid = this._chatJid(chat)
    const version = await this._mutate(['label_jid', label.id, jid], { labelAssociationAction: { labeled: add } })
    const chats = this.chatLabels.get(label.id) ?? new Set()
    if (add) chats.add(jid)
    else chats.delete(jid)
    this.chatLabels.set(label.id, chats)
    return { labelId: label.id, chat: jid, add, version, devices: this._notify(version) }
  }

  /** GET /labels: what the phone has. */
  list() {
    return {
      labels: [...this.labels.values()],
      chats: [...this.chatLabels].flatMap(([labelId, chats]) => [...chats].map((chat) => ({ labelId, chat }))),
      version: this._collection('regular').state.version,
      counters: { ...this.counters },
    }
  }

  /**
   * The answer to a `w:sync:app:state` iq: the asked collections, each with its patches
   * after the asked version (has_more_patches never set: everything fits in one answer).
   * @param {BinaryNode} sync the iq's `<sync>`
   * @returns {BinaryNode[]}
   */
  answer(sync) {
    const asked = Array.isArray(sync?.content) ? sync.content.filter((c) => c.tag === 'collection') : []
    const collections = asked.map((c) => {
      const name = c.attrs.name
      const from = Number(c.attrs.version ?? '0') || 0
      const patches = (this.collections[name]?.patches ?? []).filter((p) => p.version > from)
      if (!patches.length) return { tag: 'collection', attrs: { name, version: String(from) } }
      this.counters.served += patches.length
      return {
        tag: 'collection',
        attrs: { name, version: String(patches[patches.length - 1].version) },
        content: [{ tag: 'patches', attrs: {}, content: patches.map((p) => ({ tag: 'patch', attrs: {}, content: p.bytes })) }],
      }
    })
    return [{ tag: 'sync', attrs: {}, content: collections }]
  }

  /** @param {string} name */
  _collection(name) {
    this.collections[name] ??= { state: newLTHashState(), patches: [] }
    return this.collections[name]
  }

  /**
   * One SET mutation in the `regular` collection, as the next patch. Serialized.
   * @param {string[]} index @param {object} action SyncActionValue fields
   * @returns {Promise<number>} the patch's version
   */
  _mutate(index, action) {
    const run = async () => {
      const collection = this._collection('regular')
      const { patch, state } = await encodeSyncdPatch(
        { type: 'regular', index, syncAction: { timestamp: Date.now(), ...action }, apiVersion: 3, operation: SET },
        this.keyIdBase64,
        collection.state,
        async () => this.keyData,
      )
      const bytes = proto.SyncdPatch.encode(proto.SyncdPatch.fromObject({ ...patch, version: { version: state.version } })).finish()
      collection.state = state
      collection.patches.push({ version: state.version, bytes })
      this.counters.patches += 1
      return /** @type {number} */ (state.version)
    }
    const next = this.chain.then(run)
    this.chain = next.then(
      () => undefined,
      () => undefined,
    )
    return next
  }

  /**
   * Tell every linked device the collection moved (queued for those offline).
   * @param {number} version
   * @returns {string[]} the devices
   */
  _notify(version) {
    const devices = this.world.store.pairedJids()
    for (const jid of devices) {
      const id = messageId()
      this.world.enqueue(jid, {
        id,
        what: `server_sync regular v${version}`,
        onSent: () => void (this.counters.notifications += 1),
        build: async () => ({
          tag: 'notification',
          attrs: { from: SERVER_JID, type: 'server_sync', id, t: String(now()) },
          content: [{ tag: 'collection', attrs: { name: 'regular', version: String(version) } }],
        }),
      })
    }
    return devices
  }

  /** @param {unknown} chat a contact (phone or jid) or a group jid @returns {string} */
  _chatJid(chat) {
    if (typeof chat === 'string' && this.world.groups.has(chat)) return chat
    if (typeof chat === 'string' && chat.endsWith('@g.us')) throw new WorldError(400, 'unknown_group', `no simulated group ${chat}`)
    return this.world._contact(chat).jid
  }
}

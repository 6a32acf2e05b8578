/**
 * App state (WhatsApp's synced per-account settings: archive, pin, mute, delete for me, ...),
 * as far as tests need it:
 * - the account's phone shares an app-state sync key with its linked devices (a peer
 *   `protocolMessage` APP_STATE_SYNC_KEY_SHARE). Until it does, Baileys' `chatModify` refuses
 *   with "App state key not present!" (Socket/chats.js appPatch);
 * - the patches a device uploads (`<iq xmlns="w:sync:app:state" type="set">`) are decrypted
 *   with the keys shared here and kept, so a test sees exactly what a device changed.
 * The collections themselves stay empty: every resync still answers "at your version".
 */
import crypto from 'node:crypto'
import { baileys } from './deps.js'
import { child, children } from './nodes.js'
import { encodeMessage } from './signal.js'
import { messageId } from './world.js'

const { proto, decodeSyncdMutations, newLTHashState } = baileys

/**
 * @typedef {object} ReceivedMutation
 * @property {string} collection e.g. regular_high
 * @property {unknown[]} index e.g. ["deleteMessageForMe", chat jid, message id, fromMe "1"|"0", participant]
 * @property {any} action the SyncActionValue, toJSON()
 * @property {string} from the device jid that sent it
 */

/** @type {WeakMap<import('./world.js').World, AppState>} */
const STATES = new WeakMap()

/**
 * The app state of a world (created on first use).
 * @param {import('./world.js').World} world
 */
export function appStateOf(world) {
  let state = STATES.get(world)
  if (!state) STATES.set(world, (state = new AppState(world)))
  return state
}

export class AppState {
  /** @param {import('./world.js').World} world */
  constructor(world) {
    this.world = world
    /** @type {Map<string, Buffer>} keyData by base64 key id */
    this.keys = new Map()
    /** @type {ReceivedMutation[]} */
    this.mutations = []
    /** @type {string[]} patches that could not be read (diagnostics) */
    this.errors = []
  }

  /**
   * The phone shares a fresh app-state sync key with every linked device.
   * @returns {{id: string, keyId: string, devices: string[]}}
   */
  shareKey() {
    const world = this.world
    const keyId = crypto.randomBytes(6)
    const keyData = crypto.randomBytes(32)
    this.keys.set(keyId.toString('base64'), keyData)
    const bytes = encodeMessage({
      protocolMessage: {
        type: proto.Message.ProtocolMessage.Type.APP_STATE_SYNC_KEY_SHARE,
        appStateSyncKeyShare: {
          keys: [{ keyId: { keyId }, keyData: { keyData, fingerprint: { rawId: 1, currentIndex: 0, deviceIndexes: [0] }, timestamp: Date.now() } }],
        },
      },
    })
    const id = messageId()
    const t = String(Math.floor(Date.now() / 1000))
    const devices = world.store.pairedJids()
    for (const jid of devices) {
      world.enqueue(jid, {
        id,
        what: 'app state sync key share',
        needsKeys: true,
        build: async (device) => {
          const enc = await world._encryptFor(world.phoneParty, device, bytes)
          return {
            tag: 'message',
            attrs: { from: world.accountJid, id, t, type: 'text', category: 'peer' },
            content: [{ tag: 'enc', attrs: { v: '2', type: enc.type }, content: enc.ciphertext }],
          }
        },
      })
    }
    return { id, keyId: keyId.toString('base64'), devices }
  }

  /**
   * Keep the mutations of the patches in a `w:sync:app:state` set iq.
   * @param {import('./nodes.js').BinaryNode} iq
   * @param {string} from the device jid
   */
  async record(iq, from) {
    const getKey = async (/** @type {string} */ id) => {
      const keyData = this.keys.get(id)
      return keyData ? { keyData } : undefined
    }
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
}

/**
 * Messages a linked device cannot decrypt, and how they come back (`POST /send`
 * `"undecryptable"`). Baileys answers a message it fails to decrypt with a CIPHERTEXT stub
 * upsert, a retry receipt to the sender (Socket/messages-recv.js sendRetryRequest) and,
 * 3 s + 2 s later, a PLACEHOLDER_MESSAGE_RESEND peer-data-operation request to its own
 * phone (requestPlaceholderResend). Which of those gets an answer is the mode:
 *
 *   retry  the contact answers the retry receipt the way a phone does: it drops its
 *          session with that device and re-sends the SAME id as a pkmsg built from the
 *          pre-keys in the receipt (`<keys>`, from the 2nd retry on), else from the
 *          device's uploaded bundle. With `failures: n` the first n-1 receipts get
 *          another undecryptable copy instead (so the real resend can use receipt keys).
 *   phone  the contact ignores the receipt; the account's phone answers the device's
 *          request with a PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE whose
 *          `placeholderMessageResendResponse.webMessageInfoBytes` is the original
 *          WebMessageInfo (Utils/process-message.js re-emits it as messages.upsert).
 *   never  nobody answers: the stub stays.
 *   unavailable  no `<enc>` at all, only `<unavailable/>` (what WhatsApp delivers when the
 *          sender's device did not encrypt for this one): Baileys sends no retry receipt,
 *          upserts a CIPHERTEXT stub ("Message absent from node"), asks its phone at once
 *          (2 s) and announces the request id in a messages.update (`messageStubParameters`
 *          [text, requestId]); the phone answers as in `phone`.
 *
 * The failure is genuine: the `<enc type="msg">` is a WhisperMessage of a session the
 * device never had (a throwaway party's X3DH with the device's signed pre-key, no one-time
 * key consumed), so libsignal fails it inside Baileys' decrypt. The contact's own session
 * with the device is left untouched.
 */
import { baileys, libsignalProtobufs } from './deps.js'
import { child } from './nodes.js'
import { SignalParty } from './signal.js'

const { proto } = baileys
const ProtocolType = proto.Message.ProtocolMessage.Type
const PdoType = proto.Message.PeerDataOperationRequestType

/** The `undecryptable` values `/send` accepts. */
export const UNDECRYPTABLE_MODES = /** @type {const} */ (['retry', 'phone', 'never', 'unavailable'])
/** Modes whose placeholder-resend request the phone answers. */
const PHONE_ANSWERS = new Set(['phone', 'unavailable'])

/** @typedef {import('./nodes.js').BinaryNode} BinaryNode */
/** @typedef {import('./store.js').Device} Device */
/** @typedef {typeof UNDECRYPTABLE_MODES[number]} Mode */

/**
 * A message sent undecryptable, as delivered (what a resend repeats).
 * @typedef {object} Broken
 * @property {string} id
 * @property {Mode} mode
 * @property {import('./world.js').Contact} contact
 * @property {any} message proto.Message (object form)
 * @property {Uint8Array} bytes the message encoded
 * @property {number} t
 * @property {Record<string, string>} attrs the `<message>` attributes it went out with
 * @property {Record<string, string>} encAttrs its `<enc>` attributes except `type`
 * @property {number} failuresLeft `retry`: retry receipts still answered with another
 *   undecryptable copy before the real resend
 */

/** What happened to undecryptable messages (`/state` `messages`, see the README). */
const COUNTERS = () => ({ undecryptable: 0, resends: 0, resendsFromReceiptKeys: 0, retriesIgnored: 0, placeholderRequests: 0, placeholderAnswers: 0 })

export class Resends {
  /** @param {import('./world.js').World} world */
  constructor(world) {
    this.world = world
    /** @type {Map<string, Broken>} by message id */
    this.broken = new Map()
    this.counters = COUNTERS()
  }

  /**
   * The content of an undecryptable message for `device` (an `<enc>` no session opens, or
   * `<unavailable/>`), remembered for its resend.
   * @param {Device} device
   * @param {Omit<Broken, 'attrs'|'encAttrs'|'failuresLeft'>} b
   * @param {Record<string, string>} attrs @param {Record<string, string>} encAttrs
   * @param {number} failures deliveries that fail (this one included)
   * @returns {Promise<BinaryNode>}
   */
  async brokenContent(device, b, attrs, encAttrs, failures) {
    this.broken.set(b.id, { ...b, attrs, encAttrs, failuresLeft: failures - 1 })
    if (b.mode === 'unavailable') {
      this.counters.undecryptable += 1
      return { tag: 'unavailable', attrs: {} }
    }
    return this._stranger(device, b.bytes, encAttrs)
  }

  /**
   * An undecryptable `<enc type="msg">` for the device (counted).
   * @param {Device} device @param {Uint8Array} bytes @param {Record<string, string>} encAttrs
   * @returns {Promise<BinaryNode>}
   */
  async _stranger(device, bytes, encAttrs) {
    const ciphertext = await strangerWhisper(this.world.signedBundle(device.jid), bytes)
    this.counters.undecryptable += 1
    return { tag: 'enc', attrs: { ...encAttrs, type: 'msg' }, content: ciphertext }
  }

  /**
   * Baileys' retry receipt for one of our messages (world.receiptFromDevice).
   * @param {Device} device @param {BinaryNode} node
   */
  onRetryReceipt(device, node) {
    const b = this.broken.get(node.attrs.id)
    if (!b) return
    if (b.mode !== 'retry') {
      this.counters.retriesIgnored += 1
      this.world.log('retry-ignored', { id: b.id, mode: b.mode })
      return
    }
    const count = child(node, 'retry')?.attrs.count ?? '1'
    const keys = parseRetryKeys(node)
    const contact = b.contact
    if (b.failuresLeft > 0) {
      b.failuresLeft -= 1
      this.world.enqueue(device.jid, {
        id: b.id,
        what: `undecryptable resend ${b.id} from ${contact.jid} (retry ${count})`,
        needsKeys: true,
        build: async (dev) => ({ tag: 'message', attrs: { ...b.attrs }, content: [await this._stranger(dev, b.bytes, { ...b.encAttrs, count })] }),
      })
      return
    }
    this.world.enqueue(device.jid, {
      id: b.id,
      what: `resend ${b.id} from ${contact.jid} (retry ${count})`,
      needsKeys: true,
      build: async (dev) => {
        // A fresh session, as a phone builds on a retry: never the one the device failed on.
        contact.party.forgetSession(this.world.store.phone, dev.device)
        const enc = await contact.party.encrypt(this.world.store.phone, dev.device, b.bytes, () => keys ?? this.world.takeDeviceBundle(dev.jid))
        this.counters.resends += 1
        if (keys) this.counters.resendsFromReceiptKeys += 1
        this.world.log('resend', { id: b.id, to: dev.jid, count, keys: Boolean(keys) })
        return { tag: 'message', attrs: { ...b.attrs }, content: [{ tag: 'enc', attrs: { ...b.encAttrs, type: enc.type, count }, content: enc.ciphertext }] }
      },
    })
  }

  /**
   * A peer-data-operation request a device sent its phone (world.fromDevice): placeholder
   * resends for `phone` and `unavailable` messages are answered, everything else only counted.
   * @param {Device} device
   * @param {string} stanzaId the request's message id (Baileys' requestId)
   * @param {any} request proto.Message.PeerDataOperationRequestMessage
   */
  onPeerRequest(device, stanzaId, request) {
    if (request.peerDataOperationRequestType !== PdoType.PLACEHOLDER_MESSAGE_RESEND) return
    /** @type {any[]} */
    const results = []
    for (const r of request.placeholderMessageResendRequest ?? []) {
      this.counters.placeholderRequests += 1
      const b = this.broken.get(r.messageKey?.id ?? '')
      if (!b || !PHONE_ANSWERS.has(b.mode)) continue
      const info = {
        key: { remoteJid: b.contact.jid, fromMe: false, id: b.id },
        message: b.message,
        messageTimestamp: b.t,
        pushName: b.contact.name,
      }
      results.push({ placeholderMessageResendResponse: { webMessageInfoBytes: proto.WebMessageInfo.encode(proto.WebMessageInfo.fromObject(info)).finish() } })
    }
    if (!results.length) return
    const message = {
      protocolMessage: {
        type: ProtocolType.PEER_DATA_OPERATION_REQUEST_RESPONSE_MESSAGE,
        peerDataOperationRequestResponseMessage: { peerDataOperationRequestType: PdoType.PLACEHOLDER_MESSAGE_RESEND, stanzaId, peerDataOperationResult: results },
      },
    }
    this.world.phoneMessage(device.jid, message, `placeholder resend answer to ${stanzaId}`, () => {
      this.counters.placeholderAnswers += results.length
    })
  }

  state() {
    return { ...this.counters }
  }
}

/**
 * A WhisperMessage (`msg`) no session of the device can open: a throwaway party runs X3DH
 * against the device's signed pre-key and we keep only the inner WhisperMessage of its
 * pkmsg, so the device sees a `msg` for a session it does not have.
 * @param {import('./signal.js').Bundle} bundle the device's bundle without a one-time key
 * @param {Uint8Array} bytes proto.Message encoded
 * @returns {Promise<Buffer>}
 */
export async function strangerWhisper(bundle, bytes) {
  const stranger = new SignalParty('stranger')
  const { type, ciphertext } = await stranger.encrypt('device', 1, bytes, () => bundle)
  if (type !== 'pkmsg') throw new Error(`a first message should be a pkmsg, got ${type}`)
  const pre = libsignalProtobufs.PreKeyWhisperMessage.decode(ciphertext.subarray(1))
  return Buffer.from(pre.message)
}

/**
 * The pre-key bundle a retry receipt carries (`<registration>` + `<keys>`), Baileys'
 * sendRetryRequest layout; null when it has none (first retry).
 * @param {BinaryNode} receipt
 * @returns {import('./signal.js').Bundle|null}
 */
export function parseRetryKeys(receipt) {
  const keys = child(receipt, 'keys')
  if (!keys) return null
  const buf = (/** @type {BinaryNode|undefined} */ n) => (n?.content instanceof Uint8Array ? Buffer.from(n.content) : null)
  const uint = (/** @type {BinaryNode|undefined} */ n) => {
    const b = buf(n)
    return b ? b.readUIntBE(0, b.length) : null
  }
  const registrationId = uint(child(receipt, 'registration'))
  const identity = buf(child(keys, 'identity'))
  const key = child(keys, 'key')
  const skey = child(keys, 'skey')
  const preId = uint(child(key, 'id'))
  const prePub = buf(child(key, 'value'))
  const skId = uint(child(skey, 'id'))
  const skPub = buf(child(skey, 'value'))
  const skSig = buf(child(skey, 'signature'))
  if (registrationId === null || !identity || skId === null || !skPub || !skSig) return null
  return {
    registrationId,
    identity,
    signedPreKey: { id: skId, public: skPub, signature: skSig },
    ...(preId !== null && prePub ? { preKey: { id: preId, public: prePub } } : {}),
  }
}


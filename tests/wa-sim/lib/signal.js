/**
 * The Signal side of a simulated WhatsApp device (a contact's phone, or the account's own
 * phone): identity, registration id, signed pre-key, one-time pre-keys, and an in-memory
 * store, driving the same `libsignal` (1:1 Double Ratchet) and Baileys sender-key code
 * (groups) the companion runs. Plaintexts are padded/unpadded exactly as Baileys does
 * (`writeRandomPadMax16` / `unpadRandomMax16`).
 *
 * Addresses: the companion is one remote party per linked device, whatever jid Baileys
 * uses for us (PN or LID); callers pass a stable `ProtocolAddress`-like name for it.
 */
import { baileys, libsignal, signalGroup } from './deps.js'

const { proto, writeRandomPadMax16, unpadRandomMax16 } = baileys
const { ProtocolAddress, SessionBuilder, SessionCipher, keyhelper } = libsignal
const { GroupCipher, GroupSessionBuilder, SenderKeyDistributionMessage, SenderKeyName, SenderKeyRecord } = signalGroup

/** 32-byte public key -> libsignal's 33-byte form (type byte 5). */
export const signalPub = (/** @type {Uint8Array} */ key) => (key.length === 33 ? Buffer.from(key) : Buffer.concat([Buffer.from([5]), key]))
/** 33-byte libsignal public key -> the 32 raw bytes WhatsApp puts on the wire. */
export const rawPub = (/** @type {Uint8Array} */ key) => Buffer.from(key.length === 33 ? key.subarray(1) : key)

/**
 * A pre-key bundle as WhatsApp hands it out (raw 32-byte keys).
 * @typedef {object} Bundle
 * @property {number} registrationId
 * @property {Buffer} identity
 * @property {{id: number, public: Buffer, signature: Buffer}} signedPreKey
 * @property {{id: number, public: Buffer}} [preKey]
 */

/** @typedef {{type: 'pkmsg'|'msg', ciphertext: Buffer}} Encrypted */

export class SignalParty {
  /** @param {string} name the party's own address id (logs only) */
  constructor(name) {
    this.name = name
    this.identity = keyhelper.generateIdentityKeyPair()
    this.registrationId = keyhelper.generateRegistrationId()
    this.signedPreKey = keyhelper.generateSignedPreKey(this.identity, 1)
    /** @type {Map<number, {pubKey: Buffer, privKey: Buffer}>} one-time pre-keys handed out and not yet used */
    this.preKeys = new Map()
    this.nextPreKeyId = 1
    /** @type {Map<string, any>} SessionRecord by address */
    this.sessions = new Map()
    /** @type {Map<string, Buffer>} remote identity keys by address id */
    this.identities = new Map()
    /** @type {Map<string, any>} SenderKeyRecord by sender key name */
    this.senderKeys = new Map()
    const self = this
    /** The storage interface libsignal and the sender-key code call. */
    this.store = {
      loadSession: async (/** @type {string} */ id) => self.sessions.get(id),
      storeSession: async (/** @type {string} */ id, /** @type {any} */ record) => void self.sessions.set(id, record),
      // WhatsApp trusts on first use; we do the same (identity changes replace the key).
      isTrustedIdentity: async () => true,
      loadIdentityKey: async (/** @type {string} */ id) => self.identities.get(id),
      saveIdentity: async (/** @type {string} */ id, /** @type {Buffer} */ key) => void self.identities.set(id, Buffer.from(key)),
      loadPreKey: async (/** @type {number|string} */ id) => self.preKeys.get(Number(id)),
      removePreKey: async (/** @type {number|string} */ id) => void self.preKeys.delete(Number(id)),
      loadSignedPreKey: async () => self.signedPreKey.keyPair,
      getOurRegistrationId: async () => self.registrationId,
      getOurIdentity: async () => self.identity,
      loadSenderKey: async (/** @type {any} */ name) => self.senderKeys.get(name.toString()) ?? new SenderKeyRecord(),
      storeSenderKey: async (/** @type {any} */ name, /** @type {any} */ record) => void self.senderKeys.set(name.toString(), record),
    }
  }

  /**
   * A bundle for a pre-key fetch: a fresh one-time pre-key each time, as the server would
   * hand out the next unused one.
   * @returns {Bundle}
   */
  bundle() {
    const id = this.nextPreKeyId++
    const pre = keyhelper.generatePreKey(id)
    this.preKeys.set(id, pre.keyPair)
    return {
      registrationId: this.registrationId,
      identity: rawPub(this.identity.pubKey),
      signedPreKey: { id: this.signedPreKey.keyId, public: rawPub(this.signedPreKey.keyPair.pubKey), signature: Buffer.from(this.signedPreKey.signature) },
      preKey: { id, public: rawPub(pre.keyPair.pubKey) },
    }
  }

  /** @param {string} addr remote address id (no dots) @param {number} device */
  hasSession(addr, device) {
    const record = this.sessions.get(new ProtocolAddress(addr, device).toString())
    return Boolean(record?.haveOpenSession())
  }

  /**
   * Drop the session with a remote device: the next encrypt builds a fresh one (pkmsg),
   * as a phone does when it answers a retry receipt.
   * @param {string} addr remote address id @param {number} device
   */
  forgetSession(addr, device) {
    this.sessions.delete(new ProtocolAddress(addr, device).toString())
  }

  /**
   * Encrypt a proto.Message for a remote device, building the session from `bundle` when
   * there is none yet (X3DH -> pkmsg until the other side answers, then msg).
   * @param {string} addr remote address id
   * @param {number} device
   * @param {Uint8Array} messageBytes proto.Message encoded (padding is added here)
   * @param {() => Bundle|null} bundle the remote's pre-key bundle, consumed only when needed
   * @returns {Promise<Encrypted>}
   */
  async encrypt(addr, device, messageBytes, bundle) {
    const address = new ProtocolAddress(addr, device)
    if (!this.hasSession(addr, device)) {
      const b = bundle()
      if (!b) throw new Error(`${this.name}: no session with ${address} and no pre-key bundle for it`)
      await new SessionBuilder(this.store, address).initOutgoing({
        registrationId: b.registrationId,
        identityKey: signalPub(b.identity),
        signedPreKey: { keyId: b.signedPreKey.id, publicKey: signalPub(b.signedPreKey.public), signature: b.signedPreKey.signature },
        ...(b.preKey ? { preKey: { keyId: b.preKey.id, publicKey: signalPub(b.preKey.public) } } : {}),
      })
    }
    const { type, body } = await new SessionCipher(this.store, address).encrypt(writeRandomPadMax16(Buffer.from(messageBytes)))
    return { type: type === 3 ? 'pkmsg' : 'msg', ciphertext: Buffer.from(body, 'binary') }
  }

  /**
   * @param {string} addr remote address id
   * @param {number} device
   * @param {'pkmsg'|'msg'} type
   * @param {Uint8Array} ciphertext
   * @returns {Promise<Buffer>} the unpadded plaintext (an encoded proto.Message)
   */
  async decrypt(addr, device, type, ciphertext) {
    const cipher = new SessionCipher(this.store, new ProtocolAddress(addr, device))
    const padded = type === 'pkmsg' ? await cipher.decryptPreKeyWhisperMessage(Buffer.from(ciphertext)) : await cipher.decryptWhisperMessage(Buffer.from(ciphertext))
    return Buffer.from(unpadRandomMax16(padded))
  }

  /**
   * Our sender key for a group: the SenderKeyDistributionMessage bytes to hand to a device.
   * @param {string} group group jid
   * @param {string} self our own address id in that group
   */
  async senderKeyDistribution(group, self) {
    const skdm = await new GroupSessionBuilder(this.store).create(new SenderKeyName(group, new ProtocolAddress(self, 0)))
    return Buffer.from(skdm.serialize())
  }

  /**
   * Encrypt a proto.Message for a group with our sender key (skmsg).
   * @param {string} group @param {string} self @param {Uint8Array} messageBytes
   */
  async groupEncrypt(group, self, messageBytes) {
    const name = new SenderKeyName(group, new ProtocolAddress(self, 0))
    await this.senderKeyDistribution(group, self) // creates the key on first use
    return Buffer.from(await new GroupCipher(this.store, name).encrypt(writeRandomPadMax16(Buffer.from(messageBytes))))
  }

  /**
   * Take in a sender key someone distributed.
   * @param {string} group @param {string} sender address id @param {number} device @param {Uint8Array} axolotl bytes
   */
  async processSenderKey(group, sender, device, axolotl) {
    const msg = new SenderKeyDistributionMessage(null, null, null, null, Buffer.from(axolotl))
    await new GroupSessionBuilder(this.store).process(new SenderKeyName(group, new ProtocolAddress(sender, device)), msg)
  }

  /** @param {string} group @param {string} sender @param {number} device */
  hasSenderKey(group, sender, device) {
    const record = this.senderKeys.get(new SenderKeyName(group, new ProtocolAddress(sender, device)).toString())
    return Boolean(record && !record.isEmpty())
  }

  /**
   * @param {string} group @param {string} sender @param {number} device @param {Uint8Array} ciphertext
   * @returns {Promise<Buffer>} unpadded plaintext
   */
  async groupDecrypt(group, sender, device, ciphertext) {
    const name = new SenderKeyName(group, new ProtocolAddress(sender, device))
    const padded = await new GroupCipher(this.store, name).decrypt(Buffer.from(ciphertext))
    return Buffer.from(unpadRandomMax16(padded))
  }
}

/** @param {Uint8Array} bytes unpadded plaintext @returns {any} proto.Message */
export const decodeMessage = (bytes) => proto.Message.decode(bytes)
/** @param {any} message proto.Message-like object @returns {Uint8Array} */
export const encodeMessage = (message) => proto.Message.encode(proto.Message.fromObject(message)).finish()

/**
 * The server half of WhatsApp's Noise XX handshake (Noise_XX_25519_AESGCM_SHA256) and the
 * transport that follows it. Pure: no sockets, no timers; the session feeds it bytes.
 *
 *   client -> ClientHello {ephemeral}
 *   server -> ServerHello {ephemeral, enc(static), enc(CertChain)}
 *   client -> ClientFinish {enc(client static = creds.noiseKey), enc(ClientPayload)}
 *
 * The operations mirror Baileys' Utils/noise-handler.js step by step (same hash, same key
 * mixing, same counters), from the responder's side. Constants and primitives are Baileys'
 * own exports so a mismatch shows up as a GCM authentication failure, never silently.
 */
import { baileys } from './deps.js'

const { Curve, NOISE_MODE, NOISE_WA_HEADER, aesDecryptGCM, aesEncryptGCM, hkdf, proto, sha256 } = baileys

const EMPTY = Buffer.alloc(0)

/** Raised for a handshake message that is malformed or fails authentication. */
export class HandshakeError extends Error {
  /** @param {string} message @param {{cause?: unknown}} [opts] */
  constructor(message, opts) {
    super(message, opts)
    this.name = 'HandshakeError'
  }
}

/** @param {number} counter @returns {Buffer} 12-byte GCM nonce: 8 zero bytes + big-endian counter */
function nonce(counter) {
  const iv = Buffer.alloc(12)
  iv.writeUInt32BE(counter >>> 0, 8)
  return iv
}

/**
 * Symmetric state during the handshake: running hash, chaining key (Baileys calls it
 * `salt`), one cipher key and one counter shared by both directions.
 */
class SymmetricState {
  constructor() {
    const mode = Buffer.from(NOISE_MODE)
    this.hash = mode.byteLength === 32 ? mode : sha256(mode)
    this.salt = this.hash
    this.key = this.hash
    this.counter = 0
  }

  /** @param {Uint8Array} data */
  mixHash(data) {
    this.hash = sha256(Buffer.concat([this.hash, data]))
  }

  /** @param {Uint8Array} input */
  mixKey(input) {
    const [salt, key] = this.split(input)
    this.salt = salt
    this.key = key
    this.counter = 0
  }

  /** @param {Uint8Array} input @returns {[Buffer, Buffer]} */
  split(input) {
    const out = Buffer.from(hkdf(Buffer.from(input), 64, { salt: this.salt, info: '' }))
    return [out.subarray(0, 32), out.subarray(32)]
  }

  /** @param {Uint8Array} plaintext */
  encrypt(plaintext) {
    const ct = aesEncryptGCM(plaintext, this.key, nonce(this.counter++), this.hash)
    this.mixHash(ct)
    return ct
  }

  /** @param {Uint8Array} ciphertext */
  decrypt(ciphertext) {
    const pt = aesDecryptGCM(ciphertext, this.key, nonce(this.counter++), this.hash)
    this.mixHash(ciphertext)
    return pt
  }
}

/** Post-handshake AES-GCM transport: one key and counter per direction, empty AAD. */
export class Transport {
  /** @param {Buffer} encKey @param {Buffer} decKey */
  constructor(encKey, decKey) {
    this.encKey = encKey
    this.decKey = decKey
    this.writeCounter = 0
    this.readCounter = 0
  }

  /** @param {Uint8Array} plaintext */
  encrypt(plaintext) {
    return aesEncryptGCM(plaintext, this.encKey, nonce(this.writeCounter++), EMPTY)
  }

  /** @param {Uint8Array} ciphertext */
  decrypt(ciphertext) {
    return aesDecryptGCM(ciphertext, this.decKey, nonce(this.readCounter++), EMPTY)
  }
}

/**
 * @typedef {object} HandshakeResult
 * @property {Buffer} clientStatic the client's static Noise key (Baileys' creds.noiseKey.public)
 * @property {any} payload decoded proto.ClientPayload (login or registration)
 * @property {Transport} transport the server's transport cipher pair
 */

/** One responder handshake; use once per connection. */
export class ServerHandshake {
  /**
   * @param {object} opts
   * @param {{public: Buffer, private: Buffer}} opts.staticKeyPair server static key (leaf of the cert chain)
   * @param {Uint8Array} opts.certChain encoded proto.CertChain sent inside ServerHello
   */
  constructor({ staticKeyPair, certChain }) {
    this.static = staticKeyPair
    this.certChain = certChain
    this.state = new SymmetricState()
    /** @type {{public: Buffer, private: Buffer}|null} server ephemeral, set by respond() */
    this.ephemeral = null
    /** @type {Buffer|null} */
    this.clientEphemeral = null
  }

  /**
   * Answer the client's first message.
   * @param {Uint8Array} frame encoded HandshakeMessage carrying clientHello
   * @returns {Buffer} encoded HandshakeMessage carrying serverHello
   * @throws {HandshakeError}
   */
  respond(frame) {
    if (this.ephemeral) throw new HandshakeError('clientHello received twice')
    const clientEphemeral = decode(frame).clientHello?.ephemeral
    if (!clientEphemeral || clientEphemeral.length !== 32) throw new HandshakeError('clientHello without a 32-byte ephemeral key')
    const s = this.state
    s.mixHash(NOISE_WA_HEADER)
    s.mixHash(clientEphemeral)
    this.clientEphemeral = Buffer.from(clientEphemeral)
    this.ephemeral = Curve.generateKeyPair()
    s.mixHash(this.ephemeral.public)
    s.mixKey(Curve.sharedKey(this.ephemeral.private, this.clientEphemeral))
    const encStatic = s.encrypt(this.static.public)
    s.mixKey(Curve.sharedKey(this.static.private, this.clientEphemeral))
    const encCert = s.encrypt(this.certChain)
    return Buffer.from(
      proto.HandshakeMessage.encode({
        serverHello: { ephemeral: this.ephemeral.public, static: encStatic, payload: encCert },
      }).finish(),
    )
  }

  /**
   * Consume the client's ClientFinish and switch to transport keys.
   * @param {Uint8Array} frame encoded HandshakeMessage carrying clientFinish
   * @returns {HandshakeResult}
   * @throws {HandshakeError}
   */
  finish(frame) {
    if (!this.ephemeral) throw new HandshakeError('clientFinish before clientHello')
    const fin = decode(frame).clientFinish
    if (!fin?.static?.length || !fin?.payload?.length) throw new HandshakeError('clientFinish without static key or payload')
    const s = this.state
    let clientStatic
    let payload
    try {
      clientStatic = Buffer.from(s.decrypt(fin.static))
      s.mixKey(Curve.sharedKey(this.ephemeral.private, clientStatic))
      payload = proto.ClientPayload.decode(s.decrypt(fin.payload))
    } catch (err) {
      throw new HandshakeError('clientFinish failed to decrypt or decode', { cause: err })
    }
    // The client encrypts with the first half and decrypts with the second (finishInit).
    const [clientWrite, clientRead] = s.split(EMPTY)
    return { clientStatic, payload, transport: new Transport(clientRead, clientWrite) }
  }
}

/** @param {Uint8Array} frame */
function decode(frame) {
  try {
    return proto.HandshakeMessage.decode(frame)
  } catch (err) {
    throw new HandshakeError('not a HandshakeMessage', { cause: err })
  }
}

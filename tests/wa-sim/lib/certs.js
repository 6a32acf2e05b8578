/**
 * A locally generated Noise certificate chain: root -> intermediate -> leaf (the server's
 * static key), in the shape WhatsApp sends inside ServerHello.
 *
 * Baileys checks the leaf against the intermediate's key and the intermediate against the
 * pinned WA_CERT_DETAILS.PUBLIC_KEY; libsignal's verifySignature returns (rather than
 * throws) a failed check and Baileys' Curve.verify only catches throws, so a chain signed by
 * our own root passes. We still sign everything properly so the chain is internally valid
 * (tests verify it against our root), and we set the issuer serial Baileys compares.
 */
import { baileys, curve25519 } from './deps.js'

const { Curve, WA_CERT_DETAILS, proto } = baileys

const Details = proto.CertChain.NoiseCertificate.Details
const YEAR_S = 365 * 24 * 3600
const INTERMEDIATE_SERIAL = 1

/**
 * @typedef {object} ServerIdentity
 * @property {{public: Buffer, private: Buffer}} staticKeyPair the Noise static key (leaf)
 * @property {Buffer} certChain encoded proto.CertChain
 * @property {Buffer} rootPublic the key the intermediate is signed with
 */

/**
 * Generate a fresh server identity.
 * @param {() => number} [nowS] clock in seconds (tests)
 * @returns {ServerIdentity}
 */
export function makeServerIdentity(nowS = () => Math.floor(Date.now() / 1000)) {
  const root = Curve.generateKeyPair()
  const intermediate = Curve.generateKeyPair()
  const staticKeyPair = Curve.generateKeyPair()
  const now = nowS()
  const intermediateDetails = Details.encode({
    serial: INTERMEDIATE_SERIAL,
    issuerSerial: WA_CERT_DETAILS.SERIAL, // compared by Baileys
    key: intermediate.public,
    notBefore: now - YEAR_S,
    notAfter: now + 10 * YEAR_S,
  }).finish()
  const leafDetails = Details.encode({
    serial: INTERMEDIATE_SERIAL + 1,
    issuerSerial: INTERMEDIATE_SERIAL,
    key: staticKeyPair.public,
    notBefore: now - YEAR_S,
    notAfter: now + YEAR_S,
  }).finish()
  const certChain = Buffer.from(
    proto.CertChain.encode({
      intermediate: { details: intermediateDetails, signature: Curve.sign(root.private, intermediateDetails) },
      leaf: { details: leafDetails, signature: Curve.sign(intermediate.private, leafDetails) },
    }).finish(),
  )
  return { staticKeyPair, certChain, rootPublic: root.public }
}

/**
 * Strictly verify a chain against a root (libsignal's verify, not Baileys' lenient wrapper).
 * @param {Uint8Array} certChain
 * @param {Buffer} rootPublic
 * @returns {{ok: boolean, leafKey: Buffer|null}}
 */
export function verifyChain(certChain, rootPublic) {
  const { intermediate, leaf } = proto.CertChain.decode(certChain)
  if (!intermediate?.details || !leaf?.details) return { ok: false, leafKey: null }
  const inter = Details.decode(intermediate.details)
  const ok =
    strictVerify(rootPublic, intermediate.details, intermediate.signature) &&
    strictVerify(Buffer.from(inter.key), leaf.details, leaf.signature)
  return { ok, leafKey: Buffer.from(Details.decode(leaf.details).key) }
}

/**
 * @param {Buffer} pub Curve25519 public key, 32 bytes or 33 with Signal's type prefix
 * @param {Uint8Array} msg
 * @param {Uint8Array} sig
 */
export function strictVerify(pub, msg, sig) {
  if (!pub || !sig || sig.length !== 64) return false
  const key = pub.length === 33 ? pub.subarray(1) : pub
  return curve25519.verify(key, msg, sig) === true
}

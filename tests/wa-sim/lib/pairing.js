/**
 * QR pairing (multi-device "ADV" protocol), server side. Pure functions: build the
 * `pair-device` refs iq, parse the QR string Baileys shows, build `pair-success` as the
 * phone would sign it, and check the companion's `pair-device-sign` answer.
 *
 * Signatures (Baileys Utils/validate-connection.js, configureSuccessfulPairing):
 *   hmac             = HMAC-SHA256(advSecret, details)                      details = ADVSignedDeviceIdentity
 *   accountSignature = sign(accountKey, [6,0] + deviceDetails + identityKey) deviceDetails = ADVDeviceIdentity
 *   deviceSignature  = sign(identityKey, [6,1] + deviceDetails + identityKey + accountKey.public)  (by the companion)
 */
import crypto from 'node:crypto'
import { strictVerify } from './certs.js'
import { baileys } from './deps.js'
import { SERVER_JID } from './nodes.js'

const { Curve, WA_ADV_ACCOUNT_SIG_PREFIX, WA_ADV_DEVICE_SIG_PREFIX, getBinaryNodeChild, proto } = baileys

/** How many refs WhatsApp hands out per registration connection (Baileys shows one per QR). */
export const REF_COUNT = 6
const QR_PREFIX = 'https://wa.me/settings/linked_devices#'

/** @returns {string[]} fresh, unique QR refs */
export function makeRefs(n = REF_COUNT) {
  return Array.from({ length: n }, () => `2@${crypto.randomBytes(48).toString('base64')}`)
}

/**
 * @param {string} id iq id
 * @param {string[]} refs
 * @returns {import('./nodes.js').BinaryNode}
 */
export function pairDeviceIq(id, refs) {
  return {
    tag: 'iq',
    attrs: { from: SERVER_JID, type: 'set', id, xmlns: 'md' },
    content: [{ tag: 'pair-device', attrs: {}, content: refs.map((ref) => ({ tag: 'ref', attrs: {}, content: Buffer.from(ref) })) }],
  }
}

/**
 * @typedef {object} QrData
 * @property {string} ref
 * @property {Buffer} noiseKey companion static Noise key
 * @property {Buffer} identityKey companion identity key
 * @property {Buffer} advSecret companion's ADV secret (known only through the QR)
 * @property {string} platform companion platform id
 */

/**
 * Parse `https://wa.me/settings/linked_devices#ref,noise,identity,adv,platform`.
 * @param {unknown} qr
 * @returns {QrData|null} null when it is not such a string
 */
export function parseQr(qr) {
  if (typeof qr !== 'string' || !qr.startsWith(QR_PREFIX)) return null
  const parts = qr.slice(QR_PREFIX.length).split(',')
  if (parts.length !== 5 || parts.some((p) => p === '')) return null
  const [ref, noise, identity, adv, platform] = parts
  const noiseKey = Buffer.from(noise, 'base64')
  const identityKey = Buffer.from(identity, 'base64')
  const advSecret = Buffer.from(adv, 'base64')
  if (noiseKey.length !== 32 || identityKey.length !== 32 || advSecret.length !== 32) return null
  return { ref, noiseKey, identityKey, advSecret, platform }
}

/**
 * Build the `pair-success` iq the server sends once the phone scanned the QR.
 * @param {object} o
 * @param {string} o.id iq id
 * @param {QrData} o.qr
 * @param {{public: Buffer, private: Buffer}} o.accountKey the phone's account key pair
 * @param {{device: number, jid: string, lid: string}} o.device the jids allocated to the companion
 * @param {number} o.keyIndex
 * @param {string} [o.platform] phone platform name (`<platform name>`)
 * @param {string} [o.bizName] business name (`<biz name>`), omitted for a personal account
 * @param {number} [o.nowS]
 * @returns {{node: import('./nodes.js').BinaryNode, deviceDetails: Buffer}}
 */
export function pairSuccessIq({ id, qr, accountKey, device, keyIndex, platform = 'smba', bizName, nowS = Math.floor(Date.now() / 1000) }) {
  const deviceDetails = Buffer.from(
    proto.ADVDeviceIdentity.encode({ rawId: crypto.randomInt(1, 2 ** 31), timestamp: nowS, keyIndex }).finish(),
  )
  const accountSignature = Curve.sign(accountKey.private, Buffer.concat([WA_ADV_ACCOUNT_SIG_PREFIX, deviceDetails, qr.identityKey]))
  const details = Buffer.from(
    proto.ADVSignedDeviceIdentity.encode({ details: deviceDetails, accountSignatureKey: accountKey.public, accountSignature }).finish(),
  )
  const hmac = crypto.createHmac('sha256', qr.advSecret).update(details).digest()
  const identity = proto.ADVSignedDeviceIdentityHMAC.encode({ details, hmac }).finish()
  const content = [
    { tag: 'device-identity', attrs: {}, content: Buffer.from(identity) },
    { tag: 'platform', attrs: { name: platform } },
    { tag: 'device', attrs: { jid: device.jid, lid: device.lid } },
  ]
  if (bizName) content.push({ tag: 'biz', attrs: { name: bizName } })
  return {
    node: {
      tag: 'iq',
      attrs: { from: SERVER_JID, type: 'set', id, xmlns: 'md', t: String(nowS) },
      content: [{ tag: 'pair-success', attrs: {}, content }],
    },
    deviceDetails,
  }
}

/**
 * Check the companion's answer to pair-success: the device identity it returns must carry
 * our details and account signature, and its own device signature must verify.
 * @param {import('./nodes.js').BinaryNode} iq
 * @param {object} expected
 * @param {Buffer} expected.deviceDetails
 * @param {Buffer} expected.identityKey
 * @param {Buffer} expected.accountPublic
 * @returns {{ok: true, keyIndex: number} | {ok: false, reason: string}}
 */
export function checkPairDeviceSign(iq, { deviceDetails, identityKey, accountPublic }) {
  const sign = getBinaryNodeChild(iq, 'pair-device-sign')
  const node = getBinaryNodeChild(sign, 'device-identity')
  if (!node || !(node.content instanceof Uint8Array)) return { ok: false, reason: 'no device-identity' }
  let account
  try {
    account = proto.ADVSignedDeviceIdentity.decode(node.content)
  } catch {
    return { ok: false, reason: 'device-identity is not an ADVSignedDeviceIdentity' }
  }
  if (!account.details || !Buffer.from(account.details).equals(deviceDetails)) return { ok: false, reason: 'details differ from pair-success' }
  const deviceMsg = Buffer.concat([WA_ADV_DEVICE_SIG_PREFIX, deviceDetails, identityKey, accountPublic])
  if (!strictVerify(identityKey, deviceMsg, account.deviceSignature)) return { ok: false, reason: 'bad device signature' }
  return { ok: true, keyIndex: Number(node.attrs['key-index']) }
}

/**
 * What the simulated WhatsApp account remembers: the phone's account key (it signs every
 * linked device), and the linked (paired) devices with the keys they registered. In memory,
 * optionally mirrored to a JSON file (`--state FILE`) so a simulator restarted on the same
 * file still accepts the logins of devices it paired before.
 *
 * Keys are stored base64; the file is written atomically (tmp + rename) after each change.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { baileys } from './deps.js'

const { Curve } = baileys

/**
 * @typedef {object} Device
 * @property {string} jid `<phone>:<device>@s.whatsapp.net`
 * @property {string} lid `<lid user>:<device>@lid`
 * @property {number} device device number (> 0; 0 is the phone)
 * @property {string} noiseKey base64 of the companion's static Noise key (creds.noiseKey.public)
 * @property {string} identityKey base64 of the companion's identity key (creds.signedIdentityKey.public)
 * @property {number} keyIndex ADV key index given at pairing
 * @property {number} preKeys one-time pre-keys the companion uploaded and nobody consumed
 * @property {number} pairedAt unix seconds
 * @property {DeviceSignal} [signal] the Signal keys it uploaded (contacts build sessions from them)
 * @property {boolean} [bootstrapped] the initial history sync was delivered
 */

/**
 * Public Signal material a companion uploaded (`iq xmlns="encrypt" type="set"`), base64.
 * @typedef {object} DeviceSignal
 * @property {number} registrationId
 * @property {string} identity 32-byte identity key
 * @property {{id: number, public: string, signature: string}} signedPreKey
 * @property {Record<string, string>} preKeys unused one-time pre-keys by id
 */

/**
 * @typedef {object} StoreData
 * @property {string} phone
 * @property {string} lidUser
 * @property {{public: string, private: string}} accountKey
 * @property {number} nextDevice
 * @property {Record<string, Device>} devices by jid
 */

export class AccountStore {
  /**
   * @param {object} opts
   * @param {string} opts.phone the simulated phone number (digits)
   * @param {string|null} [opts.file] JSON file to load from and save to
   */
  constructor({ phone, file = null }) {
    if (!/^\d{6,15}$/.test(phone)) throw new Error(`phone must be 6-15 digits, got ${JSON.stringify(phone)}`)
    this.file = file
    const loaded = file ? readJson(file) : null
    if (loaded && loaded.phone !== phone) {
      throw new Error(`state file ${file} belongs to phone ${loaded.phone}, not ${phone}`)
    }
    /** @type {StoreData} */
    this.data = loaded ?? {
      phone,
      lidUser: String(100000000000000 + crypto.randomInt(0, 2 ** 47)).slice(0, 15),
      accountKey: encodeKeyPair(Curve.generateKeyPair()),
      nextDevice: 1,
      devices: {},
    }
    this._save()
  }

  get phone() {
    return this.data.phone
  }

  /** The phone's own jid, `<phone>@s.whatsapp.net`. */
  get phoneJid() {
    return `${this.data.phone}@s.whatsapp.net`
  }

  /** @returns {{public: Buffer, private: Buffer}} the account (ADV) signing key pair */
  get accountKey() {
    return { public: Buffer.from(this.data.accountKey.public, 'base64'), private: Buffer.from(this.data.accountKey.private, 'base64') }
  }

  /** @returns {string[]} jids of the linked devices, in pairing order */
  pairedJids() {
    return Object.keys(this.data.devices)
  }

  /** @param {string} jid @returns {Device|undefined} */
  get(jid) {
    return this.data.devices[jid]
  }

  /**
   * Allocate the next device number and its jids (not yet linked).
   * @returns {{device: number, jid: string, lid: string}}
   */
  allocate() {
    const device = this.data.nextDevice++
    this._save()
    return { device, jid: `${this.data.phone}:${device}@s.whatsapp.net`, lid: `${this.data.lidUser}:${device}@lid` }
  }

  /** @param {Device} device */
  link(device) {
    this.data.devices[device.jid] = device
    this._save()
  }

  /**
   * @param {string} jid
   * @param {Partial<Device>} patch
   */
  update(jid, patch) {
    const d = this.data.devices[jid]
    if (!d) return
    Object.assign(d, patch)
    this._save()
  }

  /** @param {string} jid @returns {boolean} whether it was linked */
  unlink(jid) {
    if (!this.data.devices[jid]) return false
    delete this.data.devices[jid]
    this._save()
    return true
  }

  /** Unlink every device. @returns {number} how many were linked */
  unlinkAll() {
    const n = Object.keys(this.data.devices).length
    this.data.devices = {}
    this._save()
    return n
  }

  _save() {
    if (!this.file) return
    const tmp = `${this.file}.${process.pid}.tmp`
    fs.mkdirSync(path.dirname(this.file), { recursive: true })
    fs.writeFileSync(tmp, JSON.stringify(this.data, null, 2), { mode: 0o600 })
    fs.renameSync(tmp, this.file)
  }
}

/** @param {{public: Uint8Array, private: Uint8Array}} kp */
function encodeKeyPair(kp) {
  return { public: Buffer.from(kp.public).toString('base64'), private: Buffer.from(kp.private).toString('base64') }
}

/** @param {string} file @returns {StoreData|null} null when the file does not exist */
function readJson(file) {
  let text
  try {
    text = fs.readFileSync(file, 'utf8')
  } catch (err) {
    if (/** @type {any} */ (err).code === 'ENOENT') return null
    throw err
  }
  const data = JSON.parse(text)
  if (typeof data?.phone !== 'string' || typeof data?.devices !== 'object' || !data?.accountKey?.private) {
    throw new Error(`state file ${file} is not a wa-sim state file`)
  }
  return data
}

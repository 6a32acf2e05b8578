/**
 * WhatsApp media: the real encryption (mediaKey -> HKDF-SHA256 "WhatsApp <Type> Keys" ->
 * iv | cipherKey | macKey; AES-256-CBC; HMAC-SHA256(macKey, iv | ciphertext) truncated to
 * 10 bytes appended; fileSha256 over the plaintext, fileEncSha256 over ciphertext + mac),
 * and the simulator's media endpoint:
 *
 *   GET  http://127.0.0.1:<p>/m/<token>            encrypted blob (what `url` points at)
 *   GET  https://127.0.0.1:<q>/m/<token>           the same over TLS
 *   POST https://127.0.0.1:<q>/mms/<type>/<hash>   upload (Baileys' getWAUploadToServer), answers {url, direct_path}
 *
 * Uploads are HTTPS only because Baileys builds `https://<media_conn host><path>`; the
 * server certificate is self-signed for 127.0.0.1 (lib/x509.js) and written to a PEM file
 * the bridge is told to trust (NODE_EXTRA_CA_CERTS).
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import http from 'node:http'
import https from 'node:https'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { baileys } from './deps.js'
import { selfSignedCert } from './x509.js'

const { MEDIA_HKDF_KEY_MAPPING } = baileys

const MAC_LENGTH = 10
const MAX_UPLOAD = 64 * 1024 * 1024
const HOST = '127.0.0.1'

/**
 * @param {Uint8Array} mediaKey 32 bytes
 * @param {string} type Baileys media type: image, document, md-msg-hist, ...
 */
export function mediaKeys(mediaKey, type) {
  const info = MEDIA_HKDF_KEY_MAPPING[type]
  if (info === undefined) throw new Error(`unknown media type ${type}`)
  const expanded = Buffer.from(crypto.hkdfSync('sha256', mediaKey, Buffer.alloc(0), `WhatsApp ${info} Keys`, 112))
  return { iv: expanded.subarray(0, 16), cipherKey: expanded.subarray(16, 48), macKey: expanded.subarray(48, 80) }
}

/**
 * @typedef {object} EncryptedMedia
 * @property {Buffer} file ciphertext + 10-byte mac: what the media server stores
 * @property {Buffer} mediaKey
 * @property {Buffer} fileSha256
 * @property {Buffer} fileEncSha256
 * @property {number} fileLength plaintext length
 */

/**
 * @param {Uint8Array} plaintext
 * @param {string} type
 * @param {Buffer} [mediaKey] random when omitted
 * @returns {EncryptedMedia}
 */
export function encryptMedia(plaintext, type, mediaKey = crypto.randomBytes(32)) {
  const { iv, cipherKey, macKey } = mediaKeys(mediaKey, type)
  const aes = crypto.createCipheriv('aes-256-cbc', cipherKey, iv)
  const enc = Buffer.concat([aes.update(plaintext), aes.final()])
  const mac = crypto.createHmac('sha256', macKey).update(iv).update(enc).digest().subarray(0, MAC_LENGTH)
  const file = Buffer.concat([enc, mac])
  return {
    file,
    mediaKey,
    fileSha256: crypto.createHash('sha256').update(plaintext).digest(),
    fileEncSha256: crypto.createHash('sha256').update(file).digest(),
    fileLength: plaintext.length,
  }
}

/**
 * Check the mac and decrypt what a client uploaded.
 * @param {Uint8Array} file ciphertext + mac
 * @param {Uint8Array} mediaKey
 * @param {string} type
 * @returns {Buffer}
 * @throws {Error} bad mac or padding
 */
export function decryptMedia(file, mediaKey, type) {
  const { iv, cipherKey, macKey } = mediaKeys(mediaKey, type)
  const buf = Buffer.from(file)
  const enc = buf.subarray(0, buf.length - MAC_LENGTH)
  const mac = buf.subarray(buf.length - MAC_LENGTH)
  const want = crypto.createHmac('sha256', macKey).update(iv).update(enc).digest().subarray(0, MAC_LENGTH)
  if (mac.length !== MAC_LENGTH || !crypto.timingSafeEqual(mac, want)) throw new Error('media mac mismatch')
  const aes = crypto.createDecipheriv('aes-256-cbc', cipherKey, iv)
  return Buffer.concat([aes.update(enc), aes.final()])
}

/** Media type from an upload path segment (`/mms/image/...`); md-app-state etc. have no segment. */
const UPLOAD_TYPES = new Set(['image', 'video', 'document', 'audio', 'md-app-state'])

/**
 * Blobs by token, and the two listeners.
 */
export class MediaServer {
  /** @param {{log?: (event: string, fields?: Record<string, unknown>) => void}} [opts] */
  constructor({ log = () => {} } = {}) {
    this.log = log
    /** @type {Map<string, Buffer>} */
    this.blobs = new Map()
    /** @type {Map<string, {type: string, fileEncSha256: string, size: number}>} uploads by token */
    this.uploads = new Map()
    this.downloads = 0
    /** auth token media_conn hands out; uploads must carry it */
    this.auth = crypto.randomBytes(24).toString('base64url')
    this.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasim-media-'))
    const { cert, key } = selfSignedCert({ commonName: 'wa-sim media', ips: [HOST], dns: ['localhost'] })
    /** PEM file of the self-signed certificate (NODE_EXTRA_CA_CERTS for the client) */
    this.caFile = path.join(this.dir, 'ca.pem')
    fs.writeFileSync(this.caFile, cert)
    const handler = (/** @type {http.IncomingMessage} */ req, /** @type {http.ServerResponse} */ res) => {
      this._handle(req, res).catch((err) => {
        this.log('media-error', { error: err.message })
        if (!res.headersSent) res.writeHead(500)
        res.end()
      })
    }
    this.http = http.createServer(handler)
    this.https = https.createServer({ cert, key }, handler)
    /** @type {string} */ this.httpBase = ''
    /** @type {string} */ this.httpsBase = ''
  }

  async listen() {
    this.http.listen(0, HOST)
    this.https.listen(0, HOST)
    await Promise.all([once(this.http, 'listening'), once(this.https, 'listening')])
    this.httpBase = `http://${HOST}:${/** @type {import('node:net').AddressInfo} */ (this.http.address()).port}`
    this.httpsBase = `https://${HOST}:${/** @type {import('node:net').AddressInfo} */ (this.https.address()).port}`
  }

  /** `host:port` of the TLS listener, as media_conn announces it. */
  get uploadHost() {
    return this.httpsBase.slice('https://'.length)
  }

  /**
   * Store an encrypted blob; returns where to fetch it.
   * @param {Buffer} file
   * @param {string} [prefix] path prefix for directPath (`/mms/image` ...)
   */
  put(file, prefix = '/m') {
    const token = crypto.randomBytes(18).toString('base64url')
    this.blobs.set(token, file)
    const directPath = `${prefix}/${token}`
    return { token, directPath, url: `${this.httpBase}/m/${token}` }
  }

  /** @param {string} token */
  get(token) {
    return this.blobs.get(token)
  }

  async close() {
    this.http.closeAllConnections()
    this.https.closeAllConnections()
    await Promise.all([new Promise((r) => this.http.close(() => r(undefined))), new Promise((r) => this.https.close(() => r(undefined)))])
    fs.rmSync(this.dir, { recursive: true, force: true })
  }

  /** @param {http.IncomingMessage} req @param {http.ServerResponse} res */
  async _handle(req, res) {
    const url = new URL(req.url ?? '/', 'http://x')
    const parts = url.pathname.split('/').filter(Boolean)
    if (req.method === 'GET') {
      // /m/<token>, or a directPath /<...>/<token> (the token is the last segment)
      const blob = this.blobs.get(parts.at(-1) ?? '')
      if (!blob) return void res.writeHead(404).end()
      this.downloads += 1
      this.log('media-get', { path: url.pathname, bytes: blob.length })
      res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': blob.length })
      res.end(blob)
      return
    }
    if (req.method === 'POST' && parts[0] === 'mms' && UPLOAD_TYPES.has(parts[1] ?? '') && parts.length === 3) {
      if (url.searchParams.get('auth') !== this.auth) return void reply(res, 401, { error: 'bad auth' })
      const chunks = []
      let size = 0
      for await (const chunk of req) {
        size += chunk.length
        if (size > MAX_UPLOAD) return void reply(res, 413, { error: 'too large' })
        chunks.push(chunk)
      }
      const file = Buffer.concat(chunks)
      const hash = crypto.createHash('sha256').update(file).digest()
      // Baileys sends fileEncSha256 base64url-ish in the path and as token; it must match.
      const claimed = Buffer.from(decodeURIComponent(parts[2]).replace(/-/g, '+').replace(/_/g, '/'), 'base64')
      if (!claimed.equals(hash)) return void reply(res, 400, { error: 'hash mismatch' })
      const { token, directPath } = this.put(file, `/${parts[0]}/${parts[1]}`)
      this.uploads.set(token, { type: parts[1], fileEncSha256: hash.toString('base64'), size: file.length })
      this.log('media-upload', { type: parts[1], bytes: file.length, token })
      reply(res, 200, { url: `${this.httpsBase}${directPath}`, direct_path: directPath })
      return
    }
    res.writeHead(404).end()
  }

  /**
   * The blob a message's url/directPath points at (for decrypting what the client sent).
   * @param {{url?: string|null, directPath?: string|null}} media
   * @returns {Buffer|undefined}
   */
  blobFor(media) {
    const p = media.directPath || (media.url ? new URL(media.url).pathname : '')
    return this.blobs.get(p.split('/').filter(Boolean).at(-1) ?? '')
  }
}

/** @param {http.ServerResponse} res @param {number} status @param {unknown} body */
function reply(res, status, body) {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

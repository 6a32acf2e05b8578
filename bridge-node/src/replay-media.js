/**
 * Media a replay serves (BRIDGE_REPLAY_MEDIA, by default scripts/demo-media/): the bytes behind
 * the photos and documents of a capture, found the way WhatsApp's CDN names them, by the
 * SHA-256 of the plain file (`fileSha256` in the message). A capture made with
 * `make-capture.js --demo` references these files, so `downloadMedia` in `make demo` and the
 * browser tests answers with real bytes; a message whose hash is not in the directory fails as
 * before (the orchestrator answers `media_unavailable`).
 *
 * The directory is read once, on the first download: a few small files, hashed in memory.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'

export const DEFAULT_MEDIA_DIR = fileURLToPath(new URL('../scripts/demo-media/', import.meta.url))
// The media kinds of a Message proto whose bytes WhatsApp keeps (the node of `<kind>Message`).
const KINDS = ['imageMessage', 'videoMessage', 'audioMessage', 'documentMessage', 'stickerMessage']
// Larger files are not demo material; skipping them keeps a mistaken directory from filling RAM.
const MAX_FILE_BYTES = 16 * 1024 * 1024

export class ReplayMedia {
  /**
   * @param {string} dir
   * @param {{info: Function, warn: Function}} logger
   */
  constructor(dir, logger) {
    this.dir = dir
    this.logger = logger
    /** @type {Map<string, Buffer>|null} sha256 hex -> bytes; null until first used */
    this.files = null
  }

  /**
   * The bytes whose SHA-256 the message names, or null.
   * @param {any} message decoded WebMessageInfo (fileSha256 a Buffer/Uint8Array)
   * @returns {Buffer|null}
   */
  find(message) {
    const node = mediaNode(message?.message)
    const hash = node?.fileSha256
    if (!(hash instanceof Uint8Array) || hash.length !== 32) return null
    return this._index().get(Buffer.from(hash).toString('hex')) ?? null
  }

  /** @returns {Map<string, Buffer>} */
  _index() {
    if (this.files) return this.files
    this.files = new Map()
    let names = []
    try {
      names = fs.readdirSync(this.dir)
    } catch (err) {
      this.logger.warn({ dir: this.dir, error: /** @type {Error} */ (err).message }, 'replay: no media directory; captured media cannot be downloaded')
      return this.files
    }
    for (const name of names) {
      const file = path.join(this.dir, name)
      const stat = fs.statSync(file, { throwIfNoEntry: false })
      if (!stat?.isFile() || stat.size > MAX_FILE_BYTES) continue
      const bytes = fs.readFileSync(file)
      this.files.set(crypto.createHash('sha256').update(bytes).digest('hex'), bytes)
    }
    this.logger.info({ dir: this.dir, files: this.files.size }, 'replay: media directory indexed')
    return this.files
  }
}

/**
 * The media node of a Message, also inside the wrappers WhatsApp puts around one.
 * @param {any} content
 * @returns {any}
 */
function mediaNode(content) {
  if (!content || typeof content !== 'object') return null
  for (const kind of KINDS) if (content[kind]) return content[kind]
  for (const wrapper of ['ephemeralMessage', 'viewOnceMessage', 'viewOnceMessageV2', 'documentWithCaptionMessage']) {
    if (content[wrapper]?.message) return mediaNode(content[wrapper].message)
  }
  return null
}

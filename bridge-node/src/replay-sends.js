/**
 * Sending in replay mode (BRIDGE_REPLAY): there is no WhatsApp, so `sendMessage` answers the
 * way WhatsApp would for our own message, and demos and tests can send.
 *
 * The message is built offline by Baileys' own `generateWAMessage` (text, quotes, reactions)
 * or `generateWAMessageFromContent` (media: the given bytes are never uploaded; the message
 * carries mimetype, fileName, size and hash but no url). It then takes the path a real send
 * takes with `emitOwnEvents`: `messages.upsert {messages:[msg], type:'append'}` with status
 * PENDING (1), then, shortly after, the server ack `messages.update [{key, update:{status:2}}]`.
 *
 * Media bytes sent this way are kept (bounded) so `downloadMedia` of our own message works,
 * as it would against WhatsApp; the capture's own photos and documents are served from the
 * replay's media directory (replay-media.js), found by their fileSha256. With `commandLog` set (BRIDGE_COMMAND_LOG), every command the
 * bridge receives is appended there as a JSON line `{method, params}`, for tests to assert on.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import { generateWAMessage, generateWAMessageFromContent, getContentType, proto } from '@whiskeysockets/baileys'
import { encode } from './codec.js'

const MEDIA_KINDS = /** @type {const} */ (['image', 'video', 'audio', 'document', 'sticker'])
const DEFAULT_ME = '0@s.whatsapp.net'

/** Methods this module answers in replay mode. */
export const REPLAY_METHODS = new Set(['sendMessage', 'downloadMedia', 'readMessages', 'groupMetadata', 'sendPresenceUpdate', 'presenceSubscribe'])

export class ReplaySends {
  /**
   * @param {object} opts
   * @param {(event: string, data: unknown) => number} opts.publish publisher.publish (data wire-encoded)
   * @param {{info: Function, warn: Function, debug?: Function}} opts.logger
   * @param {string|null} [opts.commandLog] file to append `{method, params}` lines to
   * @param {string} [opts.me] our own jid (the participant of our group messages)
   * @param {number} [opts.ackDelayMs] delay of the server ack after the upsert
   * @param {number} [opts.mediaCacheBytes] media bytes kept for downloadMedia
   * @param {{find(message: any): Buffer|null}|null} [opts.media] the capture's media (replay-media.js)
   */
  constructor({ publish, logger, commandLog = null, me = DEFAULT_ME, ackDelayMs = 250, mediaCacheBytes = 64 * 1024 * 1024, media = null }) {
    this.captured = media
    this.publish = publish
    this.logger = logger
    this.commandLog = commandLog
    this.me = me
    this.ackDelayMs = ackDelayMs
    this.mediaCacheBytes = mediaCacheBytes
    /** @type {Map<string, Buffer>} message id -> bytes, oldest first */
    this.media = new Map()
    this.mediaBytes = 0
    /** @type {Set<NodeJS.Timeout>} */
    this.timers = new Set()
  }

  /**
   * Append one received command to the command log (no-op without one). Synchronous, so a
   * test that sees the reply also sees the line. Never throws: a full disk must not fail
   * the command itself.
   * @param {string} method @param {unknown} params as received (wire-encoded)
   */
  record(method, params) {
    if (!this.commandLog) return
    try {
      fs.appendFileSync(this.commandLog, JSON.stringify({ method, params: params ?? null }) + '\n')
    } catch (err) {
      this.logger.warn({ file: this.commandLog, error: /** @type {Error} */ (err).message }, 'replay: cannot write the command log')
    }
  }

  /**
   * Run a socket method in replay mode. `args` are decoded positional arguments.
   * @param {string} method one of REPLAY_METHODS
   * @param {any[]} args
   */
  async call(method, args) {
    if (method === 'sendMessage') return this.sendMessage(args[0], args[1], args[2] ?? {})
    if (method === 'downloadMedia') return this.downloadMedia(args[0])
    if (method === 'readMessages') return this.readMessages(args[0])
    if (method === 'groupMetadata') return this.groupMetadata(args[0])
    // Presence and chat states: WhatsApp takes them and answers nothing (the command log has them).
    if (method === 'sendPresenceUpdate' || method === 'presenceSubscribe') return null
    throw new Error(`${method} is not available in replay mode`)
  }

  /**
   * The groups a replay knows are the capture's, which the orchestrator has from the capture
   * itself: any other is one WhatsApp does not know, and answers as WhatsApp does
   * (`item-not-found`, a Boom with status 404).
   * @param {string} jid
   */
  groupMetadata(jid) {
    const error = new Error(`item-not-found: no group ${jid} in this replay`)
    Object.assign(error, { output: { statusCode: 404 } })
    throw error
  }

  /**
   * Read receipts: WhatsApp takes them and says nothing; the bridge announces them as it does
   * in live mode (`bridge.messages_read`).
   * @param {Array<Record<string, unknown>>} keys
   */
  readMessages(keys) {
    this.logger.info({ count: keys.length }, 'replay: messages read (simulated)')
    this.publish('bridge.messages_read', encode({ keys }))
    return null
  }

  /**
   * What `sock.sendMessage` returns: the WebMessageInfo of our message (status PENDING).
   * @param {string} jid
   * @param {Record<string, any>} content Baileys AnyMessageContent
   * @param {Record<string, any>} [options] MiscMessageGenerationOptions (messageId, quoted, ...)
   */
  async sendMessage(jid, content, options = {}) {
    const messageId = typeof options.messageId === 'string' && options.messageId ? options.messageId : newMessageId()
    const genOptions = { userJid: this.me, messageId, quoted: options.quoted, timestamp: options.timestamp }
    const kind = MEDIA_KINDS.find((k) => content[k] !== undefined && content[k] !== null)
    /** @type {any} */
    let msg
    /** @type {Buffer|null} */
    let bytes = null
    if (kind) {
      bytes = Buffer.isBuffer(content[kind]) ? content[kind] : null
      msg = generateWAMessageFromContent(jid, mediaContent(kind, content, bytes), genOptions)
    } else {
      // No getUrlInfo and no upload: Baileys then builds the content without any network.
      msg = await generateWAMessage(jid, /** @type {any} */ (content), {
        ...genOptions,
        upload: async () => {
          throw new Error('no uploads in replay mode')
        },
      })
    }
    if (bytes) this._keepMedia(messageId, bytes)
    const type = getContentType(msg.message ?? undefined)
    this.logger.info(
      { jid, messageId, type, quoted: Boolean(options.quoted), bytes: bytes ? bytes.length : undefined },
      'replay: message sent (simulated)',
    )
    this.publish('messages.upsert', encode({ messages: [msg], type: 'append' }))
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      const update = { key: msg.key, update: { status: proto.WebMessageInfo.Status.SERVER_ACK } }
      try {
        this.publish('messages.update', encode([update]))
      } catch (err) {
        this.logger.warn({ messageId, error: /** @type {Error} */ (err).message }, 'replay: publishing the ack failed')
      }
    }, this.ackDelayMs)
    this.timers.add(timer)
    return msg
  }

  /**
   * The bytes of a message this module sent, or of a capture's message whose file is in the
   * replay's media directory; nothing else can be downloaded without WhatsApp.
   * @param {any} message decoded WebMessageInfo
   * @returns {Buffer}
   */
  downloadMedia(message) {
    const bytes = this.media.get(message?.key?.id) ?? this.captured?.find(message)
    if (!bytes) throw new Error('media is not available in replay mode (only media sent during this replay, or in its media directory, is)')
    return bytes
  }

  /** Cancel pending acks (shutdown, tests). */
  close() {
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
  }

  /** @param {string} id @param {Buffer} bytes */
  _keepMedia(id, bytes) {
    if (bytes.length > this.mediaCacheBytes) return
    this.media.set(id, bytes)
    this.mediaBytes += bytes.length
    for (const [oldId, old] of this.media) {
      if (this.mediaBytes <= this.mediaCacheBytes) break
      this.media.delete(oldId)
      this.mediaBytes -= old.length
    }
  }
}

/**
 * The Message proto content for a media send, as prepareWAMessageMedia would produce it
 * minus the upload: no url, directPath or mediaKey.
 * @param {typeof MEDIA_KINDS[number]} kind
 * @param {Record<string, any>} content
 * @param {Buffer|null} bytes null when the caller gave a url (never fetched here)
 */
function mediaContent(kind, content, bytes) {
  /** @type {Record<string, any>} */
  const node = {
    mimetype: content.mimetype ?? defaultMimetype(kind),
  }
  if (bytes) {
    node.fileLength = bytes.length
    node.fileSha256 = crypto.createHash('sha256').update(bytes).digest()
  }
  if (kind === 'document') node.fileName = content.fileName ?? 'file'
  if (content.caption && (kind === 'image' || kind === 'video' || kind === 'document')) node.caption = content.caption
  if (kind === 'audio' && content.ptt) node.ptt = true
  return proto.Message.fromObject({ [`${kind}Message`]: node })
}

/** @param {string} kind */
function defaultMimetype(kind) {
  return { image: 'image/jpeg', video: 'video/mp4', audio: 'audio/ogg; codecs=opus', document: 'application/octet-stream', sticker: 'image/webp' }[kind] ?? 'application/octet-stream'
}

/** An id shaped like the ones Baileys makes (3EB0 + hex). */
function newMessageId() {
  return '3EB0' + crypto.randomBytes(10).toString('hex').toUpperCase()
}


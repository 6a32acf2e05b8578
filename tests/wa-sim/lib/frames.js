/**
 * WhatsApp's framing over WebSocket messages: every frame is a 3-byte big-endian length
 * followed by that many bytes; the client's very first bytes are an intro header
 * (`WA` + 2 version bytes = Baileys' NOISE_WA_HEADER, or `ED` + routing info + that header
 * when it has routing info). WebSocket message boundaries carry no meaning: a message may
 * hold several frames or part of one. Pure: no I/O.
 */

const MAX_FRAME = 0xffffff

/** Raised for bytes that cannot be WhatsApp framing. */
export class FramingError extends Error {
  /** @param {string} message */
  constructor(message) {
    super(message)
    this.name = 'FramingError'
  }
}

/** Reassembles client frames from WebSocket message chunks. */
export class FrameReader {
  constructor() {
    this.buffer = Buffer.alloc(0)
    this.introDone = false
    /** @type {Buffer|null} the intro header as received (the client's WA header) */
    this.intro = null
  }

  /**
   * Feed one WebSocket message; return every complete frame now available.
   * @param {Uint8Array} chunk
   * @returns {Buffer[]}
   * @throws {FramingError} on a malformed intro
   */
  push(chunk) {
    this.buffer = this.buffer.length ? Buffer.concat([this.buffer, chunk]) : Buffer.from(chunk)
    if (!this.introDone && !this._readIntro()) return []
    const frames = []
    while (this.buffer.length >= 3) {
      const size = this.buffer.readUIntBE(0, 3)
      if (this.buffer.length < 3 + size) break
      frames.push(this.buffer.subarray(3, 3 + size))
      this.buffer = this.buffer.subarray(3 + size)
    }
    return frames
  }

  /** @returns {boolean} true once the intro is consumed */
  _readIntro() {
    const b = this.buffer
    if (b.length < 4) return false
    let headerStart = 0
    if (b[0] === 0x45 && b[1] === 0x44) {
      // 'ED' 0 1 <3-byte routing length> <routing info> then the WA header
      if (b.length < 7) return false
      const routingLength = b.readUIntBE(4, 3)
      headerStart = 7 + routingLength
      if (b.length < headerStart + 4) return false
    }
    if (b[headerStart] !== 0x57 || b[headerStart + 1] !== 0x41) {
      throw new FramingError(`bad intro header ${b.subarray(0, 4).toString('hex')}`)
    }
    this.intro = Buffer.from(b.subarray(headerStart, headerStart + 4))
    this.buffer = b.subarray(headerStart + 4)
    this.introDone = true
    return true
  }
}

/**
 * Prefix a payload with its 3-byte length (server frames carry no intro).
 * @param {Uint8Array} payload
 * @returns {Buffer}
 */
export function encodeFrame(payload) {
  if (payload.length > MAX_FRAME) throw new FramingError(`frame of ${payload.length} bytes exceeds ${MAX_FRAME}`)
  const out = Buffer.allocUnsafe(3 + payload.length)
  out.writeUIntBE(payload.length, 0, 3)
  out.set(payload, 3)
  return out
}

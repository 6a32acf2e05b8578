/**
 * One client WebSocket connection: framing -> Noise handshake -> either registration (QR
 * refs, then pairing when the phone scans) or login (`success`, queued messages, `ib
 * offline`, then iqs answered and messages/receipts exchanged with the World until the
 * session ends). Account-wide effects (linking, unlinking, counters) go through the
 * `SessionHost` the simulator passes in; the session owns only its socket and ciphers.
 *
 * Inbound frames are processed strictly in order (decoding is async) and ALWAYS decrypted,
 * even while silent, so the transport counters stay in step if the session resumes.
 */
import { encodeFrame, FrameReader } from './frames.js'
import { answerIq } from './iq.js'
import { ServerHandshake } from './noise.js'
import { SERVER_JID, child, children, decodeNode, encodeNode, iqResult, nodeToString, streamError } from './nodes.js'
import { checkPairDeviceSign, makeRefs, pairDeviceIq, pairSuccessIq } from './pairing.js'

/** @typedef {import('./nodes.js').BinaryNode} BinaryNode */
/** @typedef {'handshake'|'qr'|'pairing'|'online'|'closing'|'closed'} SessionStatus */

/** Time the client gets to act on a stream error before the server drops the socket. */
const STREAM_END_GRACE_MS = 300

/**
 * What a session needs from the simulator.
 * @typedef {object} SessionHost
 * @property {import('./certs.js').ServerIdentity} identity
 * @property {import('./store.js').AccountStore} store
 * @property {() => boolean} isSilent the global /silence switch
 * @property {(event: string, fields?: Record<string, unknown>) => void} log
 * @property {(name: 'registrations'|'logins'|'pings'|'removals') => void} count
 * @property {(xmlns: string) => void} countIq
 * @property {(session: Session) => void} onClosed
 * @property {(payload: any) => void} [registered] the ClientPayload of each registration
 * @property {import('./world.js').World} world contacts, groups and the traffic with them
 * @property {import('./calls.js').Calls} calls calls placed to the account
 * @property {import('./presence.js').Presences} [presences] what devices announce (presence, chat states)
 * @property {() => string|null} [accountName] the business name devices pair with
 */

/**
 * @typedef {object} PendingPairing
 * @property {string} iqId id of the pair-success iq, echoed by pair-device-sign
 * @property {import('./pairing.js').QrData} qr
 * @property {{device: number, jid: string, lid: string}} device
 * @property {Buffer} deviceDetails
 * @property {string} platform
 * @property {(jid: string) => void} resolve
 * @property {(err: Error) => void} reject
 */

let nextSessionId = 1

export class Session {
  /**
   * @param {import('ws').WebSocket} ws
   * @param {SessionHost} host
   */
  constructor(ws, host) {
    this.id = nextSessionId++
    this.ws = ws
    this.host = host
    /** @type {SessionStatus} */
    this.status = 'handshake'
    /** Per-session silence (disconnect 408): decrypt and drop everything, send nothing. */
    this.silent = false
    this.reader = new FrameReader()
    this.handshake = new ServerHandshake(host.identity)
    /** @type {import('./noise.js').Transport|null} */
    this.transport = null
    /** @type {Buffer|null} the client's static Noise key */
    this.noiseKey = null
    /** @type {Buffer|null} the identity key a registering client announced */
    this.identityKey = null
    /** @type {string[]} QR refs issued to a registering client */
    this.refs = []
    /** @type {import('./store.js').Device|null} */
    this.device = null
    /** @type {PendingPairing|null} */
    this.pairing = null
    this.nextIq = 1
    this.chain = Promise.resolve()
    /** @type {NodeJS.Timeout|null} */
    this.closeTimer = null
    /**
     * Messages written to this session that the device has not acknowledged (receipt or ack), by id, in the order
     * sent. WhatsApp delivers again what a device never acknowledged; so do we when the session
     * closes (a device killed mid-traffic, a write into a socket that was already dead).
     * @type {Map<string, import('./world.js').OutboxItem>}
     */
    this.unacked = new Map()
    ws.on('message', (data) => this._onMessage(/** @type {Buffer} */ (data)))
    ws.on('close', () => this._onClose())
    ws.on('error', (err) => host.log('ws-error', { session: this.id, error: err.message }))
  }

  /** @returns {boolean} whether nothing may be sent or answered right now */
  get muted() {
    return this.silent || this.host.isSilent()
  }

  /** @param {Buffer} data */
  _onMessage(data) {
    if (this.status === 'closed') return
    let frames
    try {
      frames = this.reader.push(data)
    } catch (err) {
      this._fail(err)
      return
    }
    for (const frame of frames) {
      this.chain = this.chain.then(() => this._onFrame(frame)).catch((err) => this._fail(err))
    }
  }

  /** @param {Buffer} frame */
  async _onFrame(frame) {
    if (this.status === 'closed') return
    if (!this.handshake.ephemeral) {
      if (this.muted) return // a silent server does not even answer the hello
      this._sendRaw(this.handshake.respond(frame))
      return
    }
    if (!this.transport) {
      const { clientStatic, payload, transport } = this.handshake.finish(frame)
      this.transport = transport
      this.noiseKey = clientStatic
      if (payload.devicePairingData) this._register(payload)
      else await this._login(payload)
      return
    }
    const node = await decodeNode(this.transport.decrypt(frame))
    if (this.muted || this.status === 'closing') return
    this.host.log('recv', { session: this.id, xml: nodeToString(node) })
    // Awaited: a device's messages are decrypted in the order it sent them.
    await this._onNode(node)
  }

  /** @param {any} payload proto.ClientPayload with devicePairingData */
  _register(payload) {
    this.identityKey = Buffer.from(payload.devicePairingData.eIdent ?? [])
    this.refs = makeRefs()
    this.status = 'qr'
    this.host.count('registrations')
    this.host.registered?.(payload)
    this.host.log('registration', { session: this.id })
    this.send(pairDeviceIq(this._iqId(), this.refs))
  }

  /**
   * Log a linked device in: `success`, whatever was queued for it while it was away
   * (marked offline), `<ib><offline count>`, then (first login only) the phone's initial
   * history sync, which goes out once the device's pre-keys are known.
   * @param {any} payload proto.ClientPayload with username/device
   */
  async _login(payload) {
    const user = payload.username == null ? '' : String(payload.username)
    const deviceNo = Number(payload.device ?? 0)
    const jid = `${user}:${deviceNo}@s.whatsapp.net`
    const device = this.host.store.get(jid)
    const noiseOk = device && this.noiseKey && Buffer.from(device.noiseKey, 'base64').equals(this.noiseKey)
    if (!device || !noiseOk) {
      this.host.log('login-refused', { session: this.id, jid, known: Boolean(device) })
      // What WhatsApp answers a companion it no longer knows: Baileys maps reason 401 to loggedOut.
      this.end({ tag: 'failure', attrs: { reason: '401', location: 'wasim' } })
      return
    }
    this.device = device
    this.status = 'online'
    this.host.count('logins')
    this.host.log('login', { session: this.id, jid })
    const t = String(Math.floor(Date.now() / 1000))
    this.send({
      tag: 'success',
      attrs: { t, lid: device.lid, display_name: '', location: 'wasim', props: '1', abprops: '1', creation: String(device.pairedAt) },
    })
    const queued = await this.host.world.flush(device.jid, { offline: true })
    if (this.status !== 'online') return
    this.send({ tag: 'ib', attrs: { from: SERVER_JID }, content: [{ tag: 'offline', attrs: { count: String(queued) } }] })
    this.host.world.bootstrap(device)
  }

  /** @param {BinaryNode} node */
  async _onNode(node) {
    const { world } = this.host
    if (this.device && this.status === 'online') {
      if (node.tag === 'message') {
        this.send(await world.fromDevice(this.device, node))
        return
      }
      if (node.tag === 'receipt') {
        // A device acknowledges a message with its receipt (delivery, inactive, peer_msg...),
        // and only acks what it sends no receipt for.
        for (const id of receiptIds(node)) this.unacked.delete(id)
        this.send(world.receiptFromDevice(this.device, node))
        return
      }
      if (node.tag === 'ack') {
        this.unacked.delete(node.attrs.id)
        world.ackFromDevice(node)
        if (node.attrs.class === 'call') this.host.calls.ackFromDevice(this.device, node)
        return
      }
      if (node.tag === 'call') {
        this.send(this.host.calls.fromDevice(this.device, node))
        return
      }
      if ((node.tag === 'presence' || node.tag === 'chatstate') && this.host.presences) {
        this.host.presences.fromDevice(this, node)
        return
      }
    }
    if (node.tag !== 'iq') return // presence, chatstate, ib unified_session: nothing to answer
    const type = node.attrs.type
    if (type === 'result' || type === 'error') {
      if (this.pairing && node.attrs.id === this.pairing.iqId) this._onPairSign(node)
      return // e.g. the ack of our pair-device iq
    }
    this.host.countIq(node.attrs.xmlns ?? '')
    const content = answerIq(node, {
      device: this.device,
      updateDevice: (patch) => {
        if (!this.device) return
        this.host.store.update(this.device.jid, patch)
        this.device = this.host.store.get(this.device.jid) ?? this.device
      },
      removeDevice: (jid) => {
        if (this.host.store.unlink(jid)) this.host.count('removals')
        this.host.log('device-removed', { session: this.id, jid, by: 'companion' })
      },
      onPing: () => this.host.count('pings'),
      world,
    })
    this.send(iqResult(node, content))
    // Pre-keys just uploaded: whatever waited for them can be encrypted now.
    if (node.attrs.xmlns === 'encrypt' && type === 'set' && this.device) void world.flush(this.device.jid)
  }

  /**
   * The phone scanned a QR this session showed: send pair-success and wait for the sign.
   * @param {import('./pairing.js').QrData} qr
   * @returns {Promise<string>} the linked device jid
   */
  pair(qr) {
    if (this.status !== 'qr') return Promise.reject(new Error(`session ${this.id} is not showing a QR (${this.status})`))
    const { store } = this.host
    const device = store.allocate()
    const platform = 'smba'
    const iqId = this._iqId()
    const bizName = this.host.accountName?.() ?? undefined
    const { node, deviceDetails } = pairSuccessIq({ id: iqId, qr, accountKey: store.accountKey, device, keyIndex: 1, platform, bizName })
    return new Promise((resolve, reject) => {
      this.pairing = { iqId, qr, device, deviceDetails, platform, resolve, reject }
      this.status = 'pairing'
      this.send(node)
    })
  }

  /** @param {BinaryNode} iq the companion's answer to pair-success */
  _onPairSign(iq) {
    const p = /** @type {PendingPairing} */ (this.pairing)
    this.pairing = null
    const check = checkPairDeviceSign(iq, { deviceDetails: p.deviceDetails, identityKey: p.qr.identityKey, accountPublic: this.host.store.accountKey.public })
    if (!check.ok) {
      p.reject(new Error(`pair-device-sign rejected: ${check.reason}`))
      this.end(streamError({ code: '500' }))
      return
    }
    this.host.store.link({
      jid: p.device.jid,
      lid: p.device.lid,
      device: p.device.device,
      noiseKey: p.qr.noiseKey.toString('base64'),
      identityKey: p.qr.identityKey.toString('base64'),
      keyIndex: check.keyIndex,
      preKeys: 0,
      pairedAt: Math.floor(Date.now() / 1000),
    })
    this.host.log('paired', { session: this.id, jid: p.device.jid })
    p.resolve(p.device.jid)
    // WhatsApp's "restart required": the companion reconnects and logs in with its new creds.
    this.end(streamError({ code: '515' }))
  }

  /**
   * Send a node (encrypted). Dropped when muted or the socket is gone.
   * @param {BinaryNode} node
   */
  send(node) {
    if (this.muted || !this.transport || this.ws.readyState !== this.ws.OPEN) return
    this.host.log('send', { session: this.id, xml: nodeToString(node) })
    this._sendRaw(this.transport.encrypt(encodeNode(node)))
  }

  /**
   * Send an outbox item's node; a `<message>` is kept until the device acknowledges it (its
   * receipt, or an ack or nack), and queued again for the device if this session ends first.
   * @param {BinaryNode} node @param {import('./world.js').OutboxItem} item
   */
  deliver(node, item) {
    if (node.tag === 'message') this.unacked.set(item.id, item)
    this.send(node)
  }

  /** @param {Uint8Array} payload */
  _sendRaw(payload) {
    if (this.ws.readyState === this.ws.OPEN) this.ws.send(encodeFrame(payload))
  }

  /**
   * End the session the way WhatsApp does: optionally a last stanza (stream:error,
   * failure), then the socket closes (the client usually closes first).
   * @param {BinaryNode} [last]
   */
  end(last) {
    if (this.status === 'closed' || this.status === 'closing') return
    if (last) this.send(last)
    this.status = 'closing'
    this.closeTimer = setTimeout(() => this.drop(), last ? STREAM_END_GRACE_MS : 0)
  }

  /** Close the socket now, without a word (disconnect 428). */
  drop() {
    if (this.ws.readyState === this.ws.OPEN || this.ws.readyState === this.ws.CONNECTING) this.ws.close()
  }

  /** Hard-close the TCP connection (shutdown). */
  terminate() {
    this.ws.terminate()
  }

  _onClose() {
    if (this.status === 'closed') return
    this.status = 'closed'
    if (this.closeTimer) clearTimeout(this.closeTimer)
    if (this.pairing) {
      this.pairing.reject(new Error('the companion closed the connection before signing the pairing'))
      this.pairing = null
    }
    this.host.log('closed', { session: this.id })
    this.host.onClosed(this)
    if (this.device && this.unacked.size) this.host.world.redeliver(this.device.jid, [...this.unacked.values()])
    this.unacked.clear()
  }

  /** @param {unknown} err */
  _fail(err) {
    this.host.log('session-error', { session: this.id, error: err instanceof Error ? err.message : String(err) })
    this.ws.terminate()
  }

  _iqId() {
    return `wasim.${this.id}.${this.nextIq++}`
  }
}

/** The message ids a receipt names: its id and its `<list><item id>`s. @param {BinaryNode} node */
function receiptIds(node) {
  return [node.attrs.id, ...children(child(node, 'list')).map((i) => i.attrs.id)]
}

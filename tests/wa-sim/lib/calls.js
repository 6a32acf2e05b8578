/**
 * Voice and video calls, as far as a linked device sees them: signalling only, no media.
 *
 *   POST /call  a contact calls the account: the `<call><offer>` a caller's server sends to
 *               every linked device, then the follow-ups named by `then` (`timeout`: nobody
 *               answered, `terminate`: the caller hung up, `accept` / `reject`: answered or
 *               declined on another of the account's devices). Each `<call>` stanza goes
 *               through the device's outbox, so it waits while the device is offline and
 *               then carries `offline="1"`, like any queued stanza.
 *   device      `<call><reject call-id call-creator count/></call>` (Baileys' `rejectCall`)
 *               is recorded and answered with the `<ack class="call" type="reject">` the
 *               server sends (Baileys sends it as a query and waits for that ack); the acks
 *               Baileys sends for our `<call>` stanzas are recorded too.
 *
 * Baileys (Socket/messages-recv.js handleCall) reads the first child of `<call>`: its tag
 * is the status (`offer`/`offer_notice` -> offer, `terminate reason="timeout"` -> timeout,
 * other `terminate` -> terminate, `accept`, `reject`, `preaccept`, `transport`,
 * `relaylatency`, anything else -> ringing); `call-id`, `from` or `call-creator`,
 * `caller_pn`; on the offer a `<video>` child means video, `type="group"` / `group-jid` a
 * group call. `<call from>` becomes the event's `chatId`, `t` its `date`.
 */
import crypto from 'node:crypto'
import { WorldError, messageId } from './world.js'

/** @typedef {import('./nodes.js').BinaryNode} BinaryNode */

/** `then` steps -> the `<call>` child a caller's server sends for them. */
const FOLLOW_UPS = {
  timeout: { tag: 'terminate', attrs: { reason: 'timeout' } },
  terminate: { tag: 'terminate', attrs: {} },
  accept: { tag: 'accept', attrs: {} },
  reject: { tag: 'reject', attrs: {} },
  preaccept: { tag: 'preaccept', attrs: {} },
}

/**
 * A call the simulator placed, and what the devices did with it.
 * @typedef {object} SimCall
 * @property {string} id the call id (`call-id`)
 * @property {string} from the caller's PN jid
 * @property {string|null} group the group jid of a group call
 * @property {boolean} video
 * @property {string[]} steps what was sent: `offer`, then the `then` steps
 * @property {string[]} devices the linked devices it was queued for
 * @property {{device: string, stanza: string, step: string}[]} acks Baileys' acks of our stanzas
 * @property {{device: string, callCreator: string, count: string|undefined, to: string|undefined, id: string}[]} rejects
 */

export class Calls {
  /** @param {import('./world.js').World} world */
  constructor(world) {
    this.world = world
    /** @type {Map<string, SimCall>} by call id */
    this.calls = new Map()
    /** @type {Map<string, {call: SimCall, step: string}>} by the stanza id of each `<call>` */
    this.stanzas = new Map()
  }

  /**
   * A contact calls the account (or a group it is in).
   * @param {Record<string, unknown>} p `{from, video?, group?, then?}`
   */
  place(p) {
    const caller = this.world.contactFor(typeof p.from === 'string' ? p.from : '')
    if (!caller) throw new WorldError(400, 'unknown_contact', `no simulated contact ${JSON.stringify(p.from)} (POST /contacts first)`)
    if (p.video !== undefined && typeof p.video !== 'boolean') throw new WorldError(400, 'bad_params', '"video" must be a boolean')
    let group = null
    if (p.group !== undefined && p.group !== null) {
      group = this.world.groups.get(String(p.group)) ?? null
      if (!group) throw new WorldError(400, 'unknown_group', `no simulated group ${JSON.stringify(p.group)}`)
      if (!group.participants.includes(caller.phone)) throw new WorldError(400, 'not_participant', `${caller.jid} is not in ${group.jid}`)
    }
    const then = p.then === undefined || p.then === null ? [] : Array.isArray(p.then) ? p.then : [p.then]
    for (const step of then) {
      if (typeof step !== 'string' || !Object.hasOwn(FOLLOW_UPS, step)) {
        throw new WorldError(400, 'bad_params', `"then" must be one or a list of ${Object.keys(FOLLOW_UPS).join(', ')}`)
      }
    }
    /** @type {SimCall} */
    const call = {
      id: crypto.randomBytes(16).toString('hex').toUpperCase(),
      from: caller.jid,
      group: group?.jid ?? null,
      video: p.video === true,
      steps: ['offer', ...then],
      devices: this.world.store.pairedJids(),
      acks: [],
      rejects: [],
    }
    this.calls.set(call.id, call)
    const common = { 'call-id': call.id, 'call-creator': caller.jid }
    const offer = {
      tag: 'offer',
      attrs: { ...common, ...(group ? { type: 'group', 'group-jid': group.jid } : {}) },
      content: [
        { tag: 'audio', attrs: { enc: 'opus', rate: '16000' } },
        { tag: 'audio', attrs: { enc: 'opus', rate: '8000' } },
        ...(call.video ? [{ tag: 'video', attrs: { enc: 'vp8', dec: 'vp8', orientation: '0', screen_width: '1080', screen_height: '1920', device_orientation: '0' } }] : []),
        { tag: 'net', attrs: { medium: '3' } },
        { tag: 'encopt', attrs: { keygen: '2' } },
      ],
    }
    const children = [offer, ...then.map((step) => ({ tag: FOLLOW_UPS[step].tag, attrs: { ...common, ...FOLLOW_UPS[step].attrs } }))]
    for (const device of call.devices) {
      children.forEach((child, i) => {
        const id = messageId()
        this.stanzas.set(id, { call, step: call.steps[i] })
        this.world.enqueue(device, {
          id,
          what: `call ${call.steps[i]} ${call.id} from ${caller.jid}`,
          build: async () => ({
            tag: 'call',
            attrs: { from: caller.jid, id, t: String(Math.floor(Date.now() / 1000)), notify: caller.name, platform: 'android', version: '2.24.1.0' },
            content: [child],
          }),
        })
      })
    }
    return { id: call.id, from: call.from, group: call.group, video: call.video, steps: call.steps, devices: call.devices }
  }

  /**
   * A `<call>` a linked device sent: Baileys' rejectCall. Recorded; the answer is the ack
   * WhatsApp's server sends, which resolves Baileys' query.
   * @param {{jid: string}} device @param {BinaryNode} node
   * @returns {BinaryNode}
   */
  fromDevice(device, node) {
    const [child] = Array.isArray(node.content) ? node.content : []
    const callId = child?.attrs?.['call-id']
    const call = callId ? this.calls.get(callId) : undefined
    // Anything else a device could send about a call (accept, terminate of a call it
    // placed) is not simulated: acked, not recorded.
    if (child?.tag === 'reject' && call) {
      call.rejects.push({ device: device.jid, callCreator: child.attrs['call-creator'], count: child.attrs.count, to: node.attrs.to, id: node.attrs.id })
    }
    return { tag: 'ack', attrs: { id: node.attrs.id, class: 'call', type: child?.tag ?? 'unknown', from: node.attrs.to ?? this.world.accountJid } }
  }

  /** @param {{jid: string}} device @param {BinaryNode} node an `<ack class="call">` */
  ackFromDevice(device, node) {
    const sent = this.stanzas.get(node.attrs.id)
    if (sent) sent.call.acks.push({ device: device.jid, stanza: node.attrs.id, step: sent.step })
  }

  /** For GET /calls: oldest first. */
  list() {
    return [...this.calls.values()]
  }
}

/**
 * Answers to the iqs a logged-in companion sends. One table from `xmlns` to a small
 * handler; each returns the content of the `<iq type="result">` (nothing = empty result).
 * Shapes are the ones Baileys 7.0.0-rc14 parses (Socket/socket.js, Socket/chats.js), so no
 * parser there meets an unexpected `undefined`.
 */
import { child, children } from './nodes.js'
import { parsePreKeyUpload } from './world.js'

/** @typedef {import('./nodes.js').BinaryNode} BinaryNode */

/**
 * What a handler may see and touch. The simulator passes the session's view of it.
 * @typedef {object} IqContext
 * @property {import('./store.js').Device|null} device the logged-in device (null before login)
 * @property {(patch: Partial<import('./store.js').Device>) => void} updateDevice persist a change to that device
 * @property {(jid: string) => void} removeDevice the companion asked to be unlinked
 * @property {() => void} onPing a keep-alive ping was answered
 * @property {import('./world.js').World} [world] contacts, groups, media (answers usync, pre-key fetches, w:g2, w:m)
 */

/** @typedef {(iq: BinaryNode, ctx: IqContext) => BinaryNode[]|undefined} IqHandler */

const PRIVACY = { last: 'all', online: 'all', profile: 'all', status: 'contacts', readreceipts: 'all', groupadd: 'all', calladd: 'all', messages: 'all' }

/** @type {Record<string, IqHandler>} */
export const IQ_HANDLERS = {
  // Keep-alive (Baileys' startKeepAliveRequest): an empty result is a pong.
  'w:p': (_iq, ctx) => {
    ctx.onPing()
    return undefined
  },
  encrypt: encrypt,
  passive: () => undefined,
  // AB props: an empty set with a hash Baileys stores as creds.lastPropHash.
  abt: () => [{ tag: 'props', attrs: { protocol: '1', hash: 'wasim1' }, content: [] }],
  blocklist: () => [{ tag: 'list', attrs: {} }],
  privacy: (iq) =>
    iq.attrs.type === 'get'
      ? [{ tag: 'privacy', attrs: {}, content: Object.entries(PRIVACY).map(([name, value]) => ({ tag: 'category', attrs: { name, value } })) }]
      : undefined,
  // Contact / device / LID lookups: the simulated contacts (nobody without a world).
  usync: (iq, ctx) => (ctx.world ? ctx.world.usync(iq, ctx.device) : [{ tag: 'usync', attrs: {}, content: [{ tag: 'list', attrs: {} }] }]),
  // Group metadata (groupMetadata, groupFetchAllParticipating).
  'w:g2': (iq, ctx) => ctx.world?.groupQuery(iq),
  // Media upload hosts and auth (Baileys refreshMediaConn).
  'w:m': (iq, ctx) => (child(iq, 'media_conn') ? ctx.world?.mediaConn() : undefined),
  // App-state resync (patches a device uploads are kept first, lib/appstate.js): the patches
  // after the asked version, or, without an app state, every requested collection is already
  // at the asked version, with no more patches, so Baileys' "until has_more_patches is
  // false" loop ends at once.
  'w:sync:app:state': (iq, ctx) => {
    const appState = ctx.world?.appState
    if (iq.attrs.type === 'set' && appState && ctx.device) void appState.record(iq, ctx.device.jid)
    return (
      appState?.answer(child(iq, 'sync')) ?? [
        {
          tag: 'sync',
          attrs: {},
          content: children(child(iq, 'sync'))
            .filter((c) => c.tag === 'collection')
            .map((c) => ({ tag: 'collection', attrs: { name: c.attrs.name, version: c.attrs.version ?? '0' } })),
        },
      ]
    )
  },
  md: (iq, ctx) => {
    const remove = child(iq, 'remove-companion-device')
    if (remove?.attrs.jid) ctx.removeDevice(remove.attrs.jid)
    return undefined
  },
}

/**
 * Pre-keys (`xmlns="encrypt"`): `get count` -> how many one-time pre-keys we hold for the
 * device; `set` with a `list` -> upload: registration id, identity, signed pre-key and the
 * one-time pre-keys stored for the device (contacts build sessions from them), counted;
 * `get digest` -> a digest node (Baileys re-uploads when it is missing); `set rotate`
 * (signed pre-key) -> stored; `get` with `<key><user jid/>` -> bundles (pre-key fetch).
 * @type {IqHandler}
 */
function encrypt(iq, ctx) {
  if (iq.attrs.type === 'get' && child(iq, 'count')) {
    return [{ tag: 'count', attrs: { value: String(ctx.device?.preKeys ?? 0) } }]
  }
  if (iq.attrs.type === 'get' && child(iq, 'digest')) {
    return [{ tag: 'digest', attrs: {} }]
  }
  if (iq.attrs.type === 'get' && child(iq, 'key')) {
    return ctx.world?.preKeys(iq) ?? [{ tag: 'list', attrs: {} }]
  }
  const list = child(iq, 'list')
  if (iq.attrs.type === 'set' && list && ctx.device) {
    const upload = parsePreKeyUpload(iq)
    if (!upload) {
      ctx.updateDevice({ preKeys: (ctx.device.preKeys ?? 0) + children(list).length })
      return undefined
    }
    const preKeys = { ...(ctx.device.signal?.preKeys ?? {}), ...upload.preKeys }
    ctx.updateDevice({ preKeys: Object.keys(preKeys).length, signal: { ...upload, preKeys } })
  }
  const rotate = child(iq, 'rotate')
  if (iq.attrs.type === 'set' && rotate && ctx.device?.signal) {
    const skey = child(rotate, 'skey')
    const parts = ['id', 'value', 'signature'].map((t) => child(skey, t)?.content)
    if (parts.every((p) => p instanceof Uint8Array)) {
      const [id, value, signature] = /** @type {Uint8Array[]} */ (parts)
      ctx.updateDevice({
        signal: {
          ...ctx.device.signal,
          signedPreKey: { id: Buffer.from(id).readUIntBE(0, id.length), public: Buffer.from(value).toString('base64'), signature: Buffer.from(signature).toString('base64') },
        },
      })
    }
  }
  return undefined
}

/**
 * The reply content for an iq, from the table; unknown namespaces get an empty result
 * (Baileys tolerates it for everything it sends unprompted).
 * @param {BinaryNode} iq
 * @param {IqContext} ctx
 * @returns {BinaryNode[]|undefined}
 */
export function answerIq(iq, ctx) {
  const handler = IQ_HANDLERS[iq.attrs.xmlns]
  return handler ? handler(iq, ctx) : undefined
}

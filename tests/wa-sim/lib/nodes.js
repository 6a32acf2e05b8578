/**
 * Binary-node helpers over Baileys' own WABinary codec (the exact encoder/decoder the
 * client uses), plus the few stanzas the server builds in several places.
 */
import { baileys } from './deps.js'

const { binaryNodeToString, decodeBinaryNode, encodeBinaryNode, getBinaryNodeChild } = baileys

/** The server's own jid, as WhatsApp writes it in `from` (Baileys addresses it as `@s.whatsapp.net`). */
export const SERVER_JID = 's.whatsapp.net'

/**
 * @typedef {object} BinaryNode
 * @property {string} tag
 * @property {Record<string, string>} attrs
 * @property {BinaryNode[]|Uint8Array|string} [content]
 */

/** @param {BinaryNode} node @returns {Buffer} */
export const encodeNode = (node) => Buffer.from(encodeBinaryNode(node))

/** @param {Uint8Array} bytes @returns {Promise<BinaryNode>} */
export const decodeNode = (bytes) => decodeBinaryNode(Buffer.from(bytes))

/** @param {BinaryNode} node @returns {string} XML-ish rendering for logs */
export const nodeToString = (node) => binaryNodeToString(node)

/** @param {BinaryNode|undefined} node @param {string} tag */
export const child = (node, tag) => getBinaryNodeChild(node, tag)

/** @param {BinaryNode|undefined} node @returns {BinaryNode[]} */
export const children = (node) => (Array.isArray(node?.content) ? node.content : [])

/**
 * A result for an iq, optionally with content.
 * @param {BinaryNode} iq the request
 * @param {BinaryNode[]} [content]
 * @returns {BinaryNode}
 */
export function iqResult(iq, content) {
  const node = { tag: 'iq', attrs: { from: SERVER_JID, type: 'result', id: iq.attrs.id } }
  return content?.length ? { ...node, content } : node
}

/**
 * `<stream:error ...>`: how the server ends a session (Baileys maps it to a DisconnectReason).
 * @param {{code?: string, reason?: BinaryNode}} o
 * @returns {BinaryNode}
 */
export function streamError({ code, reason }) {
  return { tag: 'stream:error', attrs: code ? { code } : {}, ...(reason ? { content: [reason] } : {}) }
}

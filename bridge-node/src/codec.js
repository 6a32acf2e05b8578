/**
 * The lossless walker between Baileys values and JSON (DESIGN.md, "Lossless payload encoding").
 *
 * Why not JSON.stringify: a protobuf instance's toJSON turns enums into names and Longs into
 * strings, a Long in a plain object becomes {low, high, unsigned}, a Uint8Array becomes
 * {"0":..}, and a Boom error loses its non-enumerable message. So encode() walks own
 * enumerable properties itself and NEVER calls toJSON.
 *
 * Wire tags (an object is a tag only when it has exactly that one key):
 *   {"$bytes": base64}  Buffer / Uint8Array / any ArrayBuffer view / ArrayBuffer
 *   {"$long": "<dec>"}  Long outside the safe-integer range (safe ones become plain numbers)
 *   {"$date": ms}       Date
 *   {"$error": {name, message, statusCode, data}}  Error / Boom (encode only)
 * Pure module: no I/O, no logging.
 */
import { createRequire } from 'node:module'

// Decode must produce the very Long class protobufjs uses for Baileys' protos, so that
// Long.isLong, arithmetic and proto encoding behave exactly as on Baileys' own objects.
// protobufjs is Baileys' dependency, so resolve it from there, not from our package.
const requireFromBaileys = createRequire(import.meta.resolve('@whiskeysockets/baileys'))
/** @type {import('long').default} */
export const Long = requireFromBaileys('protobufjs/minimal.js').util.Long

const MAX_DEPTH = 100
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER)
const INT64_MAX = (1n << 63n) - 1n

/**
 * Convert a Baileys value into a JSON-safe value. Never mutates its input.
 * Returns undefined only for values that are dropped (undefined, functions, symbols).
 * @param {unknown} value
 * @returns {any}
 */
export function encode(value) {
  return walk(value, [], 0)
}

/** JSON.stringify(encode(value)), the wire form. @param {unknown} value @returns {string} */
export function encodeJSON(value) {
  return JSON.stringify(encode(value)) ?? 'null'
}

/**
 * @param {unknown} v
 * @param {object[]} ancestors objects on the current path (cycle detection; shared refs are fine)
 * @param {number} depth
 * @returns {any}
 */
function walk(v, ancestors, depth) {
  switch (typeof v) {
    case 'string':
    case 'boolean':
      return v
    case 'number':
      return Number.isFinite(v) ? v : null
    case 'bigint':
      return v.toString()
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined
  }
  if (v === null) return null
  const o = /** @type {any} */ (v)
  if (o.__isLong__ === true) return encodeLong(o)
  if (ArrayBuffer.isView(o)) {
    return { $bytes: Buffer.from(o.buffer, o.byteOffset, o.byteLength).toString('base64') }
  }
  if (o instanceof ArrayBuffer) return { $bytes: Buffer.from(o).toString('base64') }
  if (o instanceof Date) {
    const ms = o.getTime()
    return { $date: Number.isFinite(ms) ? ms : null }
  }
  if (depth >= MAX_DEPTH || ancestors.includes(o)) return null
  ancestors.push(o)
  try {
    if (o instanceof Error) return encodeError(o, ancestors, depth)
    if (Array.isArray(o)) return encodeArray(o, ancestors, depth)
    if (o instanceof Map) {
      const out = []
      for (const [k, val] of o) out.push([orNull(walk(k, ancestors, depth + 1)), orNull(walk(val, ancestors, depth + 1))])
      return out
    }
    if (o instanceof Set) return encodeArray([...o], ancestors, depth)
    /** @type {Record<string, any>} */
    const out = {}
    for (const k of Object.keys(o)) {
      const e = walk(o[k], ancestors, depth + 1)
      if (e !== undefined) out[k] = e
    }
    return out
  } finally {
    ancestors.pop()
  }
}

/** @param {any} x */
function orNull(x) {
  return x === undefined ? null : x
}

/** @param {any[]} arr @param {object[]} ancestors @param {number} depth */
function encodeArray(arr, ancestors, depth) {
  const out = new Array(arr.length)
  for (let i = 0; i < arr.length; i++) out[i] = orNull(walk(arr[i], ancestors, depth + 1))
  return out
}

/**
 * message is an own but non-enumerable property of Errors, and a Boom keeps its HTTP
 * status in output.statusCode: read both explicitly.
 * @param {any} err @param {object[]} ancestors @param {number} depth
 */
function encodeError(err, ancestors, depth) {
  const statusCode = err.output?.statusCode
  return {
    $error: {
      name: typeof err.name === 'string' ? err.name : 'Error',
      message: typeof err.message === 'string' ? err.message : String(err.message),
      statusCode: typeof statusCode === 'number' ? statusCode : null,
      data: orNull(walk(err.data, ancestors, depth + 1)),
    },
  }
}

/** @param {{low: number, high: number, unsigned: boolean}} l */
function encodeLong(l) {
  const big = longToBigInt(l)
  if (big <= MAX_SAFE && big >= -MAX_SAFE) return Number(big)
  return { $long: big.toString() }
}

/**
 * Via BigInt rather than Long#toString: exact and much faster than Long's division loop.
 * @param {{low: number, high: number, unsigned: boolean}} l
 */
function longToBigInt(l) {
  const big = (BigInt(l.high >>> 0) << 32n) | BigInt(l.low >>> 0)
  return !l.unsigned && l.high < 0 ? big - (1n << 64n) : big
}

/**
 * Inverse of encode for the tags that carry data Baileys needs back ($bytes -> Buffer,
 * $long -> Long, $date -> Date). $error and everything else are returned as plain data.
 * Never mutates its input.
 * @param {unknown} value
 * @returns {any}
 */
export function decode(value) {
  if (value === null || typeof value !== 'object') return value
  if (Array.isArray(value)) return value.map(decode)
  const o = /** @type {Record<string, any>} */ (value)
  const keys = Object.keys(o)
  if (keys.length === 1) {
    const k = keys[0]
    const x = o[k]
    if (k === '$bytes' && typeof x === 'string') return Buffer.from(x, 'base64')
    if (k === '$long' && typeof x === 'string' && /^-?\d+$/.test(x)) return decodeLong(x)
    if (k === '$date' && typeof x === 'number') return new Date(x)
  }
  /** @type {Record<string, any>} */
  const out = {}
  for (const k of keys) out[k] = decode(o[k])
  return out
}

/**
 * Signedness is not on the wire: a value that only fits unsigned 64 bits becomes an
 * unsigned Long, everything else signed. Either re-encodes to the same decimal.
 * @param {string} s
 */
function decodeLong(s) {
  return Long.fromString(s, BigInt(s) > INT64_MAX)
}

/**
 * A minimal self-signed X.509 v3 certificate (ECDSA P-256 / SHA-256) built with node:crypto
 * alone, for the media endpoint's TLS listener. It is its own CA (basicConstraints CA:TRUE)
 * so a client can trust it through NODE_EXTRA_CA_CERTS, and names the loopback address in
 * subjectAltName. DER is written by hand: only the handful of types a certificate needs.
 */
import crypto from 'node:crypto'
import net from 'node:net'

/** @param {number} tag @param {Buffer} body */
function tlv(tag, body) {
  const len = body.length
  let header
  if (len < 0x80) header = Buffer.from([tag, len])
  else if (len < 0x100) header = Buffer.from([tag, 0x81, len])
  else if (len < 0x10000) header = Buffer.from([tag, 0x82, len >> 8, len & 0xff])
  else throw new Error('DER value too long')
  return Buffer.concat([header, body])
}

const seq = (/** @type {Buffer[]} */ ...items) => tlv(0x30, Buffer.concat(items))
const set = (/** @type {Buffer[]} */ ...items) => tlv(0x31, Buffer.concat(items))
const octets = (/** @type {Buffer} */ b) => tlv(0x04, b)
const utf8 = (/** @type {string} */ s) => tlv(0x0c, Buffer.from(s, 'utf8'))
const bool = (/** @type {boolean} */ v) => tlv(0x01, Buffer.from([v ? 0xff : 0]))
const explicit = (/** @type {number} */ n, /** @type {Buffer} */ body) => tlv(0xa0 + n, body)

/** @param {Buffer} b unsigned big-endian */
function integer(b) {
  let i = 0
  while (i < b.length - 1 && b[i] === 0) i++
  const v = b.subarray(i)
  return tlv(0x02, v[0] & 0x80 ? Buffer.concat([Buffer.from([0]), v]) : v)
}

/** @param {string} dotted */
function oid(dotted) {
  const parts = dotted.split('.').map(Number)
  const bytes = [40 * parts[0] + parts[1]]
  for (const p of parts.slice(2)) {
    const stack = [p & 0x7f]
    for (let v = p >>> 7; v > 0; v >>>= 7) stack.unshift((v & 0x7f) | 0x80)
    bytes.push(...stack)
  }
  return tlv(0x06, Buffer.from(bytes))
}

/** UTCTime (years 1950-2049) or GeneralizedTime. @param {Date} d */
function time(d) {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) // YYYYMMDDHHMMSS
  const year = d.getUTCFullYear()
  return year < 2050 ? tlv(0x17, Buffer.from(`${iso.slice(2)}Z`)) : tlv(0x18, Buffer.from(`${iso}Z`))
}

/** @param {string} ip dotted IPv4 */
const ipBytes = (ip) => Buffer.from(ip.split('.').map(Number))

/**
 * @param {object} o
 * @param {string} o.commonName
 * @param {string[]} [o.ips] IPv4 addresses for subjectAltName
 * @param {string[]} [o.dns] DNS names for subjectAltName
 * @param {number} [o.days] validity
 * @returns {{cert: string, key: string}} PEM certificate and PKCS#8 private key
 */
export function selfSignedCert({ commonName, ips = [], dns = [], days = 3650 }) {
  const { privateKey, publicKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'prime256v1' })
  const spki = publicKey.export({ type: 'spki', format: 'der' })
  const ecdsaSha256 = seq(oid('1.2.840.10045.4.3.2'))
  const name = seq(set(seq(oid('2.5.4.3'), utf8(commonName))))
  const now = Date.now()
  const validity = seq(time(new Date(now - 24 * 3600 * 1000)), time(new Date(now + days * 24 * 3600 * 1000)))
  for (const ip of ips) if (!net.isIPv4(ip)) throw new Error(`not an IPv4 address: ${ip}`)
  const san = seq(...ips.map((ip) => tlv(0x87, ipBytes(ip))), ...dns.map((d) => tlv(0x82, Buffer.from(d, 'ascii'))))
  const extensions = explicit(
    3,
    seq(
      seq(oid('2.5.29.19'), bool(true), octets(seq(bool(true)))), // basicConstraints, critical, CA:TRUE
      seq(oid('2.5.29.15'), bool(true), octets(tlv(0x03, Buffer.from([0x02, 0x84])))), // keyUsage: digitalSignature, keyCertSign
      seq(oid('2.5.29.17'), octets(san)), // subjectAltName
    ),
  )
  const serial = crypto.randomBytes(16)
  serial[0] &= 0x7f
  const tbs = seq(explicit(0, integer(Buffer.from([2]))), integer(serial), ecdsaSha256, name, validity, name, spki, extensions)
  const signature = crypto.sign('sha256', tbs, privateKey)
  const der = seq(tbs, ecdsaSha256, tlv(0x03, Buffer.concat([Buffer.from([0]), signature])))
  const pem = `-----BEGIN CERTIFICATE-----\n${der.toString('base64').match(/.{1,64}/g)?.join('\n')}\n-----END CERTIFICATE-----\n`
  return { cert: pem, key: /** @type {string} */ (privateKey.export({ type: 'pkcs8', format: 'pem' })) }
}

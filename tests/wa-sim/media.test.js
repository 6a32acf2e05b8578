/**
 * Media encryption against Baileys' own halves (key derivation, client-side encryption,
 * download + decrypt), the media endpoint (download, authenticated upload) and the
 * self-signed certificate its TLS listener uses.
 */
import assert from 'node:assert/strict'
import crypto from 'node:crypto'
import https from 'node:https'
import { test } from 'node:test'
import { baileys } from './lib/deps.js'
import { MediaServer, decryptMedia, encryptMedia, mediaKeys } from './lib/media.js'
import { selfSignedCert } from './lib/x509.js'

const { getMediaKeys, encryptedStream, downloadContentFromMessage } = baileys

/** @param {AsyncIterable<Buffer>} stream */
async function collect(stream) {
  const chunks = []
  for await (const c of stream) chunks.push(c)
  return Buffer.concat(chunks)
}

/** @param {import('node:test').TestContext} t */
async function server(t) {
  const media = new MediaServer()
  await media.listen()
  t.after(() => media.close())
  return media
}

test('key derivation equals Baileys getMediaKeys for every type we use', async () => {
  const key = crypto.randomBytes(32)
  for (const type of ['image', 'document', 'video', 'audio', 'md-msg-hist']) {
    const ours = mediaKeys(key, type)
    const theirs = await getMediaKeys(key, /** @type {any} */ (type))
    assert.ok(ours.iv.equals(Buffer.from(theirs.iv)), type)
    assert.ok(ours.cipherKey.equals(Buffer.from(theirs.cipherKey)), type)
    assert.ok(ours.macKey.equals(Buffer.from(theirs.macKey)), type)
  }
  assert.throws(() => mediaKeys(key, 'nope'), /unknown media type/)
})

test('what Baileys encrypts we decrypt, with its hashes; a flipped byte fails the mac', async () => {
  const plain = crypto.randomBytes(40000)
  const enc = await encryptedStream(plain, 'document')
  const file = (await import('node:fs')).readFileSync(enc.encFilePath)
  await (await import('node:fs/promises')).unlink(enc.encFilePath)
  assert.ok(decryptMedia(file, enc.mediaKey, 'document').equals(plain))
  const ours = encryptMedia(plain, 'document', enc.mediaKey)
  assert.ok(ours.fileSha256.equals(enc.fileSha256))
  assert.ok(ours.file.equals(file), 'same key and plaintext give the same blob')
  assert.ok(ours.fileEncSha256.equals(enc.fileEncSha256))
  file[100] ^= 1
  assert.throws(() => decryptMedia(file, enc.mediaKey, 'document'), /mac/)
})

test('Baileys downloads and decrypts a blob we serve by url, byte for byte', async (t) => {
  const media = await server(t)
  const plain = crypto.randomBytes(100003)
  const enc = encryptMedia(plain, 'image')
  const { url } = media.put(enc.file, '/mms/image')
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/m\//)
  const got = await collect(await downloadContentFromMessage({ url, mediaKey: enc.mediaKey }, 'image'))
  assert.ok(got.equals(plain))
  assert.equal(media.downloads, 1)
  assert.equal((await fetch(`${media.httpBase}/m/unknown`)).status, 404)
})

test('upload over TLS: auth and hash checked; the blob is found again from url/directPath', async (t) => {
  const media = await server(t)
  const ca = (await import('node:fs')).readFileSync(media.caFile, 'utf8')
  const enc = encryptMedia(Buffer.from('hello media'), 'image')
  const b64 = enc.fileEncSha256.toString('base64').replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '')
  /** @param {string} path @param {Buffer} body @returns {Promise<{status: number, body: any}>} */
  const post = (path, body) =>
    new Promise((resolve, reject) => {
      const req = https.request(`${media.httpsBase}${path}`, { method: 'POST', ca }, (res) => {
        let text = ''
        res.on('data', (d) => (text += d))
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || 'null') }))
      })
      req.on('error', reject)
      req.end(body)
    })
  assert.equal((await post(`/mms/image/${b64}?auth=wrong&token=${b64}`, enc.file)).status, 401)
  assert.equal((await post(`/mms/image/${b64}?auth=${media.auth}&token=${b64}`, Buffer.concat([enc.file, Buffer.from('x')]))).status, 400)
  const ok = await post(`/mms/image/${b64}?auth=${encodeURIComponent(media.auth)}&token=${b64}`, enc.file)
  assert.equal(ok.status, 200, JSON.stringify(ok.body))
  assert.match(ok.body.direct_path, /^\/mms\/image\//)
  assert.equal(ok.body.url, `${media.httpsBase}${ok.body.direct_path}`)
  const blob = media.blobFor({ directPath: ok.body.direct_path })
  assert.ok(blob && decryptMedia(blob, enc.mediaKey, 'image').equals(Buffer.from('hello media')))
  assert.ok(media.blobFor({ url: ok.body.url })?.equals(enc.file))
  assert.equal(media.uploads.size, 1)
})

test('self-signed certificate: parses, names 127.0.0.1, verifies itself, is a CA', () => {
  const { cert, key } = selfSignedCert({ commonName: 'x', ips: ['127.0.0.1'], dns: ['localhost'], days: 2 })
  const x = new crypto.X509Certificate(cert)
  assert.equal(x.subject, 'CN=x')
  assert.equal(x.subjectAltName, 'IP Address:127.0.0.1, DNS:localhost')
  assert.equal(x.ca, true)
  assert.equal(x.verify(x.publicKey), true)
  assert.equal(x.checkPrivateKey(crypto.createPrivateKey(key)), true)
  assert.ok(new Date(x.validTo).getTime() > Date.now() + 24 * 3600 * 1000)
  assert.throws(() => selfSignedCert({ commonName: 'x', ips: ['::1'] }), /IPv4/)
})

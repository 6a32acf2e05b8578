/**
 * pair-success as built by the simulator is accepted by Baileys' own
 * configureSuccessfulPairing, and Baileys' answer passes the simulator's check; any
 * tampering on either side is refused.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { baileys } from './lib/deps.js'
import { checkPairDeviceSign, makeRefs, pairDeviceIq, pairSuccessIq, parseQr, REF_COUNT } from './lib/pairing.js'

const { Browsers, Curve, buildPairingQRData, configureSuccessfulPairing, initAuthCreds, proto } = baileys

function companion() {
  const creds = initAuthCreds()
  const b64 = (/** @type {Uint8Array} */ k) => Buffer.from(k).toString('base64')
  const qrString = buildPairingQRData(makeRefs(1)[0], b64(creds.noiseKey.public), b64(creds.signedIdentityKey.public), creds.advSecretKey, Browsers.ubuntu('Chrome'))
  return { creds, qrString, qr: /** @type {import('./lib/pairing.js').QrData} */ (parseQr(qrString)) }
}

const account = Curve.generateKeyPair()
const device = { device: 3, jid: '5511999990000:3@s.whatsapp.net', lid: '123456789012345:3@lid' }

test('refs and the QR string round-trip', () => {
  const refs = makeRefs()
  assert.equal(refs.length, REF_COUNT)
  assert.equal(new Set(refs).size, REF_COUNT)
  const iq = pairDeviceIq('id1', refs)
  assert.deepEqual(
    /** @type {any[]} */ (/** @type {any[]} */ (iq.content)[0].content).map((r) => r.content.toString()),
    refs,
  )
  const { creds, qr } = companion()
  assert.deepEqual(qr.noiseKey, Buffer.from(creds.noiseKey.public))
  assert.deepEqual(qr.identityKey, Buffer.from(creds.signedIdentityKey.public))
  assert.equal(qr.advSecret.toString('base64'), creds.advSecretKey)
  for (const bad of [undefined, 42, 'https://example.com', 'https://wa.me/settings/linked_devices#a,b', 'https://wa.me/settings/linked_devices#r,AAAA,AAAA,AAAA,1']) {
    assert.equal(parseQr(bad), null, String(bad))
  }
})

test('Baileys accepts pair-success and its pair-device-sign passes our check', () => {
  const { creds, qr } = companion()
  const { node, deviceDetails } = pairSuccessIq({ id: 'p1', qr, accountKey: account, device, keyIndex: 2, platform: 'android', bizName: 'Shop' })
  const { creds: update, reply } = configureSuccessfulPairing(node, creds)
  assert.deepEqual(update.me, { id: device.jid, name: 'Shop', lid: device.lid })
  assert.equal(update.platform, 'android')
  assert.deepEqual(Buffer.from(update.account.accountSignatureKey), account.public)
  assert.equal(reply.attrs.id, 'p1')
  const check = checkPairDeviceSign(reply, { deviceDetails, identityKey: qr.identityKey, accountPublic: account.public })
  assert.deepEqual(check, { ok: true, keyIndex: 2 })
})

test('a wrong ADV secret is refused by Baileys; a forged device signature by us', () => {
  const { creds, qr } = companion()
  const other = companion()
  const wrongAdv = pairSuccessIq({ id: 'p', qr: { ...qr, advSecret: other.qr.advSecret }, accountKey: account, device, keyIndex: 1 })
  assert.throws(() => configureSuccessfulPairing(wrongAdv.node, creds), /Invalid account signature/)

  const { node, deviceDetails } = pairSuccessIq({ id: 'p', qr, accountKey: account, device, keyIndex: 1 })
  const { reply } = configureSuccessfulPairing(node, creds)
  const identityNode = reply.content[0].content[0]
  const signed = proto.ADVSignedDeviceIdentity.decode(identityNode.content)
  signed.deviceSignature = Buffer.from(signed.deviceSignature).fill(1, 0, 8)
  identityNode.content = proto.ADVSignedDeviceIdentity.encode(signed).finish()
  const expected = { deviceDetails, identityKey: qr.identityKey, accountPublic: account.public }
  assert.deepEqual(checkPairDeviceSign(reply, expected), { ok: false, reason: 'bad device signature' })
  assert.equal(checkPairDeviceSign(reply, { ...expected, deviceDetails: Buffer.from('other') }).ok, false)
  assert.equal(checkPairDeviceSign({ tag: 'iq', attrs: {} }, expected).ok, false)
})

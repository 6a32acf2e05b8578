/**
 * The simulated devices' Signal side against Baileys' own repository (the code the bridge
 * runs to decrypt and encrypt), in process: 1:1 sessions both ways from pre-key bundles,
 * and sender keys in groups, plus the pre-key upload / fetch shapes.
 */
import assert from 'node:assert/strict'
import path from 'node:path'
import { test } from 'node:test'
import { pathToFileURL } from 'node:url'
import { BRIDGE_DIR, baileys } from './lib/deps.js'
import { SignalParty, decodeMessage, encodeMessage } from './lib/signal.js'
import { bundleNodes, parsePreKeyUpload } from './lib/world.js'

const { addTransactionCapability, initAuthCreds, proto, encodeBigEndian, getNextPreKeysNode, parseAndInjectE2ESessions } = baileys
const { makeLibSignalRepository } = await import(
  pathToFileURL(path.join(BRIDGE_DIR, 'node_modules/@whiskeysockets/baileys/lib/Signal/libsignal.js')).href
)

const quiet = { trace() {}, debug() {}, info() {}, warn() {}, error() {}, child: () => quiet, level: 'silent' }

/** A companion as Baileys keeps it: creds + an in-memory key store with transactions. */
function companion() {
  const creds = initAuthCreds()
  /** @type {Record<string, Record<string, any>>} */
  const data = {}
  const keys = addTransactionCapability(
    {
      get: async (/** @type {string} */ type, /** @type {string[]} */ ids) => Object.fromEntries(ids.map((id) => [id, data[type]?.[id]])),
      set: async (/** @type {Record<string, Record<string, any>>} */ d) => {
        for (const [type, entries] of Object.entries(d)) {
          data[type] ??= {}
          for (const [id, v] of Object.entries(entries)) {
            if (v === null) delete data[type][id]
            else data[type][id] = v
          }
        }
      },
    },
    quiet,
    { maxCommitRetries: 1, delayBetweenTriesMs: 1 },
  )
  const auth = { creds, keys }
  const repo = makeLibSignalRepository(auth, quiet, async () => [])
  return { auth, repo }
}

/** The device's upload, through Baileys' own builder and our parser. */
async function uploadOf(/** @type {any} */ auth, count = 3) {
  const { node, update } = await getNextPreKeysNode(auth, count)
  Object.assign(auth.creds, update)
  const parsed = parsePreKeyUpload(node)
  assert.ok(parsed)
  return parsed
}

/** @param {any} upload @returns {import('./lib/signal.js').Bundle} */
function bundleFromUpload(upload) {
  const [id, pub] = Object.entries(upload.preKeys)[0]
  return {
    registrationId: upload.registrationId,
    identity: Buffer.from(upload.identity, 'base64'),
    signedPreKey: { id: upload.signedPreKey.id, public: Buffer.from(upload.signedPreKey.public, 'base64'), signature: Buffer.from(upload.signedPreKey.signature, 'base64') },
    preKey: { id: Number(id), public: Buffer.from(/** @type {string} */ (pub), 'base64') },
  }
}

test('pre-key upload: registration, identity, signed key and one-time keys parsed from what Baileys sends', async () => {
  const { auth } = companion()
  const up = await uploadOf(auth, 5)
  assert.equal(up.registrationId, auth.creds.registrationId)
  assert.equal(up.identity, Buffer.from(auth.creds.signedIdentityKey.public).toString('base64'))
  assert.deepEqual(up.signedPreKey, {
    id: auth.creds.signedPreKey.keyId,
    public: Buffer.from(auth.creds.signedPreKey.keyPair.public).toString('base64'),
    signature: Buffer.from(auth.creds.signedPreKey.signature).toString('base64'),
  })
  assert.deepEqual(Object.keys(up.preKeys), ['1', '2', '3', '4', '5'])
  assert.equal(parsePreKeyUpload({ tag: 'iq', attrs: {}, content: [{ tag: 'list', attrs: {}, content: [] }] }), null)
})

test('contact -> companion: pkmsg then msg, decrypted by Baileys; the answer back decrypts on our side', async () => {
  const { auth, repo } = companion()
  const bundle = bundleFromUpload(await uploadOf(auth))
  const alice = new SignalParty('alice')
  let asked = 0
  const first = await alice.encrypt('5511', 1, encodeMessage({ conversation: 'one' }), () => (asked++, bundle))
  const second = await alice.encrypt('5511', 1, encodeMessage({ conversation: 'two' }), () => (asked++, bundle))
  assert.equal(asked, 1, 'the bundle is used once')
  assert.equal(first.type, 'pkmsg')
  assert.equal(second.type, 'pkmsg', 'pkmsg until the other side answers')
  const jid = '5511988880001@s.whatsapp.net'
  for (const [enc, text] of /** @type {const} */ ([
    [first, 'one'],
    [second, 'two'],
  ])) {
    const plain = await repo.decryptMessage({ jid, type: enc.type, ciphertext: enc.ciphertext })
    assert.equal(proto.Message.decode(baileys.unpadRandomMax16(plain)).conversation, text)
  }
  const back = await repo.encryptMessage({ jid, data: baileys.encodeWAMessage({ conversation: 'three' }) })
  assert.equal(back.type, 'msg')
  assert.equal(decodeMessage(await alice.decrypt('5511', 1, back.type, back.ciphertext)).conversation, 'three')
  const third = await alice.encrypt('5511', 1, encodeMessage({ conversation: 'four' }), () => null)
  assert.equal(third.type, 'msg', 'a whisper message once the companion answered')
  assert.equal(proto.Message.decode(baileys.unpadRandomMax16(await repo.decryptMessage({ jid, type: 'msg', ciphertext: third.ciphertext }))).conversation, 'four')
  await assert.rejects(new SignalParty('x').encrypt('5511', 1, encodeMessage({ conversation: 'no keys' }), () => null), /no pre-key bundle/)
})

test('companion -> contact: Baileys builds the session from our pre-key fetch answer; we decrypt', async () => {
  const { repo } = companion()
  const bob = new SignalParty('bob')
  const jid = '5511988880002@s.whatsapp.net'
  const answer = { tag: 'iq', attrs: { type: 'result' }, content: [{ tag: 'list', attrs: {}, content: [{ tag: 'user', attrs: { jid }, content: bundleNodes(bob.bundle()) }] }] }
  await parseAndInjectE2ESessions(answer, repo)
  const enc = await repo.encryptMessage({ jid, data: baileys.encodeWAMessage({ extendedTextMessage: { text: 'hi bob' } }) })
  assert.equal(enc.type, 'pkmsg')
  assert.equal(decodeMessage(await bob.decrypt('5511', 1, 'pkmsg', enc.ciphertext)).extendedTextMessage?.text, 'hi bob')
  assert.equal(bob.preKeys.size, 0, 'the one-time pre-key was consumed')
  assert.equal(encodeBigEndian(bob.registrationId, 4).length, 4)
})

test('groups: our sender key distribution + skmsg decrypt in Baileys, and Baileys sender keys decrypt on our side', async () => {
  const { auth, repo } = companion()
  const bundle = bundleFromUpload(await uploadOf(auth))
  const dan = new SignalParty('dan')
  const group = '120363000000000001@g.us'
  const author = '5511988880004@s.whatsapp.net'
  const skdm = await dan.senderKeyDistribution(group, 'self')
  const dist = await dan.encrypt('5511', 1, encodeMessage({ senderKeyDistributionMessage: { groupId: group, axolotlSenderKeyDistributionMessage: skdm } }), () => bundle)
  const distMsg = proto.Message.decode(baileys.unpadRandomMax16(await repo.decryptMessage({ jid: author, type: dist.type, ciphertext: dist.ciphertext })))
  await repo.processSenderKeyDistributionMessage({ authorJid: author, item: distMsg.senderKeyDistributionMessage })
  for (const text of ['g1', 'g2', 'g3']) {
    const sk = await dan.groupEncrypt(group, 'self', encodeMessage({ conversation: text }))
    const plain = await repo.decryptGroupMessage({ group, authorJid: author, msg: sk })
    assert.equal(proto.Message.decode(baileys.unpadRandomMax16(plain)).conversation, text)
  }

  const me = '5511999990000:1@s.whatsapp.net'
  const { ciphertext, senderKeyDistributionMessage } = await repo.encryptGroupMessage({ group, meId: me, data: baileys.encodeWAMessage({ conversation: 'from me' }) })
  assert.equal(dan.hasSenderKey(group, '5511', 1), false)
  await dan.processSenderKey(group, '5511', 1, senderKeyDistributionMessage)
  assert.equal(dan.hasSenderKey(group, '5511', 1), true)
  assert.equal(decodeMessage(await dan.groupDecrypt(group, '5511', 1, ciphertext)).conversation, 'from me')
})

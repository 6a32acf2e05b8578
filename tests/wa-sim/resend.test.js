/**
 * Messages the real bridge (stock Baileys) cannot decrypt, and their resends: `/send`
 * `undecryptable` delivers a `msg` of a session the device never had, so Baileys upserts a
 * CIPHERTEXT stub and asks the sender (retry receipt) and its phone (placeholder resend
 * peer-data operation) for the content. Each mode answers one of them, or neither.
 */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { baileys } from './lib/deps.js'
import { parseRetryKeys } from './lib/resend.js'
import { ok, online, startSim, waitUntil } from './helpers.js'

const CIPHERTEXT = 2 // WAMessageStubType.CIPHERTEXT
/** Baileys waits 3 s (retry manager) + 2 s (resend cache) before asking the phone. */
const PHONE_WAIT_MS = 30000

/**
 * Every upserted message so far, in order, with its envelope's type.
 * @param {{events: any[]}} bridge
 */
function upserts(bridge) {
  const out = []
  for (const e of bridge.events) {
    if (e.event !== 'messages.upsert') continue
    for (const m of e.data.messages) out.push({ ...m, $type: e.data.type })
  }
  return out
}

/**
 * The index (in `upserts`) of the first upsert satisfying `pred`.
 * @param {{events: any[], output: () => string}} bridge @param {(m: any) => boolean} pred @param {string} what
 */
async function waitUpsert(bridge, pred, what, timeoutMs = 15000) {
  let index = -1
  try {
    await waitUntil(() => (index = upserts(bridge).findIndex(pred)) >= 0, what, timeoutMs)
  } catch (err) {
    const seen = bridge.events.filter((e) => e.event !== 'bridge.heartbeat').map((e) => `${e.event} ${JSON.stringify(e.data).slice(0, 300)}`)
    throw new Error(`${/** @type {Error} */ (err).message}; seen:\n${seen.join('\n')}\nbridge output:\n${bridge.output().slice(-4000)}`)
  }
  return { index, message: upserts(bridge)[index] }
}

/** @param {string} id */
const stubOf = (id) => (/** @type {any} */ m) => m.key?.id === id && m.messageStubType === CIPHERTEXT
/** @param {string} id @param {string} text */
const contentOf = (id, text) => (/** @type {any} */ m) => m.key?.id === id && m.message?.conversation === text

/** @param {{state: () => Promise<any>}} sim */
const counters = async (sim) => (await sim.state()).messages

/** Neither side failed to build or decrypt anything it should have. @param {any} m */
function assertNoFailures(m) {
  assert.deepEqual({ decryptFailures: m.decryptFailures, buildFailures: m.buildFailures }, { decryptFailures: 0, buildFailures: 0 }, JSON.stringify(m.errors))
}

describe('undecryptable messages through the real bridge', { concurrency: true }, () => {
  test('retry: the stub first, then the contact answers the retry receipt with the same id in a fresh session', async (t) => {
    const { sim, bridge } = await online(t)
    const alice = await ok(sim, '/contacts', { phone: '5511988881001', name: 'Alice' })
    // A session already exists, so the broken `msg` fails against it (not "no session").
    const first = await ok(sim, '/send', { from: alice.phone, kind: 'text', text: 'before' })
    await waitUpsert(bridge, contentOf(first.id, 'before'), 'the normal message')

    const sent = await ok(sim, '/send', { from: alice.phone, kind: 'text', text: 'you could not read me', undecryptable: 'retry' })
    const stub = await waitUpsert(bridge, stubOf(sent.id), 'the CIPHERTEXT stub')
    assert.equal(stub.message.message ?? null, null)
    assert.deepEqual({ remoteJid: stub.message.key.remoteJid, fromMe: stub.message.key.fromMe }, { remoteJid: alice.jid, fromMe: false })
    assert.equal(stub.message.$type, 'notify')
    const real = await waitUpsert(bridge, contentOf(sent.id, 'you could not read me'), 'the resent content')
    assert.ok(real.index > stub.index, 'content after the stub')
    assert.equal(real.message.$type, 'notify')
    assert.deepEqual({ remoteJid: real.message.key.remoteJid, fromMe: real.message.key.fromMe }, { remoteJid: alice.jid, fromMe: false })

    // Baileys acknowledged the resend with a delivery receipt (`inactive` while it is not
    // marked online): it decrypted it.
    /** @type {any[]} */
    let receipts = []
    await waitUntil(async () => (receipts = (await sim.get('/receipts')).body.filter((/** @type {any} */ r) => r.ids.includes(sent.id))).length === 2, 'delivery receipt of the resend')
    assert.deepEqual(
      receipts.map((r) => r.type),
      ['retry', 'inactive'],
    )
    const m = await counters(sim)
    assert.deepEqual(
      { undecryptable: m.undecryptable, nacks: m.nacks, retryReceipts: m.retryReceipts, resends: m.resends, retriesIgnored: m.retriesIgnored, placeholderAnswers: m.placeholderAnswers },
      { undecryptable: 1, nacks: 1, retryReceipts: 1, resends: 1, retriesIgnored: 0, placeholderAnswers: 0 },
      JSON.stringify(m.errors),
    )
    assertNoFailures(m)

    // The contact's session keeps working after the resend.
    const after = await ok(sim, '/send', { from: alice.phone, kind: 'text', text: 'after' })
    await waitUpsert(bridge, contentOf(after.id, 'after'), 'a message after the resend')
    assertNoFailures(await counters(sim))
    assert.equal((await counters(sim)).retryReceipts, 1)
  })

  test('retry with failures 2: the first resend fails too; the second retry receipt carries pre-keys and the real resend is built from them', async (t) => {
    const { sim, bridge } = await online(t)
    const erin = await ok(sim, '/contacts', { phone: '5511988881005', name: 'Erin' })
    const sent = await ok(sim, '/send', { from: erin.phone, kind: 'text', text: 'third time lucky', undecryptable: 'retry', failures: 2 })
    const stub = await waitUpsert(bridge, stubOf(sent.id), 'the CIPHERTEXT stub')
    const real = await waitUpsert(bridge, contentOf(sent.id, 'third time lucky'), 'the resent content', PHONE_WAIT_MS)
    assert.ok(real.index > stub.index, 'content after the stub')
    /** @type {any[]} */
    let receipts = []
    await waitUntil(async () => (receipts = (await sim.get('/receipts')).body.filter((/** @type {any} */ r) => r.ids.includes(sent.id))).length === 3, 'both retries and the delivery')
    assert.deepEqual(
      receipts.map((r) => r.type),
      ['retry', 'retry', 'inactive'],
    )
    const m = await counters(sim)
    assert.deepEqual(
      { undecryptable: m.undecryptable, nacks: m.nacks, retryReceipts: m.retryReceipts, resends: m.resends, resendsFromReceiptKeys: m.resendsFromReceiptKeys, placeholderAnswers: m.placeholderAnswers },
      { undecryptable: 2, nacks: 2, retryReceipts: 2, resends: 1, resendsFromReceiptKeys: 1, placeholderAnswers: 0 },
      JSON.stringify(m.errors),
    )
    assertNoFailures(m)
    const after = await ok(sim, '/send', { from: erin.phone, kind: 'text', text: 'after' })
    await waitUpsert(bridge, contentOf(after.id, 'after'), 'a message after the resend')
    assertNoFailures(await counters(sim))
  })

  test('phone: the contact ignores the retry receipt; the phone answers the placeholder resend request with the original message', async (t) => {
    const { sim, bridge, jid } = await online(t)
    const bob = await ok(sim, '/contacts', { phone: '5511988881002', name: 'Bob', lid: true })
    // The very first message from Bob: the device has no session with him at all.
    const sent = await ok(sim, '/send', { from: bob.phone, kind: 'text', text: 'ask your phone', undecryptable: 'phone' })
    const stub = await waitUpsert(bridge, stubOf(sent.id), 'the CIPHERTEXT stub')
    const real = await waitUpsert(bridge, contentOf(sent.id, 'ask your phone'), 'the content from the phone', PHONE_WAIT_MS)
    assert.ok(real.index > stub.index, 'content after the stub')
    assert.equal(real.message.$type, 'notify')
    assert.deepEqual({ remoteJid: real.message.key.remoteJid, fromMe: real.message.key.fromMe }, { remoteJid: bob.jid, fromMe: false })
    assert.equal(real.message.pushName, 'Bob')

    // The request the device sent its phone. (Baileys emits the answer with its `requestId`,
    // but its event buffer merges upserts and drops that field, so it rarely reaches the bridge.)
    const requests = (await sim.get('/received')).body.filter((/** @type {any} */ r) => r.message.protocolMessage?.peerDataOperationRequestMessage)
    assert.equal(requests.length, 1, JSON.stringify(requests))
    assert.equal(requests[0].from, jid)
    const keys = requests[0].message.protocolMessage.peerDataOperationRequestMessage.placeholderMessageResendRequest.map((/** @type {any} */ r) => r.messageKey.id)
    assert.deepEqual(keys, [sent.id])

    const m = await counters(sim)
    assert.deepEqual(
      { undecryptable: m.undecryptable, nacks: m.nacks, retryReceipts: m.retryReceipts, resends: m.resends, retriesIgnored: m.retriesIgnored, placeholderRequests: m.placeholderRequests, placeholderAnswers: m.placeholderAnswers },
      { undecryptable: 1, nacks: 1, retryReceipts: 1, resends: 0, retriesIgnored: 1, placeholderRequests: 1, placeholderAnswers: 1 },
      JSON.stringify(m.errors),
    )
    assertNoFailures(m)

    // The contact's own session was never touched: its next message decrypts at once.
    const next = await ok(sim, '/send', { from: bob.phone, kind: 'text', text: 'next' })
    await waitUpsert(bridge, contentOf(next.id, 'next'), 'the next message')
    assert.equal((await counters(sim)).retryReceipts, 1)
  })

  test('unavailable: no <enc> at all; Baileys asks only its phone, names the request in a messages.update, and the answer keeps the stub\'s key', async (t) => {
    const { sim, bridge } = await online(t)
    const fay = await ok(sim, '/contacts', { phone: '5511988881006', name: 'Fay', lid: true })
    const sent = await ok(sim, '/send', { from: fay.phone, kind: 'text', text: 'from an ad', undecryptable: 'unavailable' })
    const stub = await waitUpsert(bridge, stubOf(sent.id), 'the CIPHERTEXT stub')
    assert.deepEqual(stub.message.messageStubParameters, ['Message absent from node'])
    const real = await waitUpsert(bridge, contentOf(sent.id, 'from an ad'), 'the content from the phone', PHONE_WAIT_MS)
    assert.ok(real.index > stub.index, 'content after the stub')
    // Baileys kept the stub's metadata (LID details) and put the phone's content on it.
    assert.deepEqual(real.message.key, stub.message.key)
    assert.equal(real.message.key.remoteJidAlt, fay.lid)

    const requests = (await sim.get('/received')).body.filter((/** @type {any} */ r) => r.message.protocolMessage?.peerDataOperationRequestMessage)
    assert.equal(requests.length, 1, JSON.stringify(requests))
    // The messages.update naming the request, unless Baileys' event buffer folded it into the
    // answer's upsert (it merges an update into a buffered upsert of the same key).
    /** @type {any} */
    let named
    await waitUntil(() => {
      const updates = bridge.events.filter((e) => e.event === 'messages.update').flatMap((e) => e.data)
      const update = updates.find((/** @type {any} */ u) => u.key?.id === sent.id && u.update?.messageStubParameters)
      const folded = upserts(bridge).find((m) => m.key?.id === sent.id && m.message && m.messageStubParameters)
      named = update?.update ?? folded
      if (named) t.diagnostic(update ? 'request id in a messages.update' : 'request id folded into the upsert')
      return named
    }, 'the request id in a messages.update or the answer')
    assert.deepEqual(named.messageStubParameters, ['Message absent from node', requests[0].id])

    const m = await counters(sim)
    assert.deepEqual(
      { undecryptable: m.undecryptable, nacks: m.nacks, retryReceipts: m.retryReceipts, placeholderRequests: m.placeholderRequests, placeholderAnswers: m.placeholderAnswers },
      { undecryptable: 1, nacks: 0, retryReceipts: 0, placeholderRequests: 1, placeholderAnswers: 1 },
      JSON.stringify(m.errors),
    )
    assertNoFailures(m)
  })

  test('never: nobody answers, the stub stays; the phone was asked and ignored it', async (t) => {
    const { sim, bridge } = await online(t)
    const carol = await ok(sim, '/contacts', { phone: '5511988881003', name: 'Carol' })
    const sent = await ok(sim, '/send', { from: carol.phone, kind: 'text', text: 'lost', undecryptable: 'never' })
    await waitUpsert(bridge, stubOf(sent.id), 'the CIPHERTEXT stub')
    await waitUntil(async () => (await counters(sim)).placeholderRequests === 1, 'the placeholder request to the phone', PHONE_WAIT_MS)

    const later = await ok(sim, '/send', { from: carol.phone, kind: 'text', text: 'later' })
    await waitUpsert(bridge, contentOf(later.id, 'later'), 'a later message')
    assert.equal(upserts(bridge).filter((m) => m.key?.id === sent.id).length, 1, 'only the stub')
    assert.equal(upserts(bridge).find((m) => m.key?.id === sent.id).message ?? null, null)
    const m = await counters(sim)
    assert.deepEqual(
      { undecryptable: m.undecryptable, nacks: m.nacks, retryReceipts: m.retryReceipts, resends: m.resends, retriesIgnored: m.retriesIgnored, placeholderRequests: m.placeholderRequests, placeholderAnswers: m.placeholderAnswers },
      { undecryptable: 1, nacks: 1, retryReceipts: 1, resends: 0, retriesIgnored: 1, placeholderRequests: 1, placeholderAnswers: 0 },
      JSON.stringify(m.errors),
    )
    assertNoFailures(m)
  })

  test('/send rejects a bad undecryptable or failures, and undecryptable in a group', async (t) => {
    const sim = await startSim(t)
    const dave = await ok(sim, '/contacts', { phone: '5511988881004' })
    const group = await ok(sim, '/groups', { subject: 'g', participants: [dave.phone] })
    for (const body of [
      { from: dave.phone, kind: 'text', text: 'x', undecryptable: 'sometimes' },
      { from: dave.phone, kind: 'text', text: 'x', undecryptable: true },
      { from: dave.phone, to: group.jid, kind: 'text', text: 'x', undecryptable: 'retry' },
      { from: dave.phone, kind: 'text', text: 'x', undecryptable: 'retry', failures: 0 },
      { from: dave.phone, kind: 'text', text: 'x', undecryptable: 'retry', failures: 6 },
      { from: dave.phone, kind: 'text', text: 'x', undecryptable: 'phone', failures: 2 },
      { from: dave.phone, kind: 'text', text: 'x', failures: 1 },
    ]) {
      const res = await sim.post('/send', body)
      assert.equal(res.status, 400, JSON.stringify(body))
      assert.equal(res.body.error.code, 'bad_params')
    }
  })

  test('parseRetryKeys reads the bundle Baileys puts in a retry receipt', () => {
    const { Curve, encodeBigEndian, xmppPreKey, xmppSignedPreKey, signedKeyPair } = baileys
    const identity = Curve.generateKeyPair()
    const signed = signedKeyPair(identity, 7)
    const pre = Curve.generateKeyPair()
    const receipt = {
      tag: 'receipt',
      attrs: { id: 'X', type: 'retry' },
      content: [
        { tag: 'retry', attrs: { count: '2' } },
        { tag: 'registration', attrs: {}, content: encodeBigEndian(4321) },
        {
          tag: 'keys',
          attrs: {},
          content: [
            { tag: 'type', attrs: {}, content: Buffer.from([5]) },
            { tag: 'identity', attrs: {}, content: identity.public },
            xmppPreKey(pre, 99),
            xmppSignedPreKey(signed),
          ],
        },
      ],
    }
    const b = parseRetryKeys(/** @type {any} */ (receipt))
    assert.ok(b)
    assert.equal(b.registrationId, 4321)
    assert.ok(b.identity.equals(Buffer.from(identity.public)))
    assert.deepEqual(b.preKey && { id: b.preKey.id, same: b.preKey.public.equals(Buffer.from(pre.public)) }, { id: 99, same: true })
    assert.equal(b.signedPreKey.id, 7)
    assert.ok(b.signedPreKey.signature.equals(Buffer.from(signed.signature)))
    assert.equal(parseRetryKeys({ tag: 'receipt', attrs: {}, content: [{ tag: 'retry', attrs: { count: '1' } }] }), null)
  })
})

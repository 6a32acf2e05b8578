/**
 * The server handshake against Baileys' own client half (makeNoiseHandler), in memory:
 * if either side derived a key differently, AES-GCM authentication fails here.
 */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { makeServerIdentity, verifyChain } from './lib/certs.js'
import { baileys } from './lib/deps.js'
import { encodeFrame, FrameReader } from './lib/frames.js'
import { HandshakeError, ServerHandshake } from './lib/noise.js'
import { decodeNode, encodeNode } from './lib/nodes.js'

const { Curve, NOISE_WA_HEADER, encodeBinaryNode, makeNoiseHandler, proto } = baileys

const silent = { level: 'silent', child: () => silent, trace() {}, debug() {}, info() {}, warn() {}, error() {} }

function client() {
  const ephemeral = Curve.generateKeyPair()
  const noise = makeNoiseHandler({ keyPair: ephemeral, NOISE_HEADER: NOISE_WA_HEADER, logger: silent, routingInfo: undefined })
  return { noise, ephemeral, noiseKey: Curve.generateKeyPair() }
}

/** Run the three handshake messages; return both ends. */
async function handshake() {
  const identity = makeServerIdentity()
  const server = new ServerHandshake(identity)
  const reader = new FrameReader()
  const c = client()
  const hello = proto.HandshakeMessage.encode({ clientHello: { ephemeral: c.ephemeral.public } }).finish()
  const [helloFrame] = reader.push(c.noise.encodeFrame(hello))
  assert.deepEqual(reader.intro, NOISE_WA_HEADER)
  const serverHello = server.respond(helloFrame)
  const keyEnc = c.noise.processHandshake(proto.HandshakeMessage.decode(serverHello), c.noiseKey)
  const login = proto.ClientPayload.encode({ username: 5511999990000, device: 7, passive: true }).finish()
  const finish = proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload: c.noise.encrypt(login) } }).finish()
  const [finishFrame] = reader.push(c.noise.encodeFrame(finish))
  const result = server.finish(finishFrame)
  await c.noise.finishInit()
  return { c, result, reader, identity, serverHello }
}

test('handshake: server learns the client static key and payload; both transports agree', async () => {
  const { c, result, reader } = await handshake()
  assert.deepEqual(result.clientStatic, c.noiseKey.public)
  assert.equal(String(result.payload.username), '5511999990000')
  assert.equal(result.payload.device, 7)

  // client -> server, twice (counters advance in step)
  for (const id of ['a', 'b']) {
    const node = { tag: 'iq', attrs: { id, type: 'get', xmlns: 'w:p' }, content: [{ tag: 'ping', attrs: {} }] }
    const [frame] = reader.push(c.noise.encodeFrame(encodeBinaryNode(node)))
    const got = await decodeNode(result.transport.decrypt(frame))
    assert.equal(got.attrs.id, id)
    assert.equal(got.content[0].tag, 'ping')
  }
  // server -> client, two frames in one chunk
  const frames = []
  const chunk = Buffer.concat(
    ['x', 'y'].map((id) => encodeFrame(result.transport.encrypt(encodeNode({ tag: 'iq', attrs: { id, type: 'result' } })))),
  )
  await c.noise.decodeFrame(chunk, (/** @type {any} */ f) => frames.push(f))
  assert.deepEqual(
    frames.map((f) => f.attrs.id),
    ['x', 'y'],
  )
})

test('the certificate chain in ServerHello is internally valid and ends at the server static key', async () => {
  const { identity } = await handshake()
  const { ok, leafKey } = verifyChain(identity.certChain, identity.rootPublic)
  assert.equal(ok, true)
  assert.deepEqual(leafKey, identity.staticKeyPair.public)
  assert.equal(verifyChain(identity.certChain, Curve.generateKeyPair().public).ok, false)
})

test('a tampered ServerHello fails on the client; a tampered ClientFinish fails on the server', async () => {
  const server = new ServerHandshake(makeServerIdentity())
  const c = client()
  const hello = proto.HandshakeMessage.encode({ clientHello: { ephemeral: c.ephemeral.public } }).finish()
  const sh = proto.HandshakeMessage.decode(server.respond(hello))
  sh.serverHello.static[0] ^= 1
  assert.throws(() => c.noise.processHandshake(sh, c.noiseKey))

  const server2 = new ServerHandshake(makeServerIdentity())
  const c2 = client()
  const sh2 = server2.respond(proto.HandshakeMessage.encode({ clientHello: { ephemeral: c2.ephemeral.public } }).finish())
  const keyEnc = c2.noise.processHandshake(proto.HandshakeMessage.decode(sh2), c2.noiseKey)
  const payload = c2.noise.encrypt(proto.ClientPayload.encode({ username: 1, device: 1 }).finish())
  payload[payload.length - 1] ^= 1
  const fin = proto.HandshakeMessage.encode({ clientFinish: { static: keyEnc, payload } }).finish()
  assert.throws(() => server2.finish(fin), HandshakeError)
})

test('protocol misuse is a HandshakeError', () => {
  const server = new ServerHandshake(makeServerIdentity())
  assert.throws(() => server.finish(Buffer.alloc(0)), /before clientHello/)
  assert.throws(() => server.respond(proto.HandshakeMessage.encode({ clientHello: {} }).finish()), HandshakeError)
  assert.throws(() => server.respond(Buffer.from([0xff, 0xff, 0xff])), HandshakeError)
})

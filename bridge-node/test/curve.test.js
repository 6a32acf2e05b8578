import { test } from 'node:test'
import assert from 'node:assert/strict'
import zmq from 'zeromq'
import { leavesTheMachine, serverOptions, z85Decode } from '../src/curve.js'

test('Z85 decodes the RFC 32 test vector', () => {
  const bytes = z85Decode('HelloWorld')
  assert.deepEqual([...bytes], [0x86, 0x4f, 0xd2, 0x6f, 0xb5, 0x59, 0xf7, 0x5b])
  assert.throws(() => z85Decode('abc'), /multiple of 5/)
  assert.throws(() => z85Decode('abc d'), /not a Z85 character/)
})

test('only non-loopback tcp leaves the machine', () => {
  for (const endpoint of ['tcp://127.0.0.1:5555', 'tcp://localhost:1', 'ipc:///tmp/x', 'tcp://[::1]:5', 'tcp://127.3.2.1:9']) {
    assert.equal(leavesTheMachine(endpoint), false, endpoint)
  }
  for (const endpoint of ['tcp://0.0.0.0:5555', 'tcp://*:5555', 'tcp://10.0.0.2:1', 'tcp://bridge:5555']) {
    assert.equal(leavesTheMachine(endpoint), true, endpoint)
  }
})

test('no keys off loopback is refused; keys make a CURVE server', () => {
  const base = { pub: 'tcp://0.0.0.0:5555', router: 'tcp://127.0.0.1:5556', curveSecretKey: null, curvePublicKey: null }
  assert.throws(() => serverOptions(base), /refusing to serve tcp:\/\/0\.0\.0\.0:5555 unencrypted/)
  assert.deepEqual(serverOptions({ ...base, pub: 'ipc:///tmp/p' }), {})
  const { publicKey, secretKey } = zmq.curveKeyPair()
  assert.deepEqual(serverOptions({ ...base, curveSecretKey: secretKey, curvePublicKey: publicKey }), {
    curveServer: true,
    curveSecretKey: secretKey,
    curvePublicKey: publicKey,
  })
})

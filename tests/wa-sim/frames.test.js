import assert from 'node:assert/strict'
import { test } from 'node:test'
import { encodeFrame, FrameReader, FramingError } from './lib/frames.js'

const WA = Buffer.from([0x57, 0x41, 6, 3])

test('intro stripped; frames reassembled across and within chunks', () => {
  const r = new FrameReader()
  const bytes = Buffer.concat([WA, encodeFrame(Buffer.from('hello')), encodeFrame(Buffer.alloc(70000, 7)), encodeFrame(Buffer.alloc(0))])
  const got = []
  for (let i = 0; i < bytes.length; i += 1000) got.push(...r.push(bytes.subarray(i, i + 1000)))
  assert.equal(got.length, 3)
  assert.equal(got[0].toString(), 'hello')
  assert.equal(got[1].length, 70000)
  assert.equal(got[2].length, 0)
  assert.deepEqual(r.intro, WA)
  assert.deepEqual(r.push(Buffer.from([0, 0])), []) // partial length prefix waits
  assert.deepEqual(r.push(Buffer.from([1, 9])).map((b) => [...b]), [[9]])
})

test('an ED routing prefix before the WA header is skipped', () => {
  const routing = Buffer.from('route-me')
  const ed = Buffer.concat([Buffer.from('ED'), Buffer.from([0, 1, 0, 0, routing.length]), routing, WA, encodeFrame(Buffer.from('x'))])
  const r = new FrameReader()
  assert.deepEqual(r.push(ed.subarray(0, 5)), [])
  assert.deepEqual(r.push(ed.subarray(5)).map(String), ['x'])
  assert.deepEqual(r.intro, WA)
})

test('anything else is a FramingError; oversized frames cannot be encoded', () => {
  assert.throws(() => new FrameReader().push(Buffer.from('GET / HTTP/1.1')), FramingError)
  assert.throws(() => encodeFrame(Buffer.alloc(0x1000000)), FramingError)
  assert.deepEqual([...encodeFrame(Buffer.from([1, 2]))], [0, 0, 2, 1, 2])
})

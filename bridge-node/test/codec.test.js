import assert from 'node:assert/strict'
import { test } from 'node:test'
import { Boom } from '@hapi/boom'
import { proto } from '@whiskeysockets/baileys'
import { Long, decode, encode, encodeJSON } from '../src/codec.js'

function realMessage() {
  return proto.WebMessageInfo.fromObject({
    key: { remoteJid: '120363000000000001@g.us', fromMe: false, id: '3EB0ABCDEF', participant: '5511999999999@s.whatsapp.net' },
    messageTimestamp: 1700000000,
    status: proto.WebMessageInfo.Status.READ,
    pushName: 'Ana',
    message: {
      imageMessage: {
        mimetype: 'image/jpeg',
        mediaKey: Buffer.from('0123456789abcdef0123456789abcdef'),
        fileSha256: Buffer.from([0, 1, 2, 255]),
        fileLength: '9007199254740993', // 2^53 + 1: not a safe integer
        mediaKeyTimestamp: '-9007199254740993', // signed int64 below -(2^53)
        contextInfo: { stanzaId: 'Q1', quotedMessage: { conversation: 'quoted' } },
      },
    },
  })
}

test('a real WebMessageInfo encodes Longs, bytes and enums losslessly, never via toJSON', () => {
  const msg = realMessage()
  const e = encode(msg)
  assert.equal(e.messageTimestamp, 1700000000) // safe Long -> plain number
  assert.equal(e.status, 4) // enum stays numeric (toJSON would say "READ")
  assert.equal(typeof msg.toJSON().status, 'string') // ...which is what toJSON would have done
  const img = e.message.imageMessage
  assert.deepEqual(img.fileLength, { $long: '9007199254740993' }) // unsigned uint64
  assert.deepEqual(img.mediaKeyTimestamp, { $long: '-9007199254740993' }) // sign kept
  assert.deepEqual(img.fileSha256, { $bytes: Buffer.from([0, 1, 2, 255]).toString('base64') })
  assert.equal(img.contextInfo.quotedMessage.conversation, 'quoted') // nested protos
  assert.equal(e.key.participant, '5511999999999@s.whatsapp.net')
})

test('unsigned 64-bit max survives as an unsigned decimal and decodes to an unsigned Long', () => {
  const big = Long.fromString('18446744073709551615', true)
  assert.deepEqual(encode({ big }), { big: { $long: '18446744073709551615' } })
  const back = decode(encode({ big })).big
  assert.ok(Long.isLong(back))
  assert.equal(back.unsigned, true)
  assert.equal(back.toString(), '18446744073709551615')
})

test('decode(encode(x)) re-encodes to identical JSON and yields real Buffers and Longs', () => {
  const msg = realMessage()
  const wire = encodeJSON(msg)
  const decoded = decode(JSON.parse(wire))
  assert.equal(encodeJSON(decoded), wire)
  const img = decoded.message.imageMessage
  assert.ok(Buffer.isBuffer(img.mediaKey))
  assert.ok(img.mediaKey.equals(msg.message.imageMessage.mediaKey))
  assert.ok(img.fileLength instanceof Long) // the same Long class protobufjs uses
  // And Baileys can turn the decoded value back into the identical protobuf bytes.
  const again = proto.WebMessageInfo.encode(proto.WebMessageInfo.fromObject(decoded)).finish()
  assert.ok(Buffer.from(again).equals(Buffer.from(proto.WebMessageInfo.encode(msg).finish())))
})

test('Buffer, Uint8Array, other views and ArrayBuffer all become $bytes of their own window', () => {
  const backing = Buffer.from('xxhelloxx')
  const view = new Uint8Array(backing.buffer, backing.byteOffset + 2, 5)
  assert.deepEqual(encode(view), { $bytes: Buffer.from('hello').toString('base64') })
  assert.deepEqual(encode(Buffer.from('hello')), { $bytes: Buffer.from('hello').toString('base64') })
  assert.deepEqual(encode(new Uint16Array([1]).buffer), { $bytes: 'AQA=' })
  assert.ok(Buffer.isBuffer(decode(encode(view))))
})

test('Boom errors keep statusCode and the non-enumerable message; data is encoded', () => {
  const err = new Boom('Connection Closed', { statusCode: 428, data: { raw: Buffer.from([1]) } })
  assert.deepEqual(encode(err), {
    $error: { name: 'Error', message: 'Connection Closed', statusCode: 428, data: { raw: { $bytes: 'AQ==' } } },
  })
  assert.deepEqual(encode(new TypeError('bad')), { $error: { name: 'TypeError', message: 'bad', statusCode: null, data: null } })
})

test('cycles become null, shared (non-cyclic) references are kept', () => {
  /** @type {any} */
  const a = { name: 'a' }
  a.self = a
  const shared = { x: 1 }
  assert.deepEqual(encode({ a, l: shared, r: shared }), { a: { name: 'a', self: null }, l: { x: 1 }, r: { x: 1 } })
  /** @type {any[]} */
  const arr = [1]
  arr.push(arr)
  assert.deepEqual(encode(arr), [1, null])
})

test('depth is capped at 100', () => {
  /** @type {any} */
  let deep = { leaf: true }
  for (let i = 0; i < 150; i++) deep = { d: deep }
  let e = encode(deep)
  let depth = 0
  while (e && typeof e === 'object') {
    e = e.d
    depth++
  }
  assert.equal(depth, 100)
})

test('Map, Set, Date, BigInt, NaN/Infinity, functions and undefined', () => {
  const value = {
    m: new Map([['k', 1n]]),
    s: new Set(['a', 'b']),
    d: new Date(1700000000123),
    big: 12345678901234567890n,
    nan: NaN,
    inf: -Infinity,
    fn: () => 1,
    u: undefined,
    arr: [undefined, () => 1, 1],
  }
  assert.deepEqual(encode(value), {
    m: [['k', '1']],
    s: ['a', 'b'],
    d: { $date: 1700000000123 },
    big: '12345678901234567890',
    nan: null,
    inf: null,
    arr: [null, null, 1],
  })
  assert.ok(decode(encode(value)).d instanceof Date)
})

test('chats.update conditional functions are dropped', () => {
  const update = [{ id: 'x@s.whatsapp.net', unreadCount: 1, conditional: () => true }]
  assert.deepEqual(encode(update), [{ id: 'x@s.whatsapp.net', unreadCount: 1 }])
})

test('only single-key objects are tags', () => {
  const v = { $bytes: 'AQ==', other: 1 }
  assert.deepEqual(decode(v), v)
  assert.deepEqual(decode({ $long: 'nope' }), { $long: 'nope' })
  assert.equal(decode({ $long: '42' }).toNumber(), 42)
})

test('encode does not mutate its input', () => {
  const msg = realMessage()
  const before = proto.WebMessageInfo.encode(msg).finish()
  encode(msg)
  assert.ok(Buffer.from(proto.WebMessageInfo.encode(msg).finish()).equals(Buffer.from(before)))
})

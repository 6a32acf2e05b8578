/** nats-large.js: what counts as large, the stub, the object's name, and the bucket on a real server. */
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { jetstream, jetstreamManager } from '@nats-io/jetstream'
import { Objm } from '@nats-io/obj'
import { connect } from '@nats-io/transport-node'
import { LARGE_HEADROOM, LargeObjects, isLarge, largeBucket, objectDigest, objectName, stubEnvelope } from '../src/nats-large.js'
import { streamConfig } from '../src/nats-stream.js'
import { startNatsServer, uniqueNames } from './nats-server.js'

test('large: over max_payload less 64 KiB; never while max_payload is unknown', () => {
  const max = 1024 * 1024
  assert.equal(LARGE_HEADROOM, 64 * 1024)
  assert.equal(isLarge(max - LARGE_HEADROOM, max), false)
  assert.equal(isLarge(max - LARGE_HEADROOM + 1, max), true)
  assert.equal(isLarge(10 * max, undefined), false)
  assert.equal(largeBucket('wa'), 'wa-large')
  assert.equal(objectName('desk-1', '0mxb43prf-2b96be51', 42), 'desk-1.0mxb43prf-2b96be51.42')
})

test('stub: the envelope with data null, keys in the envelope order', () => {
  const line = JSON.stringify({ v: 1, epoch: 'e1', seq: 7, ts: 1700000000000, event: 'messaging-history.set', data: { chats: [1, 2, 3] } })
  assert.equal(stubEnvelope(line), '{"v":1,"epoch":"e1","seq":7,"ts":1700000000000,"event":"messaging-history.set","data":null}')
})

test('objects: created with the stream settings, stored whole, a second put of the same bytes leaves it as it is, other bytes replace it', async (t) => {
  const server = await startNatsServer()
  t.after(() => server.close())
  const { prefix } = uniqueNames()
  const nc = await connect({ servers: server.url })
  t.after(() => nc.close())
  const stream = streamConfig({ stream: 'S', prefix, maxAgeS: 3600, maxBytes: 1e9, replicas: 1 })
  const objects = new LargeObjects({ js: jetstream(nc), bucket: largeBucket(prefix), stream, timeoutMs: 10000 })
  const bytes = Buffer.alloc(3 * 1024 * 1024 + 5, 'a')
  assert.equal(await objects.put('s.e.1', bytes), 'stored')
  const { config } = await (await jetstreamManager(nc)).streams.info(`OBJ_${prefix}-large`)
  assert.deepEqual([config.storage, config.max_age, config.num_replicas], [stream.storage, stream.max_age, stream.num_replicas])

  const store = await new Objm(nc).open(largeBucket(prefix))
  const info = await store.info('s.e.1')
  assert.equal(info?.digest, objectDigest(bytes), 'our digest is the object store\'s')
  assert.equal(await objects.put('s.e.1', bytes), 'present')
  assert.equal((await store.info('s.e.1'))?.nuid, info?.nuid, 'the stored object is untouched')
  const other = Buffer.alloc(100, 'b')
  assert.equal(await objects.put('s.e.1', other), 'stored')
  assert.equal(Buffer.compare(Buffer.from(/** @type {Uint8Array} */ (await store.getBlob('s.e.1'))), other), 0)
})

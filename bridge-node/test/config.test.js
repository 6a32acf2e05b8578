import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import path from 'node:path'
import { test } from 'node:test'
import { ConfigError, ENV_NAMES, readConfig } from '../src/config.js'
import { ROOT } from './helpers.js'

test('defaults', () => {
  const c = readConfig({})
  assert.equal(c.pub, 'tcp://127.0.0.1:5555')
  assert.equal(c.router, 'tcp://127.0.0.1:5556')
  assert.equal(c.dataDir, path.resolve('./data/bridge'))
  assert.equal(c.authDir, path.join(c.dataDir, 'auth'))
  assert.equal(c.journalDir, path.join(c.dataDir, 'journal'))
  assert.equal(c.replay, null)
  assert.equal(c.replayRate, 0)
  assert.equal(c.autoConnect, true)
  assert.equal(c.keepAliveMs, 30000)
  assert.equal(c.heartbeatMs, 1000)
  assert.equal(c.journalMaxEvents, 200000)
  assert.equal(c.journalMaxBytes, 268435456)
  assert.equal(c.journalSegmentBytes, 8388608)
  assert.equal(c.ringSize, 20000)
  assert.equal(c.pubHwm, 100000)
  assert.equal(c.commandTimeoutMs, 30000)
  assert.equal(c.sentCacheSize, 5000)
  assert.equal(c.logLevel, 'info')
  assert.equal(c.syncFullHistory, false)
  assert.equal(c.history, 'recent')
  assert.equal(c.testDropSeqs.size, 0)
  assert.equal(c.markOnlineOnConnect, false)
  assert.equal(c.proxy, null)
  assert.equal(c.session, 'default')
  assert.equal(c.nats, null)
  assert.ok(Object.isFrozen(c))
})

test('values are parsed; empty means unset', () => {
  const c = readConfig({
    BRIDGE_REPLAY: '/x.jsonl',
    BRIDGE_REPLAY_RATE: '2.5',
    BRIDGE_AUTO_CONNECT: 'no',
    BRIDGE_KEEPALIVE_MS: '1000',
    BRIDGE_SYNC_FULL_HISTORY: 'TRUE',
    BRIDGE_TEST_DROP_SEQS: '3, 7,',
    BRIDGE_RECORD: '',
    BRIDGE_LOG_LEVEL: 'Debug',
    BRIDGE_MARK_ONLINE_ON_CONNECT: 'yes',
  })
  assert.equal(c.markOnlineOnConnect, true)
  assert.equal(c.replay, '/x.jsonl')
  assert.equal(c.replayRate, 2.5)
  assert.equal(c.autoConnect, false)
  assert.equal(c.keepAliveMs, 1000)
  assert.equal(c.syncFullHistory, true)
  assert.equal(c.history, 'full')
  assert.deepEqual([...c.testDropSeqs], [3, 7])
  assert.equal(c.record, null)
  assert.equal(c.logLevel, 'debug')
})

test('invalid values raise ConfigError naming the variable', () => {
  for (const [name, value] of [
    ['BRIDGE_HEARTBEAT_MS', 'soon'],
    ['BRIDGE_HEARTBEAT_MS', '0'],
    ['BRIDGE_KEEPALIVE_MS', '0'],
    ['BRIDGE_RING_SIZE', '1.5'],
    ['BRIDGE_REPLAY_RATE', '-1'],
    ['BRIDGE_AUTO_CONNECT', 'maybe'],
    ['BRIDGE_LOG_LEVEL', 'loud'],
    ['BRIDGE_TEST_DROP_SEQS', '1,x'],
    ['BRIDGE_MARK_ONLINE_ON_CONNECT', 'sometimes'],
    ['BRIDGE_HISTORY', 'some'],
    ['BRIDGE_HISTORY', 'days:0'],
    ['BRIDGE_HISTORY', 'days:x'],
  ]) {
    assert.throws(() => readConfig({ [name]: value }), (err) => err instanceof ConfigError && err.message.includes(name), `${name}=${value}`)
  }
})

test('ENV_NAMES lists every BRIDGE_* variable, printable the way the Python test reads it', () => {
  const out = execFileSync(process.execPath, ['-e', "import('./src/config.js').then(m=>console.log(JSON.stringify(m.ENV_NAMES)))"], { cwd: ROOT })
  const names = JSON.parse(out.toString())
  assert.deepEqual(names, [...ENV_NAMES])
  assert.equal(names.length, 37)
  assert.ok(names.every((/** @type {string} */ n) => n.startsWith('BRIDGE_')))
  for (const n of ['BRIDGE_PUB', 'BRIDGE_ROUTER', 'BRIDGE_DATA_DIR', 'BRIDGE_REPLAY', 'BRIDGE_WA_URL', 'BRIDGE_TEST_DROP_SEQS', 'BRIDGE_MARK_ONLINE_ON_CONNECT', 'BRIDGE_PROXY']) assert.ok(names.includes(n), n)
})

test('BRIDGE_HISTORY: full, recent, none; days:N is recent; it wins over BRIDGE_SYNC_FULL_HISTORY', () => {
  const read = (/** @type {Record<string, string>} */ env) => {
    const c = readConfig(env)
    return [c.history, c.syncFullHistory]
  }
  assert.deepEqual(read({ BRIDGE_HISTORY: 'FULL' }), ['full', true])
  assert.deepEqual(read({ BRIDGE_HISTORY: 'recent' }), ['recent', false])
  assert.deepEqual(read({ BRIDGE_HISTORY: 'none' }), ['none', false])
  assert.deepEqual(read({ BRIDGE_HISTORY: 'days:30' }), ['recent', false])
  assert.deepEqual(read({ BRIDGE_HISTORY: 'none', BRIDGE_SYNC_FULL_HISTORY: 'true' }), ['none', false])
  assert.deepEqual(read({ BRIDGE_HISTORY: '', BRIDGE_SYNC_FULL_HISTORY: 'true' }), ['full', true])
})

test('BRIDGE_PROXY: four schemes, shown as scheme://host:port; credentials kept out of sight', () => {
  for (const [raw, display] of [
    ['http://proxy.example:3128', 'http://proxy.example:3128'],
    ['https://proxy.example', 'https://proxy.example:443'],
    ['http://10.0.0.1/', 'http://10.0.0.1:80'],
    ['socks5://127.0.0.1:9050', 'socks5://127.0.0.1:9050'],
    ['socks5h://[::1]', 'socks5h://[::1]:1080'],
    ['  HTTP://User:Pa%24s@Proxy.Example:8080  ', 'http://proxy.example:8080'],
  ]) {
    const p = /** @type {NonNullable<ReturnType<typeof readConfig>['proxy']>} */ (readConfig({ BRIDGE_PROXY: raw }).proxy)
    assert.equal(p.display, display, raw)
    assert.ok(Object.isFrozen(p))
    // The URL and the password are there for the agents, but nothing that serializes sees them.
    assert.deepEqual(Object.keys(p), ['display'])
  }
  const p = /** @type {any} */ (readConfig({ BRIDGE_PROXY: 'http://user:a%22b%24c@h:1' }).proxy)
  assert.equal(p.url, 'http://user:a%22b%24c@h:1/')
  assert.deepEqual(p.secrets, ['a"b$c', 'a%22b%24c', 'a\\"b$c'])
  assert.doesNotMatch(JSON.stringify(readConfig({ BRIDGE_PROXY: 'http://user:a%22b%24c@h:1' })), /a%22b|b\$c/)
  assert.deepEqual(/** @type {any} */ (readConfig({ BRIDGE_PROXY: 'socks5://user@h' }).proxy).secrets, [])
})

test('a bad BRIDGE_PROXY names the variable and never quotes the value', () => {
  for (const raw of [
    'proxy.example:3128',
    'alice7:hunter2@h:1',
    'ftp://alice7:hunter2@h',
    'socks4://alice7:hunter2@h',
    'http://alice7:hunter2@',
    'http://alice7:hunter2@h/path',
    'http://alice7:hunter2@h?x=1',
    'http://alice7:hunter2@h:0',
    'http://alice7:hunter2@h:99999',
    'http://alice7:hunter2%zz@h',
  ]) {
    assert.throws(
      () => readConfig({ BRIDGE_PROXY: raw }),
      (err) => err instanceof ConfigError && err.message.startsWith('BRIDGE_PROXY ') && !err.message.includes('hunter2') && !err.message.includes('alice7'),
      raw,
    )
  }
})

test('BRIDGE_NATS_*: the URL switches to NATS; contract defaults; names usable in subjects; credentials kept out of sight', () => {
  const c = readConfig({ BRIDGE_NATS_URL: 'nats://bridge:s3cret@nats-1:4222, nats-2:4222', BRIDGE_SESSION: 'desk_2' })
  assert.equal(c.session, 'desk_2')
  assert.deepEqual({ ...c.nats }, {
    display: 'nats://nats-1:4222,nats://nats-2:4222',
    stream: 'WA_EVENTS',
    prefix: 'wa',
    maxAgeS: 604800,
    maxBytes: 1073741824,
    replicas: 1,
    buffer: 100000,
  })
  assert.deepEqual(/** @type {any} */ (c.nats).servers, ['nats://bridge:s3cret@nats-1:4222', 'nats-2:4222'])
  assert.doesNotMatch(JSON.stringify(c), /s3cret/)
  const d = /** @type {any} */ (readConfig({
    BRIDGE_NATS_URL: 'tls://h:1',
    BRIDGE_NATS_STREAM: 'EV-2',
    BRIDGE_NATS_PREFIX: 'helpdesk',
    BRIDGE_NATS_MAX_AGE_S: '60',
    BRIDGE_NATS_MAX_BYTES: '1000',
    BRIDGE_NATS_REPLICAS: '3',
    BRIDGE_NATS_BUFFER: '10',
  }).nats)
  assert.deepEqual([d.stream, d.prefix, d.maxAgeS, d.maxBytes, d.replicas, d.buffer], ['EV-2', 'helpdesk', 60, 1000, 3, 10])
  for (const [name, raw] of [
    ['BRIDGE_SESSION', 'a.b'],
    ['BRIDGE_SESSION', 'a*'],
    ['BRIDGE_NATS_PREFIX', 'wa.x'],
    ['BRIDGE_NATS_PREFIX', 'w a'],
    ['BRIDGE_NATS_STREAM', 'A/B'],
    ['BRIDGE_NATS_REPLICAS', '0'],
    ['BRIDGE_NATS_REPLICAS', '6'],
    ['BRIDGE_NATS_MAX_AGE_S', '-1'],
    ['BRIDGE_NATS_BUFFER', 'lots'],
    ['BRIDGE_NATS_URL', 'http://u:hunter2@h:4222'],
    ['BRIDGE_NATS_URL', 'nats://u:hunter2@:4222'],
    ['BRIDGE_NATS_URL', ' , '],
  ]) {
    assert.throws(
      () => readConfig({ BRIDGE_NATS_URL: 'nats://h:4222', [name]: raw }),
      (err) => err instanceof ConfigError && err.message.startsWith(name) && !err.message.includes('hunter2'),
      `${name}=${raw}`,
    )
    }
  })

test('BRIDGE_LEASE_TTL_MS: 10 s by default, with a floor above the lease deadline margin', () => {
  assert.equal(readConfig({}).leaseTtlMs, 10000)
  assert.equal(readConfig({ BRIDGE_LEASE_TTL_MS: '3000' }).leaseTtlMs, 3000)
  for (const value of ['2999', 'long']) {
    assert.throws(() => readConfig({ BRIDGE_LEASE_TTL_MS: value }), (err) => err instanceof ConfigError && err.message.includes('BRIDGE_LEASE_TTL_MS'), value)
  }
})

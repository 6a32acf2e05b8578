#!/usr/bin/env node
/**
 * Generate a capture file (JSON Lines, `{"event","data","ts"}`) from REAL Baileys protos,
 * encoded by the bridge's own walker, for tests, demos and benchmarks.
 *
 *   node scripts/make-capture.js --out FILE --events N [--chats 20] [--seed 1] [--history M] [--rich]
 *
 * Deterministic for a seed (seeded PRNG, timestamps derived from a fixed base), and
 * exactly N lines: chats.upsert, contacts.upsert, with --history one messaging-history.set
 * of M older messages, then messages.upsert with a messages.update ack roughly every 7th
 * event; with --rich, reactions (added, changed, removed), edits and revokes on recent
 * messages too.
 */
import fs from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { proto } from '@whiskeysockets/baileys'
import { encode } from '../src/codec.js'

const BASE_TS = 1_700_000_000 // fixed, so the same seed yields the same bytes
const WORDS = ['hello', 'order', 'refund', 'thanks', 'please', 'delivery', 'invoice', 'help', 'today', 'tomorrow', 'ok', 'where', 'is', 'my', 'package', 'ticket']

/** mulberry32: tiny, fast, good enough for test data. @param {number} seed */
function prng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * @param {object} opts
 * @param {number} opts.events total lines (>= 1)
 * @param {number} [opts.chats]
 * @param {number} [opts.seed]
 * @param {number} [opts.history] messages in a messaging-history.set before the live traffic
 * @param {boolean} [opts.rich] also reactions, edits and revokes
 * @returns {Generator<string>} capture lines without newline
 */
export function* generateCapture({ events, chats = 20, seed = 1, history = 0, rich = false }) {
  const rand = prng(seed)
  const int = (/** @type {number} */ n) => Math.floor(rand() * n)
  const bytes = (/** @type {number} */ n) => {
    const b = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) b[i] = int(256)
    return b
  }
  const text = () => Array.from({ length: 1 + int(12) }, () => WORDS[int(WORDS.length)]).join(' ')
  const groups = Math.min(2, Math.max(0, chats - 1))
  const jids = Array.from({ length: chats }, (_, i) =>
    i < groups ? `1203630${String(4000000000 + i * 7919)}@g.us` : `${5511900000000 + i * 7}@s.whatsapp.net`,
  )
  const people = jids.filter((j) => j.endsWith('@s.whatsapp.net'))
  const line = (/** @type {string} */ event, /** @type {unknown} */ data, /** @type {number} */ i) =>
    JSON.stringify({ event, data: encode(data), ts: (BASE_TS + i) * 1000 })

  let n = 0
  if (n < events) {
    const convs = jids.map((id, i) =>
      proto.Conversation.fromObject({ id, name: `Chat ${i}`, unreadCount: int(5), conversationTimestamp: BASE_TS - i * 60, archived: false }),
    )
    yield line('chats.upsert', convs, n++)
  }
  if (n < events) {
    const contacts = people.map((id, i) => ({ id, name: `Contact ${i}`, notify: `Person ${i}` }))
    yield line('contacts.upsert', contacts, n++)
  }
  /** @type {{remoteJid: string, fromMe: boolean, id: string, participant?: string}[]} */
  const recent = []
  let msgNo = 0
  if (history > 0 && n < events) {
    const messages = Array.from({ length: history }, (_, i) => {
      const remoteJid = jids[int(jids.length)]
      const fromMe = rand() < 0.3
      /** @type {{remoteJid: string, fromMe: boolean, id: string, participant?: string}} */
      const key = { remoteJid, fromMe, id: `3EB0${(seed * 1_000_003 + msgNo++).toString(16).toUpperCase().padStart(16, '0')}` }
      if (remoteJid.endsWith('@g.us') && !fromMe) key.participant = people[int(people.length)]
      return proto.WebMessageInfo.fromObject({
        key,
        message: { conversation: text() },
        messageTimestamp: BASE_TS - 86_400 + i,
        pushName: fromMe ? undefined : `Person ${int(people.length)}`,
        status: fromMe ? 4 : 3,
      })
    })
    const convs = jids.map((id) => proto.Conversation.fromObject({ id, unreadCount: 0 }))
    const data = { chats: convs, contacts: [], messages, isLatest: true, progress: 100, syncType: proto.HistorySync.HistorySyncType.RECENT }
    yield line('messaging-history.set', data, n++)
  }
  while (n < events) {
    if (n % 7 === 0 && recent.length) {
      const key = recent[int(recent.length)]
      yield line('messages.update', [{ key, update: { status: 3 + int(2) } }], n++)
      continue
    }
    if (rich && n % 11 === 0 && recent.length) {
      const key = recent[int(recent.length)]
      const reactor = key.remoteJid.endsWith('@g.us') ? people[int(people.length)] : key.remoteJid
      const reaction = { key: { remoteJid: key.remoteJid, fromMe: false, id: `R${n}`, participant: reactor }, text: ['👍', '❤️', ''][int(3)], senderTimestampMs: (BASE_TS + n) * 1000 }
      yield line('messages.reaction', [{ key, reaction }], n++)
      continue
    }
    if (rich && n % 13 === 0 && recent.length) {
      const key = recent[int(recent.length)]
      const update = rand() < 0.5
        ? { message: proto.Message.fromObject({ editedMessage: { message: { conversation: `edited ${text()}` } } }) }
        : { message: null, messageStubType: proto.WebMessageInfo.StubType.REVOKE }
      yield line('messages.update', [{ key, update }], n++)
      continue
    }
    const remoteJid = jids[int(jids.length)]
    const isGroup = remoteJid.endsWith('@g.us')
    const fromMe = rand() < 0.3
    /** @type {{remoteJid: string, fromMe: boolean, id: string, participant?: string}} */
    const key = { remoteJid, fromMe, id: `3EB0${(seed * 1_000_003 + msgNo++).toString(16).toUpperCase().padStart(16, '0')}` }
    if (isGroup && !fromMe) key.participant = people[int(people.length)]
    const kind = rand()
    /** @type {Record<string, unknown>} */
    let message
    if (kind < 0.1) {
      message = {
        imageMessage: {
          url: `https://mmg.whatsapp.net/v/t62.7118-24/${msgNo}.enc`,
          mimetype: 'image/jpeg',
          caption: rand() < 0.5 ? text() : undefined,
          fileSha256: bytes(32),
          fileEncSha256: bytes(32),
          mediaKey: bytes(32),
          fileLength: 10_000 + int(2_000_000),
          height: 720,
          width: 1280,
          directPath: `/v/t62.7118-24/${msgNo}.enc`,
          mediaKeyTimestamp: BASE_TS + n,
        },
      }
    } else if (kind < 0.4) {
      message = { extendedTextMessage: { text: text() } }
    } else {
      message = { conversation: text() }
    }
    const msg = proto.WebMessageInfo.fromObject({
      key,
      message,
      messageTimestamp: BASE_TS + n,
      pushName: fromMe ? undefined : `Person ${int(people.length)}`,
      status: fromMe ? 2 : undefined,
    })
    recent.push(key)
    if (recent.length > 64) recent.shift()
    yield line('messages.upsert', { messages: [msg], type: rand() < 0.9 ? 'notify' : 'append' }, n++)
  }
}

/** @param {string[]} argv */
function cli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      events: { type: 'string' },
      chats: { type: 'string', default: '20' },
      seed: { type: 'string', default: '1' },
      history: { type: 'string', default: '0' },
      rich: { type: 'boolean', default: false },
    },
  })
  const events = Number(values.events)
  const chats = Number(values.chats)
  const seed = Number(values.seed)
  const history = Number(values.history)
  if (!values.out || !Number.isSafeInteger(events) || events < 1 || !Number.isSafeInteger(chats) || chats < 1 || !Number.isSafeInteger(seed) || !Number.isSafeInteger(history) || history < 0) {
    console.error('usage: make-capture.js --out FILE --events N [--chats 20] [--seed 1] [--history M] [--rich]')
    process.exit(2)
  }
  const fd = fs.openSync(values.out, 'w')
  // Write in ~1 MiB batches: one syscall per line would dominate a 100k-line run.
  let buf = []
  let size = 0
  for (const l of generateCapture({ events, chats, seed, history, rich: values.rich })) {
    buf.push(l)
    size += l.length
    if (size > 1 << 20) {
      fs.writeSync(fd, buf.join('\n') + '\n')
      buf = []
      size = 0
    }
  }
  if (buf.length) fs.writeSync(fd, buf.join('\n') + '\n')
  fs.closeSync(fd)
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) cli(process.argv.slice(2))

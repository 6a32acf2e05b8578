#!/usr/bin/env node
/**
 * Generate a capture file (JSON Lines, `{"event","data","ts"}`) from REAL Baileys protos,
 * encoded by the bridge's own walker, for tests, demos and benchmarks.
 *
 *   node scripts/make-capture.js --out FILE --events N [--chats 20] [--seed 1] [--history M] [--rich]
 *   node scripts/make-capture.js --out FILE --demo [--events 800] [--chats 30] [--seed 1] [--now UNIX_S]
 *
 * Deterministic for a seed (seeded PRNG, timestamps derived from a fixed base), and
 * exactly N lines: chats.upsert, contacts.upsert, with --history one messaging-history.set
 * of M older messages, then messages.upsert with a messages.update ack roughly every 7th
 * event; with --rich, reactions (added, changed, removed), edits and revokes on recent
 * messages too.
 *
 * --demo: a helpdesk-shaped capture for `make demo` and the browser tests: the account's
 * identity and `connection.update {connection:'open'}` first (so the orchestrator considers
 * WhatsApp open and sending works), named people and groups, a history sync in three chunks
 * (progress 33/66/100), then live conversations concentrated on a few active chats: typing
 * presence, customer messages (text, images, documents), our replies with delivered/read acks,
 * reactions, an occasional edit or revoke. Its photos and documents are the real files in
 * scripts/demo-media/ (mimetype, size, pixel size and fileSha256 of their bytes), which the
 * replay-mode bridge serves to `downloadMedia` (src/replay-media.js). Timestamps are relative to --now (default fixed,
 * so a seed still yields the same bytes); live events are spaced for a replay at 2 events/s.
 */
import fs from 'node:fs'
import { pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'
import { proto } from '@whiskeysockets/baileys'
import crypto from 'node:crypto'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { encode } from '../src/codec.js'
import { DOCUMENT, PHOTOS } from './make-demo-media.js'

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

const DEMO_MEDIA_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), 'demo-media')

/**
 * What a message says about a file of scripts/demo-media: its size and SHA-256.
 * @param {string} file
 */
function mediaFacts(file) {
  const bytes = fs.readFileSync(path.join(DEMO_MEDIA_DIR, file))
  return { fileLength: bytes.length, fileSha256: crypto.createHash('sha256').update(bytes).digest() }
}

const FIRST_NAMES = ['Ana', 'Bruno', 'Carla', 'Diego', 'Elena', 'Felipe', 'Gabriela', 'Hugo', 'Isabel', 'João', 'Karina', 'Lucas', 'Mariana', 'Nuno', 'Olivia', 'Pedro', 'Quitéria', 'Rafael', 'Sofia', 'Tiago', 'Ursula', 'Vitor', 'Wanda', 'Xavier', 'Yara', 'Zeca', 'Amélia', 'Bento', 'Clara', 'Davi']
const LAST_NAMES = ['Silva', 'Souza', 'Costa', 'Pereira', 'Almeida', 'Ferreira', 'Rocha', 'Lima', 'Gomes', 'Ribeiro']
const GROUP_NAMES = ['Support team', 'Logistics partners', 'VIP customers']
const CUSTOMER_LINES = [
  'Hi, my order has not arrived yet',
  'Can you check the status of order #{n}?',
  'The tracking page says "in transit" since Monday',
  'I was charged twice for the same order',
  'Is it possible to change the delivery address?',
  'The package arrived damaged, see the photo',
  'Thanks, that solved it!',
  'When will the refund show up on my card?',
  'Do you deliver on Saturdays?',
  'I need an invoice for my company',
  'Perfect, thank you so much',
  'Still waiting for an answer…',
  'Can I pay with bank transfer?',
  'The app shows an error when I try to log in',
  'ok 👍',
]
const AGENT_LINES = [
  'Hello! Thanks for reaching out, let me check that for you.',
  'I found your order #{n}: it left our warehouse yesterday.',
  'I am sorry about that. I have opened ticket #{n} for you.',
  'The refund was issued today; banks usually take 3 to 5 business days.',
  'Done: the delivery address is updated.',
  'Could you send me a photo of the label, please?',
  'Here is your invoice.',
  'Yes, we deliver on Saturdays between 9 am and 1 pm.',
  'Anything else I can help you with?',
  'You are welcome! Have a great day.',
]
const GROUP_LINES = [
  'Truck 12 is delayed by about an hour',
  'Can someone cover the 2 pm shift?',
  'New stock arrived at the warehouse',
  'Reminder: weekly review at 4 pm',
  'Ticket #{n} escalated to billing',
  'Pickup confirmed for tomorrow morning',
]

/**
 * The --demo preset (see the file comment).
 * @param {object} opts
 * @param {number} opts.events total lines (>= 1)
 * @param {number} [opts.chats] chats in all (3 of them groups)
 * @param {number} [opts.seed]
 * @param {number} [opts.now] unix seconds the history leads up to and live traffic starts at
 * @returns {Generator<string>} capture lines without newline
 */
export function* generateDemoCapture({ events, chats = 30, seed = 1, now = BASE_TS }) {
  const rand = prng(seed)
  const int = (/** @type {number} */ n) => Math.floor(rand() * n)
  const pick = (/** @type {string[]} */ list) => list[int(list.length)]
  const fill = (/** @type {string} */ s) => s.replace('{n}', String(10_000 + int(90_000)))
  const bytes = (/** @type {number} */ n) => {
    const b = Buffer.allocUnsafe(n)
    for (let i = 0; i < n; i++) b[i] = int(256)
    return b
  }
  const groups = Math.min(GROUP_NAMES.length, Math.max(0, chats - 1))
  /** @type {{id: string, name: string, group: boolean}[]} */
  const all = []
  for (let i = 0; i < chats; i++) {
    if (i < groups) all.push({ id: `1203630${4000000000 + i * 7919}@g.us`, name: GROUP_NAMES[i], group: true })
    else {
      const k = i - groups
      const name = `${FIRST_NAMES[k % FIRST_NAMES.length]} ${LAST_NAMES[(k * 7 + Math.floor(k / FIRST_NAMES.length)) % LAST_NAMES.length]}`
      all.push({ id: `${5511900000000 + i * 7}@s.whatsapp.net`, name, group: false })
    }
  }
  const people = all.filter((c) => !c.group)
  const photos = PHOTOS.map((p) => ({ ...p, ...mediaFacts(p.file) }))
  const invoice = mediaFacts(DOCUMENT.file)
  const me = { id: '5511988887777:3@s.whatsapp.net', name: 'Acme Support' }
  let n = 0
  let msgNo = 0
  const newId = () => `3EB0${(seed * 1_000_003 + msgNo++).toString(16).toUpperCase().padStart(16, '0')}`
  /** One capture line; counts it. @param {string} event @param {unknown} data */
  const line = (event, data) => JSON.stringify({ event, data: encode(data), ts: (now + Math.floor(n++ / 2)) * 1000 })

  /**
   * One message's proto from a chat's point of view.
   * @param {{id: string, group: boolean}} chat @param {boolean} fromMe @param {number} ts
   * @param {'text'|'image'|'document'} kind @param {string} text
   */
  const message = (chat, fromMe, ts, kind, text) => {
    /** @type {{remoteJid: string, fromMe: boolean, id: string, participant?: string}} */
    const key = { remoteJid: chat.id, fromMe, id: newId() }
    const author = chat.group && !fromMe ? people[int(people.length)] : chat
    if (chat.group && !fromMe) key.participant = author.id
    /** @type {Record<string, unknown>} */
    let content
    if (kind === 'image') {
      // Drawn as the random hash and size once were, so a seed keeps its texts.
      bytes(32)
      const fileEncSha256 = bytes(32)
      const mediaKey = bytes(32)
      int(900_000)
      const photo = photos[msgNo % photos.length]
      content = {
        imageMessage: {
          url: `https://mmg.whatsapp.net/v/t62.7118-24/${msgNo}.enc`, mimetype: 'image/png', caption: text || undefined,
          fileSha256: photo.fileSha256, fileEncSha256, mediaKey, fileLength: photo.fileLength,
          height: photo.height, width: photo.width, directPath: `/v/t62.7118-24/${msgNo}.enc`, mediaKeyTimestamp: ts,
        },
      }
    } else if (kind === 'document') {
      // Drawn in the order the random hash and size once were, so a seed keeps its texts.
      const fileName = `invoice-${10_000 + int(90_000)}.pdf`
      bytes(32)
      const fileEncSha256 = bytes(32)
      const mediaKey = bytes(32)
      int(200_000)
      int(3)
      content = {
        documentMessage: {
          url: `https://mmg.whatsapp.net/v/t62.7119-24/${msgNo}.enc`, mimetype: 'application/pdf', title: 'invoice',
          fileName, fileSha256: invoice.fileSha256, fileEncSha256, mediaKey,
          fileLength: invoice.fileLength, pageCount: DOCUMENT.pages, directPath: `/v/t62.7119-24/${msgNo}.enc`, mediaKeyTimestamp: ts,
        },
      }
    } else {
      content = rand() < 0.5 ? { conversation: text } : { extendedTextMessage: { text } }
    }
    const msg = proto.WebMessageInfo.fromObject({
      key, message: content, messageTimestamp: ts,
      pushName: fromMe ? undefined : author.name,
      status: fromMe ? 2 : undefined,
    })
    return { key, msg }
  }

  if (n < events) yield line('creds.update', { me, registered: true, platform: 'android' })
  if (n < events) yield line('connection.update', { connection: 'connecting' })
  if (n < events) yield line('connection.update', { connection: 'open', receivedPendingNotifications: false })
  if (n < events) {
    const convs = all.map((c, i) => proto.Conversation.fromObject({ id: c.id, name: c.group ? c.name : undefined, unreadCount: 0, conversationTimestamp: now - 3600 - i * 1800 }))
    yield line('chats.upsert', convs)
  }
  if (n < events) {
    yield line('contacts.upsert', people.map((c) => ({ id: c.id, name: c.name, notify: c.name.split(' ')[0] })))
  }
  // History: a short past conversation in every chat, in three chunks.
  for (let chunk = 0; chunk < 3 && n < events; chunk++) {
    const part = all.filter((_, i) => i % 3 === chunk)
    const messages = []
    for (const chat of part) {
      const start = now - 2 * 86_400 + int(86_400)
      for (let j = 0, count = 3 + int(6); j < count; j++) {
        const fromMe = !chat.group && j % 2 === 1
        const kind = rand() < 0.08 ? 'image' : rand() < 0.05 && fromMe ? 'document' : 'text'
        const text = fill(chat.group ? pick(GROUP_LINES) : fromMe ? pick(AGENT_LINES) : pick(CUSTOMER_LINES))
        const { msg } = message(chat, fromMe, start + j * 300, kind, kind === 'document' ? '' : text)
        msg.status = fromMe ? 4 : 3
        messages.push(msg)
      }
    }
    const data = {
      chats: part.map((c) => proto.Conversation.fromObject({ id: c.id, unreadCount: c.group ? 0 : int(3) })),
      contacts: [], messages, isLatest: true, progress: Math.round(((chunk + 1) * 100) / 3),
      syncType: proto.HistorySync.HistorySyncType.RECENT,
    }
    yield line('messaging-history.set', data)
  }
  // Live: a few chats are busy at any time; each follows a small helpdesk script.
  const active = all.slice(groups, groups + 4).concat(all.slice(0, 1))
  /** @type {Map<string, {step: number, lastMine: any, lastTheirs: any}>} */
  const flows = new Map()
  while (n < events) {
    const ts = now + Math.floor(n / 2)
    const chat = rand() < 0.75 ? active[int(active.length)] : all[int(all.length)]
    const flow = flows.get(chat.id) ?? { step: 0, lastMine: null, lastTheirs: null }
    flows.set(chat.id, flow)
    const step = flow.step++ % 6
    if (chat.group) {
      const kind = rand() < 0.1 ? 'image' : 'text'
      yield line('messages.upsert', { messages: [message(chat, false, ts, kind, fill(pick(GROUP_LINES))).msg], type: 'notify' })
    } else if (step === 0) {
      yield line('presence.update', { id: chat.id, presences: { [chat.id]: { lastKnownPresence: 'composing' } } })
    } else if (step === 1 || step === 4) {
      const kind = rand() < 0.12 ? 'image' : 'text'
      const m = message(chat, false, ts, kind, fill(pick(CUSTOMER_LINES)))
      flow.lastTheirs = m.key
      yield line('messages.upsert', { messages: [m.msg], type: 'notify' })
    } else if (step === 2) {
      const kind = rand() < 0.1 ? 'document' : 'text'
      const m = message(chat, true, ts, kind, kind === 'document' ? 'Here is your invoice.' : fill(pick(AGENT_LINES)))
      flow.lastMine = m.key
      yield line('messages.upsert', { messages: [m.msg], type: 'append' })
    } else if (step === 3 && flow.lastMine) {
      yield line('messages.update', [{ key: flow.lastMine, update: { status: 3 } }])
    } else if (step === 5 && flow.lastMine) {
      yield line('messages.update', [{ key: flow.lastMine, update: { status: 4 } }])
      if (n < events && rand() < 0.3) {
        const reaction = { key: { remoteJid: chat.id, fromMe: false, id: newId() }, text: pick(['👍', '❤️', '🙏']), senderTimestampMs: ts * 1000 }
        yield line('messages.reaction', [{ key: flow.lastMine, reaction }])
      } else if (n < events && flow.lastTheirs && rand() < 0.15) {
        const update = rand() < 0.6
          ? { message: proto.Message.fromObject({ editedMessage: { message: { conversation: `${fill(pick(CUSTOMER_LINES))} (edited)` } } }) }
          : { message: null, messageStubType: proto.WebMessageInfo.StubType.REVOKE }
        yield line('messages.update', [{ key: flow.lastTheirs, update }])
        flow.lastTheirs = null
      }
    } else {
      yield line('presence.update', { id: chat.id, presences: { [chat.id]: { lastKnownPresence: 'available' } } })
    }
  }
}

/** @param {string[]} argv */
function cli(argv) {
  const { values } = parseArgs({
    args: argv,
    options: {
      out: { type: 'string' },
      events: { type: 'string' },
      chats: { type: 'string' },
      seed: { type: 'string', default: '1' },
      history: { type: 'string', default: '0' },
      rich: { type: 'boolean', default: false },
      demo: { type: 'boolean', default: false },
      now: { type: 'string' },
    },
  })
  const events = Number(values.events ?? (values.demo ? 800 : NaN))
  const chats = Number(values.chats ?? (values.demo ? 30 : 20))
  const seed = Number(values.seed)
  const history = Number(values.history)
  if (!values.out || !Number.isSafeInteger(events) || events < 1 || !Number.isSafeInteger(chats) || chats < 1 || !Number.isSafeInteger(seed) || !Number.isSafeInteger(history) || history < 0) {
    console.error('usage: make-capture.js --out FILE --events N [--chats 20] [--seed 1] [--history M] [--rich]\n' +
      '       make-capture.js --out FILE --demo [--events 800] [--chats 30] [--seed 1] [--now UNIX_S]')
    process.exit(2)
  }
  const now = values.now === undefined ? BASE_TS : Number(values.now)
  if (!Number.isSafeInteger(now) || now < 0) {
    console.error('make-capture.js: --now must be unix seconds')
    process.exit(2)
  }
  const fd = fs.openSync(values.out, 'w')
  // Write in ~1 MiB batches: one syscall per line would dominate a 100k-line run.
  let buf = []
  let size = 0
  const lines = values.demo
    ? generateDemoCapture({ events, chats, seed, now })
    : generateCapture({ events, chats, seed, history, rich: values.rich })
  for (const l of lines) {
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

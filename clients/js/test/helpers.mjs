/**
 * The captured fixtures (see capture.py): a real run's stream and REST answers, and a cache
 * built from them the way wa-client.js builds it.
 */
import fs from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { WaCache } from '../dist/wa-cache.js'

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures')

/**
 * @param {'demo'|'rich'|'resync'|'qr'} name
 * @returns {{envelopes: any[], rest: any}}
 */
export function fixture(name) {
  const lines = fs.readFileSync(path.join(FIXTURES, `${name}.envelopes.jsonl`), 'utf8').split('\n')
  const envelopes = lines.filter(Boolean).map((line) => JSON.parse(line))
  const rest = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.rest.json`), 'utf8'))
  return { envelopes, rest }
}

/** The envelopes after `position` (the snapshot's): what a client streams from there. @param {any[]} envelopes @param {string} position */
export function after(envelopes, position) {
  const i = envelopes.findIndex((e) => e.id === position)
  if (i < 0) throw new Error(`position ${position} is not in the stream`)
  return envelopes.slice(i + 1)
}

/**
 * A cache loaded from a REST snapshot (`{position, status, qr, chats, pages}`) as connect()
 * does: the position first, then the snapshots.
 * @param {any} snapshot @param {ConstructorParameters<typeof WaCache>[0]} [options]
 */
export function fromSnapshot(snapshot, options) {
  const cache = new WaCache(options)
  cache.applySnapshot({ status: snapshot.status, chats: snapshot.chats, qr: snapshot.qr, pages: new Map(Object.entries(snapshot.pages)) })
  cache.lastEventId = snapshot.position
  return cache
}

/** Everything a UI can read from the cache, as one value to compare. @param {WaCache} cache @param {string[]} [chatIds] */
export function state(cache, chatIds = cache.chats().map((c) => c.id)) {
  return {
    chats: cache.chats(),
    messages: Object.fromEntries(chatIds.map((id) => [id, { list: cache.messages(id), hasOlder: cache.hasOlder(id) }])),
    presence: Object.fromEntries(chatIds.map((id) => [id, cache.presence(id)])),
    status: cache.status(),
    qr: cache.qr(),
    sync: cache.syncProgress(),
  }
}

/** @param {WaCache} cache @param {any[]} envelopes */
export function receiveAll(cache, envelopes) {
  return envelopes.map((e) => cache.receive(e))
}

/** A chat as the UI shows it, minus what the stream does not carry (see the unreadCount test). @param {any} chat */
export function withoutUnread(chat) {
  const { unreadCount, ...rest } = chat
  return rest
}

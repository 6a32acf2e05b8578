/**
 * Baileys auth state in JetStream's key-value store, so that another bridge host takes a
 * session over without a new QR (issue #15, part B).
 *
 * Bucket `<prefix>-auth` (history 1). Keys: `<session>.creds` and
 * `<session>.<type>.<base64url(id)>` (ids hold characters a KV key may not). Values: the
 * bridge's lossless codec (codec.js), so Buffers round-trip bit for bit.
 *
 * Every write is a compare-and-set on the revision this process last saw for that key (a key
 * never seen is read first). Only the lease holder writes, so a CAS conflict means another
 * host wrote: a fencing violation. The state then fails closed: the conflict is logged,
 * `onConflict` is called once, and every later write rejects. Writes to one key are
 * serialized (Baileys may set a key again before the previous write returned); `keys.set`
 * resolves only once everything it was given is written.
 *
 * Import: a number linked before NATS was turned on has a file auth state (auth-state.js) in
 * BRIDGE_DATA_DIR. When the KV holds no creds for the session, those files are copied in
 * once, keys first and creds last (creds present = imported, so a crash mid-import redoes it).
 * File names are lossy (`:` became `-`, `/` became `__`), so a name where that may have
 * happened is stored under `<session>.import.<type>.<base64url(file id)>` and found by
 * looking up the same sanitizing of the requested id; a later write of that id removes it.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { BufferJSON, initAuthCreds, makeCacheableSignalKeyStore, proto } from '@whiskeysockets/baileys'
import { Kvm } from '@nats-io/kv'
import { decode, encodeJSON } from './codec.js'
import { isCasConflict } from './lease.js'

/** Key types Baileys stores (auth-state.js); used to split `<type>-<id>.json` on import. */
const KNOWN_TYPES = [
  'pre-key',
  'session',
  'sender-key',
  'sender-key-memory',
  'app-state-sync-key',
  'app-state-sync-version',
  'lid-mapping',
  'device-list',
  'tctoken',
  'identity-key',
]

/** Raised for every write after another host wrote a key we hold. */
export class AuthConflictError extends Error {
  /** @param {string} key */
  constructor(key) {
    super(`auth state key ${key} was written by another host (fencing violation)`)
    this.name = 'AuthConflictError'
    this.key = key
  }
}

/** @param {string} s */
const b64url = (s) => Buffer.from(s, 'utf8').toString('base64url')

/** auth-state.js's file-name sanitizing of an id. @param {string} id */
const sanitize = (id) => id.replace(/\//g, '__').replace(/:/g, '-')

/**
 * @param {import('@nats-io/transport-node').NatsConnection} nc
 * @param {string} prefix
 * @returns {Promise<import('@nats-io/kv').KV>}
 */
export function openAuthBucket(nc, prefix) {
  return new Kvm(nc).create(`${prefix}-auth`, { history: 1 })
}

/**
 * @typedef {object} KvAuthState
 * @property {{creds: any, keys: any}} state what makeWASocket's `auth` expects
 * @property {() => Promise<void>} saveCreds persist the (mutated in place) creds
 * @property {() => void} close make later writes no-ops
 */

/**
 * @param {object} opts
 * @param {import('@nats-io/kv').KV} opts.kv the `<prefix>-auth` bucket
 * @param {string} opts.session
 * @param {string|null} [opts.importDir] a file auth state to copy in when the KV has none
 * @param {(key: string) => void} [opts.onConflict] called once, at the first conflict
 * @param {() => boolean} [opts.mayWrite] checked before every write (lease.held): a holder
 *   that woke from a pause must not write a key its successor has not touched yet either,
 *   which no CAS would catch
 * @param {{info: Function, error: Function, warn: Function, trace?: Function, child?: Function}} opts.logger
 * @returns {Promise<KvAuthState>}
 */
export async function useKvAuthState({ kv, session, importDir = null, onConflict = () => {}, mayWrite = () => true, logger }) {
  const store = new KvStore(kv, session, onConflict, logger, mayWrite)
  const credsKey = `${session}.creds`
  let creds = await store.read(credsKey)
  if (!creds && importDir) creds = await importFiles(store, importDir, logger)
  creds ??= initAuthCreds()
  await store.loadAliases()

  const keys = {
    /** @param {string} type @param {string[]} ids */
    get: async (type, ids) => {
      /** @type {Record<string, any>} */
      const out = {}
      await Promise.all(
        ids.map(async (id) => {
          let value = await store.read(`${session}.${type}.${b64url(id)}`)
          const alias = value === null ? store.aliasFor(type, id) : null
          if (alias) value = await store.read(alias)
          if (type === 'app-state-sync-key' && value) value = proto.Message.AppStateSyncKeyData.fromObject(value)
          out[id] = value
        }),
      )
      return out
    },
    /** @param {Record<string, Record<string, any>>} data */
    set: async (data) => {
      const tasks = []
      for (const type of Object.keys(data)) {
        for (const id of Object.keys(data[type])) {
          const value = data[type][id]
          tasks.push(store.write(`${session}.${type}.${b64url(id)}`, value ?? null))
          // The exact key now decides; an imported file entry must not resurface.
          const alias = store.aliasFor(type, id)
          if (alias) tasks.push(store.write(alias, null).then(() => store.aliases.delete(alias)))
        }
      }
      await Promise.all(tasks)
    },
  }

  return {
    state: { creds, keys: makeCacheableSignalKeyStore(keys, /** @type {any} */ (logger)) },
    saveCreds: () => store.write(credsKey, creds),
    close: () => {
      store.closed = true
    },
  }
}

/**
 * Delete the session's whole auth state (logout with wipe). Call close() on the state in use
 * first, so that a late save of the dying socket cannot resurrect half of it.
 * @param {object} opts
 * @param {import('@nats-io/kv').KV} opts.kv
 * @param {string} opts.session
 * @param {(key: string) => void} [opts.onConflict]
 * @param {() => boolean} [opts.mayWrite]
 * @param {{error: Function}} opts.logger
 */
export async function wipeKvAuthState({ kv, session, onConflict = () => {}, mayWrite = () => true, logger }) {
  const store = new KvStore(kv, session, onConflict, logger, mayWrite)
  const keys = []
  for await (const key of await kv.keys(`${session}.>`)) keys.push(key)
  await Promise.all(keys.map((key) => store.write(key, null)))
}

/**
 * Copy a file auth state into the KV. Keys first, creds last.
 * @param {KvStore} store @param {string} dir @param {{info: Function, warn: Function}} logger
 * @returns {Promise<any|null>} the creds, or null when the directory holds none
 */
async function importFiles(store, dir, logger) {
  let names
  try {
    names = await fs.readdir(dir)
  } catch {
    return null
  }
  if (!names.includes('creds.json')) return null
  let count = 0
  for (const name of names) {
    const m = /^(.+)\.json$/.exec(name)
    if (!m || name === 'creds.json') continue
    // Longest known type first: 'sender-key-memory-x' is not a 'sender-key' named 'memory-x'.
    const type = KNOWN_TYPES.filter((t) => m[1].startsWith(`${t}-`)).sort((a, b) => b.length - a.length)[0]
    if (!type) {
      logger.warn({ file: name }, 'auth import: unknown key type; not imported')
      continue
    }
    const fileId = m[1].slice(type.length + 1)
    const value = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8'), BufferJSON.reviver)
    // Unambiguous names are the id itself; the others stay under their file name (see top).
    const key = /-|__/.test(fileId) ? `${store.session}.import.${type}.${b64url(fileId)}` : `${store.session}.${type}.${b64url(fileId)}`
    await store.write(key, value)
    count++
  }
  const creds = JSON.parse(await fs.readFile(path.join(dir, 'creds.json'), 'utf8'), BufferJSON.reviver)
  await store.write(`${store.session}.creds`, creds)
  logger.info({ dir, keys: count }, 'auth import: the file auth state was copied into the KV store')
  return creds
}

/** CAS reads and writes over one bucket, serialized per key, failing closed on a conflict. */
class KvStore {
  /**
   * @param {import('@nats-io/kv').KV} kv @param {string} session
   * @param {(key: string) => void} onConflict @param {{error: Function}} logger
   * @param {() => boolean} [mayWrite]
   */
  constructor(kv, session, onConflict, logger, mayWrite = () => true) {
    this.kv = kv
    this.mayWrite = mayWrite
    this.session = session
    this.onConflict = onConflict
    this.logger = logger
    this.closed = false
    /** @type {string|null} the first key found written by someone else */
    this.conflict = null
    /** @type {Map<string, number>} last revision seen per key; 0 = absent (never written or deleted) */
    this.revisions = new Map()
    /** @type {Map<string, Promise<void>>} tail of each key's write chain */
    this.chains = new Map()
    /** @type {Set<string>} `<session>.import.*` keys present */
    this.aliases = new Set()
  }

  async loadAliases() {
    for await (const key of await this.kv.keys(`${this.session}.import.>`)) this.aliases.add(key)
  }

  /** The import key a file entry for this id would have, if there is one. @param {string} type @param {string} id */
  aliasFor(type, id) {
    const key = `${this.session}.import.${type}.${b64url(sanitize(id))}`
    return this.aliases.has(key) ? key : null
  }

  /** @param {string} key @returns {Promise<any|null>} the decoded value, null when absent */
  async read(key) {
    const entry = await this.kv.get(key)
    const present = entry !== null && entry.operation === 'PUT'
    // The first sight of a key fixes what our next CAS expects; later reads must not adopt
    // a revision another host wrote (that would hide the conflict).
    if (!this.revisions.has(key)) this.revisions.set(key, present ? entry.revision : 0)
    return present ? decode(JSON.parse(entry.string())) : null
  }

  /**
   * Write (or, for null, delete) one key with a CAS on its last known revision.
   * @param {string} key @param {unknown} value
   * @returns {Promise<void>}
   */
  write(key, value) {
    const prev = this.chains.get(key) ?? Promise.resolve()
    const next = prev.then(() => this._write(key, value))
    const tail = next.catch(() => {})
    this.chains.set(key, tail)
    tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key)
    })
    return next
  }

  /** @param {string} key @param {unknown} value */
  async _write(key, value) {
    if (this.closed) return
    if (this.conflict) throw new AuthConflictError(this.conflict)
    if (!this.mayWrite()) throw new Error(`auth state key ${key} not written: this host no longer holds the session`)
    if (!this.revisions.has(key)) {
      const entry = await this.kv.get(key)
      this.revisions.set(key, entry && entry.operation === 'PUT' ? entry.revision : 0)
    }
    const rev = /** @type {number} */ (this.revisions.get(key))
    try {
      if (value === null) {
        if (rev === 0) return // already absent
        await this.kv.delete(key, { previousSeq: rev })
        this.revisions.set(key, 0)
      } else {
        const data = encodeJSON(value)
        // create() also takes over a deleted key, with a CAS on the delete marker.
        this.revisions.set(key, rev === 0 ? await this.kv.create(key, data) : await this.kv.update(key, data, rev))
      }
    } catch (err) {
      if (!isCasConflict(err)) throw err
      this.conflict ??= key
      this.logger.error({ key, revision: rev }, 'auth: another host wrote this key; refusing every further write (fencing violation)')
      if (this.conflict === key) this.onConflict(key)
      throw new AuthConflictError(key)
    }
  }

}

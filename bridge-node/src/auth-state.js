/**
 * Baileys auth state on disk, with crash-safe writes.
 *
 * Same shape and file layout as Baileys' useMultiFileAuthState (creds.json and
 * `<type>-<id>.json`, BufferJSON encoding), which Baileys itself says is not for
 * production because a crash mid-write leaves a truncated file, i.e. a dead session.
 * Here every write is: write `<file>.tmp-<pid>-<n>`, fsync, rename over the target,
 * fsync the directory. A reader therefore sees the old or the new file, never half.
 * Writes to one file are serialized so two saves never interleave their renames out of
 * order. Generic over key type: whatever Baileys stores (pre-key, session, sender-key,
 * sender-key-memory, app-state-sync-key, app-state-sync-version, lid-mapping,
 * device-list, tctoken, identity-key, and future ones) round-trips.
 */
import fs from 'node:fs/promises'
import path from 'node:path'
import { BufferJSON, initAuthCreds, makeCacheableSignalKeyStore, proto } from '@whiskeysockets/baileys'

const TMP_RE = /\.tmp-\d+-\d+$/

/**
 * @typedef {object} AtomicAuthState
 * @property {{creds: any, keys: any}} state what makeWASocket's `auth` expects
 * @property {() => Promise<void>} saveCreds persist the (mutated in place) creds
 * @property {() => void} close make later writes no-ops (after a logout wipes the directory,
 *   a late save from the dying socket must not resurrect half a state)
 */

/**
 * @param {string} dir
 * @param {{error: Function, warn: Function, trace?: Function, child?: Function}} logger
 * @returns {Promise<AtomicAuthState>}
 */
export async function useAtomicAuthState(dir, logger) {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 })
  for (const f of await fs.readdir(dir)) {
    if (TMP_RE.test(f)) await fs.rm(path.join(dir, f), { force: true }) // leftover of a crash mid-write
  }
  const files = new AtomicFiles(dir)
  const creds = (await loadCreds(dir, logger)) ?? initAuthCreds()

  const store = {
    /** @param {string} type @param {string[]} ids */
    get: async (type, ids) => {
      /** @type {Record<string, any>} */
      const out = {}
      await Promise.all(
        ids.map(async (id) => {
          let value = await readJSON(path.join(dir, fileName(`${type}-${id}.json`)), logger)
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
          const name = fileName(`${type}-${id}.json`)
          tasks.push(value ? files.write(name, JSON.stringify(value, BufferJSON.replacer)) : files.remove(name))
        }
      }
      await Promise.all(tasks)
      // One directory fsync for the whole batch: Baileys sets dozens of keys at once.
      if (tasks.length) await files.syncDir()
    },
  }

  return {
    state: { creds, keys: makeCacheableSignalKeyStore(store, /** @type {any} */ (logger)) },
    saveCreds: async () => {
      await files.write('creds.json', JSON.stringify(creds, BufferJSON.replacer))
      await files.syncDir()
    },
    close: () => {
      files.closed = true
    },
  }
}

/** Baileys' own id sanitizing, so a directory written by either implementation reads in the other. @param {string} f */
export function fileName(f) {
  return f.replace(/\//g, '__').replace(/:/g, '-')
}

/**
 * @param {string} dir
 * @param {{error: Function}} logger
 * @returns {Promise<any|null>} null when absent or corrupt (moved aside)
 */
async function loadCreds(dir, logger) {
  const file = path.join(dir, 'creds.json')
  let text
  try {
    text = await fs.readFile(file, 'utf8')
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code === 'ENOENT') return null
    throw err
  }
  try {
    return JSON.parse(text, BufferJSON.reviver)
  } catch (err) {
    const aside = `${file}.corrupt-${Date.now()}`
    logger.error({ file, movedTo: aside, err: String(err) }, 'auth: creds.json is unparseable; starting a fresh registration')
    await fs.rename(file, aside)
    return null
  }
}

/**
 * @param {string} file
 * @param {{warn: Function}} logger
 */
async function readJSON(file, logger) {
  let text
  try {
    text = await fs.readFile(file, 'utf8')
  } catch {
    return null
  }
  try {
    return JSON.parse(text, BufferJSON.reviver)
  } catch {
    // Cannot happen with atomic writes unless the disk lies; a missing key makes Baileys
    // renegotiate (e.g. a new signal session), which beats crashing.
    logger.warn({ file }, 'auth: unparseable key file ignored')
    return null
  }
}

/** Atomic writes into one directory, serialized per file. */
class AtomicFiles {
  /** @param {string} dir */
  constructor(dir) {
    this.dir = dir
    this.counter = 0
    this.closed = false
    /** @type {Map<string, Promise<void>>} tail of each file's write chain */
    this.chains = new Map()
  }

  /** @param {string} name @param {(file: string) => Promise<void>} op */
  _serialize(name, op) {
    const file = path.join(this.dir, name)
    const prev = this.chains.get(name) ?? Promise.resolve()
    const next = prev.then(() => (this.closed ? undefined : op(file)))
    // The chain must survive a failed write; the caller still sees the failure.
    const tail = next.catch(() => {})
    this.chains.set(name, tail)
    tail.then(() => {
      if (this.chains.get(name) === tail) this.chains.delete(name)
    })
    return next
  }

  /** @param {string} name @param {string} content */
  write(name, content) {
    return this._serialize(name, async (file) => {
      const tmp = `${file}.tmp-${process.pid}-${++this.counter}`
      const fh = await fs.open(tmp, 'w', 0o600)
      try {
        await fh.writeFile(content)
        await fh.sync()
      } finally {
        await fh.close()
      }
      try {
        await fs.rename(tmp, file)
      } catch (err) {
        await fs.rm(tmp, { force: true })
        throw err
      }
    })
  }

  /** @param {string} name */
  remove(name) {
    return this._serialize(name, (file) => fs.rm(file, { force: true }))
  }

  /** fsync the directory so the renames themselves survive a power loss. */
  async syncDir() {
    if (this.closed) return
    const fh = await fs.open(this.dir, 'r')
    try {
      await fh.sync()
    } finally {
      await fh.close()
    }
  }
}

/**
 * Wipe an auth directory so that a crash at any point leaves either the old state or
 * nothing, never half a state: rename it away (atomic), recreate it empty, then delete.
 * @param {string} dir
 */
export async function wipeAuthDir(dir) {
  const trash = `${dir}.trash-${Date.now()}`
  try {
    await fs.rename(dir, trash)
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'ENOENT') throw err
  }
  await fs.mkdir(dir, { recursive: true, mode: 0o700 })
  await fs.rm(trash, { recursive: true, force: true })
}

/**
 * Remove `<dir>.trash-*` left by a crash during wipeAuthDir.
 * @param {string} dir
 */
export async function removeAuthTrash(dir) {
  const parent = path.dirname(dir)
  const prefix = `${path.basename(dir)}.trash-`
  let entries = []
  try {
    entries = await fs.readdir(parent)
  } catch {
    return
  }
  for (const e of entries) {
    if (e.startsWith(prefix)) await fs.rm(path.join(parent, e), { recursive: true, force: true })
  }
}

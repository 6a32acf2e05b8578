/**
 * A small bounded LRU with optional TTL, shaped as Baileys' CacheStore
 * ({get, set, del, flushAll}). Used for the getMessage store (messages this bridge sent,
 * so Baileys can answer retry receipts) and msgRetryCounterCache (kept across reconnects
 * so retry counts are not reset by a reconnect). A Map keeps insertion order, which is
 * all an LRU needs: re-insert on access, evict from the front.
 * @template T
 */
export class BoundedCache {
  /**
   * @param {object} opts
   * @param {number} opts.max entries kept
   * @param {number} [opts.ttlMs] 0 = no expiry
   * @param {() => number} [opts.now]
   */
  constructor({ max, ttlMs = 0, now = Date.now }) {
    this.max = max
    this.ttlMs = ttlMs
    this.now = now
    /** @type {Map<string, {value: T, expires: number}>} */
    this.map = new Map()
  }

  /** @param {string} key @returns {T|undefined} */
  get(key) {
    const entry = this.map.get(key)
    if (!entry) return undefined
    if (entry.expires && entry.expires <= this.now()) {
      this.map.delete(key)
      return undefined
    }
    this.map.delete(key)
    this.map.set(key, entry)
    return entry.value
  }

  /** @param {string} key @param {T} value */
  set(key, value) {
    this.map.delete(key)
    this.map.set(key, { value, expires: this.ttlMs ? this.now() + this.ttlMs : 0 })
    while (this.map.size > this.max) {
      this.map.delete(/** @type {string} */ (this.map.keys().next().value))
    }
    return true
  }

  /** @param {string} key */
  del(key) {
    return this.map.delete(key)
  }

  flushAll() {
    this.map.clear()
  }

  get size() {
    return this.map.size
  }
}

/**
 * Envelopes larger than a NATS message (issue #15). Baileys' history sync pages are often
 * several MiB, over the server's max_payload (1 MiB by default), and a stand-in would lose
 * them. Such an envelope goes to the JetStream object store bucket `<prefix>-large` under
 * `<session>.<epoch>.<seq>`, and the events subject gets a stub at its place in the order:
 * the envelope with `"data":null` and a `Wa-Object: <name>` header. The reader fetches the
 * object and uses its bytes (exactly the journal line) instead of the stub.
 */
import crypto from 'node:crypto'
import { Objm, StorageType } from '@nats-io/obj'

/** Room left under max_payload for the subject, the headers and the protocol line. */
export const LARGE_HEADROOM = 64 * 1024
/** The stub's header naming the object that holds the whole envelope. */
export const OBJECT_HEADER = 'Wa-Object'

/** @param {string} prefix */
export function largeBucket(prefix) {
  return `${prefix}-large`
}

/** @param {string} session @param {string} epoch @param {number} seq */
export function objectName(session, epoch, seq) {
  return `${session}.${epoch}.${seq}`
}

/**
 * Whether an envelope of this many bytes goes to the object store. An unknown max_payload
 * (not connected) never makes one large: the decision is taken again at publish time.
 * @param {number} bytes @param {number|undefined} maxPayload from the server's INFO
 */
export function isLarge(bytes, maxPayload) {
  return maxPayload !== undefined && bytes > maxPayload - LARGE_HEADROOM
}

/**
 * The stub published in the envelope's place: the same envelope without its data.
 * @param {string} line the journaled envelope
 */
export function stubEnvelope(line) {
  const { epoch, seq, ts, event } = JSON.parse(line)
  return JSON.stringify({ v: 1, epoch, seq, ts, event, data: null })
}

/**
 * The object store's digest of these bytes, as @nats-io/obj writes it in ObjectInfo.digest.
 * @param {Uint8Array} bytes
 */
export function objectDigest(bytes) {
  const b64 = crypto.createHash('sha256').update(bytes).digest('base64')
  return `SHA-256=${b64.replace(/\+/g, '-').replace(/\//g, '_')}`
}

/**
 * The bucket on one connection: created if missing (file storage, the stream's max age and
 * replicas), opened as it is otherwise.
 */
export class LargeObjects {
  /**
   * @param {object} opts
   * @param {import('@nats-io/jetstream').JetStreamClient} opts.js
   * @param {string} opts.bucket
   * @param {{max_age: number, num_replicas: number}} opts.stream the events stream's settings
   * @param {number} opts.timeoutMs for each chunk's publish
   */
  constructor({ js, bucket, stream, timeoutMs }) {
    this.objm = new Objm(js)
    this.bucket = bucket
    this.options = { storage: StorageType.File, replicas: stream.num_replicas, ttl: stream.max_age }
    this.timeoutMs = timeoutMs
    /** @type {Promise<import('@nats-io/obj').ObjectStore>|null} */
    this.store = null
  }

  /**
   * Store `bytes` under `name`; resolves once the object is complete (its metadata written
   * after every chunk). An object already complete with the same bytes (a republish after a
   * rewind) is left as it is, so a reader fetching it meanwhile is never disturbed.
   * @param {string} name @param {Uint8Array} bytes
   * @returns {Promise<'stored'|'present'>}
   */
  async put(name, bytes) {
    this.store ??= this.objm.create(this.bucket, this.options)
    let store
    try {
      store = await this.store
    } catch (err) {
      this.store = null // try creating it again next time
      throw err
    }
    const info = await store.info(name)
    if (info && !info.deleted && info.size === bytes.length && info.digest === objectDigest(bytes)) return 'present'
    await store.putBlob({ name }, bytes, { timeout: this.timeoutMs })
    return 'stored'
  }
}

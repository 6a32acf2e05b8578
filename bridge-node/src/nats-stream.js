/**
 * The JetStream side of the contract (issue #15): subject names, the stream's settings, and
 * "create, or update to these settings" at connect. The orchestrator builds the same
 * settings from its ORCH_NATS_* variables; whichever side starts first creates the stream.
 */
import { DiscardPolicy, JetStreamApiCodes, RetentionPolicy, StorageType } from '@nats-io/jetstream'
import { nanos } from '@nats-io/transport-node'

/** JetStream drops a repeated Nats-Msg-Id seen within this window. */
export const DUPLICATE_WINDOW_S = 120

/**
 * @param {string} prefix @param {string} session
 * @returns {{events: string, heartbeat: string, cmd: string}}
 */
export function subjects(prefix, session) {
  return { events: `${prefix}.${session}.events`, heartbeat: `${prefix}.${session}.heartbeat`, cmd: `${prefix}.${session}.cmd` }
}

/**
 * The stream's settings, exactly as the contract fixes them. Pure, exported so tests compare
 * a live stream's configuration against it.
 * @param {{stream: string, prefix: string, maxAgeS: number, maxBytes: number, replicas: number}} s
 */
export function streamConfig(s) {
  return {
    name: s.stream,
    subjects: [`${s.prefix}.*.events`],
    storage: StorageType.File,
    retention: RetentionPolicy.Limits,
    max_age: nanos(s.maxAgeS * 1000),
    max_bytes: s.maxBytes,
    num_replicas: s.replicas,
    discard: DiscardPolicy.Old,
    // JetStream refuses a window longer than max_age.
    duplicate_window: nanos(Math.min(DUPLICATE_WINDOW_S, s.maxAgeS) * 1000),
    allow_direct: true,
  }
}

/** The fields streamConfig fixes, except the subjects (which are merged, never replaced). */
const FIXED = /** @type {const} */ (['storage', 'retention', 'max_age', 'max_bytes', 'num_replicas', 'discard', 'duplicate_window', 'allow_direct'])

/**
 * What an update must change in `current` to meet `wanted`: null when nothing. Another
 * prefix's subjects on the same stream are kept (several deployments may share one stream).
 * @param {Record<string, any>} current a live stream's config
 * @param {ReturnType<typeof streamConfig>} wanted
 * @returns {Record<string, any>|null}
 */
export function streamUpdate(current, wanted) {
  const subjectsNow = current.subjects ?? []
  const missing = wanted.subjects.filter((s) => !subjectsNow.includes(s))
  const differs = FIXED.filter((k) => current[k] !== wanted[k])
  if (missing.length === 0 && differs.length === 0) return null
  return { ...current, ...Object.fromEntries(FIXED.map((k) => [k, wanted[k]])), subjects: [...subjectsNow, ...missing] }
}

/**
 * Create the stream, or update it to our settings. Two bridges (or a bridge and an
 * orchestrator) may race here: "already in use" from create means someone else won, so we
 * fall through to the update path.
 * @param {import('@nats-io/jetstream').JetStreamManager} jsm
 * @param {ReturnType<typeof streamConfig>} wanted
 * @param {{info: Function, warn: Function}} logger
 * @returns {Promise<'created'|'updated'|'unchanged'>}
 */
export async function ensureStream(jsm, wanted, logger) {
  let info = await jsm.streams.info(wanted.name).catch((err) => {
    if (err?.code === JetStreamApiCodes.StreamNotFound) return null
    throw err
  })
  if (info === null) {
    try {
      await jsm.streams.add(wanted)
      logger.info({ stream: wanted.name, subjects: wanted.subjects }, 'JetStream stream created')
      return 'created'
    } catch (err) {
      // The loser of two creates hears "already in use", or "subjects overlap" (then the
      // info below fails with StreamNotFound when another stream really holds our subjects).
      if (!/already in use|overlap/i.test(String(/** @type {any} */ (err)?.message))) throw err
      info = await jsm.streams.info(wanted.name)
    }
  }
  const update = streamUpdate(/** @type {any} */ (info).config, wanted)
  if (update === null) return 'unchanged'
  await jsm.streams.update(wanted.name, update)
  logger.warn({ stream: wanted.name, subjects: update.subjects }, 'JetStream stream updated to our settings')
  return 'updated'
}

/**
 * The position (epoch, seq) of the last envelope the stream holds for a session, read from
 * its Nats-Msg-Id, or null when the stream holds none (or a message without our header).
 * @param {import('@nats-io/jetstream').JetStreamManager} jsm
 * @param {string} stream @param {string} subject
 * @returns {Promise<{epoch: string, seq: number}|null>}
 */
export async function lastPosition(jsm, stream, subject) {
  const msg = await jsm.streams.getMessage(stream, { last_by_subj: subject })
  return parseMsgId(msg?.header?.get('Nats-Msg-Id') ?? '')
}

/**
 * `<epoch>:<seq>` -> position. Epochs hold no colon (publisher.newEpoch), so the last one splits.
 * @param {string} id
 */
export function parseMsgId(id) {
  const i = id.lastIndexOf(':')
  const seq = Number(id.slice(i + 1))
  if (i < 1 || !Number.isSafeInteger(seq) || seq < 1) return null
  return { epoch: id.slice(0, i), seq }
}

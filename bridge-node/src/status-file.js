/**
 * NATS mode's liveness for the Docker healthcheck (healthcheck.js). In ZeroMQ mode the
 * healthcheck asks `state` over the ROUTER; in NATS mode a standby host answers no commands,
 * so the bridge instead rewrites a small file in its data dir about once a second:
 * `{"natsConnected","role","at"}`. Fresh (written by a running event loop) and connected
 * means healthy, whatever the role.
 */
import fs from 'node:fs'
import path from 'node:path'

export const STATUS_FILE = 'status.json'
/** Older than this, the writer is gone or its event loop is stuck. */
export const STALE_MS = 10000
export const ROLES = /** @type {const} */ (['holder', 'standby', 'starting'])

/** @typedef {typeof ROLES[number]} Role */
/** @typedef {{natsConnected: boolean, role: Role, at: number}} Status */

/** @param {string} dataDir */
export function statusPath(dataDir) {
  return path.join(dataDir, STATUS_FILE)
}

export class StatusFile {
  /**
   * @param {object} opts
   * @param {string} opts.file where to write (statusPath)
   * @param {() => boolean} opts.natsConnected
   * @param {Role} [opts.role] "holder" when no lease is in use
   * @param {number} [opts.intervalMs]
   * @param {{warn: Function}} opts.logger
   */
  constructor({ file, natsConnected, role = 'holder', intervalMs = 1000, logger }) {
    this.file = file
    this.natsConnected = natsConnected
    this.role = role
    this.intervalMs = intervalMs
    this.logger = logger
    /** @type {NodeJS.Timeout|null} */
    this.timer = null
    this.failing = false
  }

  /**
   * The lease module's hook: "starting" before the first attempt, "holder" once it holds the
   * session, "standby" while another host does. Written at once.
   * @param {Role} role
   */
  setRole(role) {
    if (!ROLES.includes(role)) throw new TypeError(`unknown role ${role}`)
    this.role = role
    this.write()
  }

  /** Write now (atomically: a reader sees the old file or the new one, never half of one). */
  write() {
    /** @type {Status} */
    const status = { natsConnected: this.natsConnected(), role: this.role, at: Date.now() }
    const tmp = `${this.file}.${process.pid}.tmp`
    try {
      fs.writeFileSync(tmp, JSON.stringify(status))
      fs.renameSync(tmp, this.file)
      this.failing = false
    } catch (err) {
      // Once per failure streak: a full disk must not flood the log every second.
      if (!this.failing) this.logger.warn({ file: this.file, err: String(err) }, 'cannot write the status file: the healthcheck will report unhealthy')
      this.failing = true
    }
  }

  start() {
    this.write()
    this.timer ??= setInterval(() => this.write(), this.intervalMs)
    this.timer.unref()
  }

  /** Stop writing and remove the file: a bridge that stopped is not healthy. */
  stop() {
    if (this.timer) clearInterval(this.timer)
    this.timer = null
    fs.rmSync(this.file, { force: true })
  }
}

/**
 * Whether a status file's content says healthy at `now`; pure.
 * @param {string|null} text the file's content, null when absent
 * @param {number} now ms since epoch
 * @returns {{healthy: boolean, reason: string}}
 */
export function judge(text, now) {
  if (text === null) return { healthy: false, reason: 'no status file (the bridge is not running in NATS mode?)' }
  /** @type {Partial<Status>} */
  let status
  try {
    status = JSON.parse(text)
  } catch {
    return { healthy: false, reason: 'unreadable status file' }
  }
  const age = now - Number(status.at)
  if (!(age < STALE_MS)) return { healthy: false, reason: `status file is stale (${Number.isFinite(age) ? `${Math.round(age / 1000)} s old` : 'no time'})` }
  if (status.natsConnected !== true) return { healthy: false, reason: `NATS not connected (role ${status.role})` }
  return { healthy: true, reason: `NATS connected, role ${status.role}` }
}

/**
 * Who this bridge is: a random id written once into its data dir (`<dataDir>/bridge-id`), and
 * its session name (BRIDGE_SESSION). It is announced in `bridge.started`, in every heartbeat and
 * in the `state` reply, so an orchestrator that finds another bridge at its endpoints (a second
 * demo on the first one's ports, a copied config) refuses to follow it instead of applying
 * someone else's WhatsApp (issue #16).
 *
 * The id names the data dir, not the process: a restart keeps it (a new epoch, the same
 * bridge), a fresh data dir (new auth state, new journal) gets a new one. The orchestrator that
 * spawns a bridge reads the same file (orchestrator/bridgeid.py); whichever comes first creates
 * it (O_EXCL), nobody rewrites it.
 */
import crypto from 'node:crypto'
import fs from 'node:fs'
import path from 'node:path'

export const ID_FILE = 'bridge-id'
const ID = /^[A-Za-z0-9_-]{8,64}$/

/** @typedef {{bridgeId: string, session: string}} Identity */

/**
 * The data dir's id, created on first use. Throws when the file holds something that is not
 * an id: a damaged identity must stop the bridge, not be silently replaced by a new one.
 * @param {string} dataDir
 * @returns {string}
 */
export function bridgeId(dataDir) {
  const file = path.join(dataDir, ID_FILE)
  fs.mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  if (!fs.existsSync(file)) {
    // Written aside, then linked: the file appears whole, and only the first of two racing
    // writers (this bridge, its orchestrator) wins.
    const aside = `${file}.${process.pid}.${crypto.randomBytes(4).toString('hex')}`
    fs.writeFileSync(aside, crypto.randomBytes(12).toString('hex') + '\n', { mode: 0o600 })
    try {
      fs.linkSync(aside, file)
    } catch (err) {
      if (/** @type {NodeJS.ErrnoException} */ (err).code !== 'EEXIST') throw err
    } finally {
      fs.rmSync(aside, { force: true })
    }
  }
  const id = fs.readFileSync(file, 'utf8').trim()
  if (!ID.test(id)) throw new Error(`${file} does not hold a bridge id; remove it to make a new one`)
  return id
}

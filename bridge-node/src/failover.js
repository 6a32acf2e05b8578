/**
 * NATS mode: a bridge host holds its session before it touches WhatsApp (issue #15, part B).
 *
 * Start as a standby, wait for the session lease, then hand WhatsApp an auth state that lives
 * in JetStream KV (so whichever host holds the lease logs in with the same identity, no new
 * QR). Losing the lease, or finding an auth key written by another host, is fencing: the
 * caller's `onFenced` must stop publishing and answering at once and exit (main.js: code 3).
 */
import { Lease, openLeaseBucket } from './lease.js'
import { wipeAuthDir } from './auth-state.js'
import { openAuthBucket, useKvAuthState, wipeKvAuthState } from './kv-auth-state.js'

/**
 * @param {object} opts
 * @param {import('@nats-io/transport-node').NatsConnection} opts.nc
 * @param {Readonly<import('./config.js').BridgeConfig>} opts.config
 * @param {string} opts.epoch the epoch this host will publish under (recorded in the lease)
 * @param {import('pino').Logger} opts.logger
 * @param {(why: string) => void} opts.onFenced called when this host must stop at once
 * @param {AbortSignal} [opts.signal] abort the wait (shutdown while standby)
 * @returns {Promise<{lease: Lease, authStore: import('./whatsapp.js').AuthStore}>}
 */
export async function holdSession({ nc, config, epoch, logger, onFenced, signal }) {
  const nats = /** @type {NonNullable<typeof config.nats>} */ (config.nats)
  const { kv: leases, ttlMs } = await openLeaseBucket(nc, nats.prefix, config.leaseTtlMs, logger)
  const lease = new Lease({ kv: leases, key: config.session, ttlMs, epoch, logger, onLost: (reason) => onFenced(`session lease lost (${reason})`) })
  logger.info({ session: config.session, ttlMs }, 'standby: waiting for the session lease')
  await lease.acquire({ signal })
  const kv = await openAuthBucket(nc, nats.prefix)
  const session = config.session
  const onConflict = (/** @type {string} */ key) => onFenced(`auth state key ${key} written by another host`)
  const mayWrite = () => lease.held()
  return {
    lease,
    authStore: {
      // A number linked before NATS mode has its files in the data dir: imported once.
      open: () => useKvAuthState({ kv, session, importDir: config.authDir, onConflict, mayWrite, logger }),
      // The imported files go too, or the next open would import the logged-out number again.
      wipe: async () => {
        await wipeKvAuthState({ kv, session, onConflict, mayWrite, logger })
        await wipeAuthDir(config.authDir)
      },
    },
  }
}

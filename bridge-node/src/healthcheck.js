/**
 * Docker HEALTHCHECK; exit 0 when healthy, else 1 with the reason on stderr.
 *
 * ZeroMQ mode: ask the bridge for `state` over its ROUTER; healthy when it answers within 3 s
 * (answering proves the event loop and the command path are alive).
 * NATS mode (BRIDGE_NATS_URL): a standby host answers no commands, so read the status file the
 * bridge rewrites about once a second (status-file.js); healthy when it is fresh and NATS is
 * connected, whatever the host's role.
 */
import fs from 'node:fs'
import zmq from 'zeromq'
import { readConfig } from './config.js'
import { judge, statusPath } from './status-file.js'

const TIMEOUT_MS = 3000

/**
 * A bind address such as tcp://0.0.0.0:5556 or tcp://*:5556 cannot be connected to.
 * @param {string} endpoint
 */
function connectableEndpoint(endpoint) {
  return endpoint.replace(/^tcp:\/\/(\*|0\.0\.0\.0):/, 'tcp://127.0.0.1:')
}

/** @param {string} router @returns {Promise<{healthy: boolean, reason: string}>} */
async function askRouter(router) {
  const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: TIMEOUT_MS, sendTimeout: TIMEOUT_MS })
  try {
    dealer.connect(connectableEndpoint(router))
    await dealer.send(JSON.stringify({ id: 'healthcheck', method: 'state' }))
    const [reply] = await dealer.receive()
    const ok = JSON.parse(reply.toString()).ok === true
    return { healthy: ok, reason: ok ? 'state answered' : 'state failed' }
  } finally {
    dealer.close()
  }
}

/** @param {string} dataDir */
function readStatus(dataDir) {
  try {
    return fs.readFileSync(statusPath(dataDir), 'utf8')
  } catch (err) {
    if (/** @type {NodeJS.ErrnoException} */ (err).code === 'ENOENT') return null
    throw err
  }
}

async function check() {
  const config = readConfig(process.env)
  if (config.nats) return judge(readStatus(config.dataDir), Date.now())
  return askRouter(config.router)
}

check().then(
  ({ healthy, reason }) => {
    if (!healthy) console.error(`unhealthy: ${reason}`)
    process.exit(healthy ? 0 : 1)
  },
  (err) => {
    console.error(`healthcheck failed: ${err?.message ?? err}`)
    process.exit(1)
  },
)

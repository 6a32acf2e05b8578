/**
 * Docker HEALTHCHECK: ask the bridge for `state` over its ROUTER; exit 0 when it answers
 * within 3 s, else 1. Answering proves the event loop and the command path are alive.
 */
import zmq from 'zeromq'
import { readConfig } from './config.js'

const TIMEOUT_MS = 3000

/**
 * A bind address such as tcp://0.0.0.0:5556 or tcp://*:5556 cannot be connected to.
 * @param {string} endpoint
 */
function connectableEndpoint(endpoint) {
  return endpoint.replace(/^tcp:\/\/(\*|0\.0\.0\.0):/, 'tcp://127.0.0.1:')
}

async function check() {
  const config = readConfig(process.env)
  const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: TIMEOUT_MS, sendTimeout: TIMEOUT_MS })
  try {
    dealer.connect(connectableEndpoint(config.router))
    await dealer.send(JSON.stringify({ id: 'healthcheck', method: 'state' }))
    const [reply] = await dealer.receive()
    return JSON.parse(reply.toString()).ok === true
  } finally {
    dealer.close()
  }
}

check().then(
  (ok) => process.exit(ok ? 0 : 1),
  (err) => {
    console.error(`healthcheck failed: ${err?.message ?? err}`)
    process.exit(1)
  },
)

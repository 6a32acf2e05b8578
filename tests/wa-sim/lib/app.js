/**
 * Wire the simulator to its two listeners: the WhatsApp WebSocket endpoint
 * (`ws://127.0.0.1:<port>/ws/chat`) and the control API (`http://127.0.0.1:<port>`).
 * Loopback only; port 0 lets the OS choose.
 */
import { once } from 'node:events'
import { makeControlServer } from './control.js'
import { ws as wsLib } from './deps.js'
import { MediaServer } from './media.js'
import { Simulator } from './simulator.js'
import { AccountStore } from './store.js'

const WS_PATH = '/ws/chat'
const HOST = '127.0.0.1'

/**
 * @typedef {object} RunningSim
 * @property {string} ws the URL to give Baileys (BRIDGE_WA_URL)
 * @property {string} control the control API base URL
 * @property {string} media plain-HTTP media base URL (downloads)
 * @property {string} mediaCa PEM file of the media TLS certificate (give the bridge NODE_EXTRA_CA_CERTS=<it>)
 * @property {Simulator} sim
 * @property {() => Promise<void>} close stop listening and drop every connection
 */

/**
 * @param {object} opts
 * @param {string} opts.phone simulated phone number (digits)
 * @param {number} [opts.port] WebSocket port (0 = any)
 * @param {number} [opts.controlPort] control API port (0 = any)
 * @param {string|null} [opts.stateFile] JSON file persisting the account and linked devices
 * @param {(event: string, fields?: Record<string, unknown>) => void} [opts.log]
 * @returns {Promise<RunningSim>}
 */
export async function startSim({ phone, port = 0, controlPort = 0, stateFile = null, log }) {
  const store = new AccountStore({ phone, file: stateFile })
  const media = new MediaServer({ log })
  await media.listen()
  const sim = new Simulator({ store, media, log })
  const wss = new wsLib.WebSocketServer({ host: HOST, port, path: WS_PATH })
  wss.on('connection', (socket) => sim.accept(socket))
  await once(wss, 'listening')
  const http = makeControlServer(sim)
  http.listen(controlPort, HOST)
  await once(http, 'listening')
  const wsPort = /** @type {import('node:net').AddressInfo} */ (wss.address()).port
  const httpPort = /** @type {import('node:net').AddressInfo} */ (http.address()).port
  return {
    ws: `ws://${HOST}:${wsPort}${WS_PATH}`,
    control: `http://${HOST}:${httpPort}`,
    media: media.httpBase,
    mediaCa: media.caFile,
    sim,
    async close() {
      sim.close()
      http.closeAllConnections()
      await Promise.all([new Promise((r) => wss.close(() => r(undefined))), new Promise((r) => http.close(() => r(undefined))), media.close()])
    },
  }
}

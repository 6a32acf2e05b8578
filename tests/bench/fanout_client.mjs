/**
 * The fan-out benchmark's clients: N connections to the orchestrator's stream in one Node
 * process (a Python client at 500 connections measured itself, not the server).
 *
 *   node tests/bench/fanout_client.mjs --base http://127.0.0.1:PORT --token T --clients N --seconds S --out FILE
 *
 * Even-numbered clients read SSE (`GET /events`, node:http), odd-numbered ones WebSocket
 * (`/ws`, the `ws` package borrowed from bridge-node/node_modules). Once all are connected it
 * prints `READY`, records every delivery for S seconds as (epoch, seq, wall-clock receive time
 * in ms), closes everything, writes FILE as little-endian `<I I d` records (uint32 index into
 * "epochs", uint32 seq, float64 ms, 16 bytes each, back to back) and prints one JSON line:
 * {"sse", "ws", "connected", "errors", "elapsed", "epochs"}. The epoch tells apart the bridges
 * of several sessions, whose seqs overlap. Connection errors and early closes count in
 * "errors" (each kind is printed to stderr once).
 */
import fs from 'node:fs'
import http from 'node:http'
import path from 'node:path'
import { performance } from 'node:perf_hooks'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..')
const MODULES = path.join(REPO_ROOT, 'bridge-node', 'node_modules')
/** The `ws` package the bridge (Baileys) itself uses; tests/ has no node_modules of its own. */
const { WebSocket } = await import(pathToFileURL(path.join(MODULES, 'ws', 'wrapper.mjs')).href)

/** How long every connection gets to open before the run gives up on it. */
const CONNECT_TIMEOUT_MS = 30_000
/** `{"id":"<epoch>:<seq>:<k>", ...}`: the envelope's first field, so its head is enough. */
const WS_ID = /^\{"id":"([^":]*):(\d+):/
const ID_PREFIX = 'id: '

const { values: args } = parseArgs({
  options: {
    base: { type: 'string' },
    token: { type: 'string' },
    clients: { type: 'string' },
    seconds: { type: 'string' },
    out: { type: 'string' },
  },
})
if (!args.base || !args.token || !args.clients || !args.seconds || !args.out) {
  process.stderr.write('usage: fanout_client.mjs --base URL --token T --clients N --seconds S --out FILE\n')
  process.exit(2)
}
const base = args.base.replace(/\/$/, '')
const token = args.token
const clients = Number(args.clients)
const seconds = Number(args.seconds)
const outFile = args.out

/** Wall-clock ms, sub-millisecond resolution (comparable with Python's time.time() * 1000). */
const now = () => performance.timeOrigin + performance.now()

// ---- the record: (epoch, seq, receive ms) in growable typed arrays --------------------------

let capacity = 1 << 20
let epochIndexes = new Uint32Array(capacity)
let seqs = new Uint32Array(capacity)
let times = new Float64Array(capacity)
let count = 0
let recording = false
const delivered = { sse: 0, ws: 0 }

/** Epoch strings in the order first seen; a record holds the index. @type {Map<string, number>} */
const epochs = new Map()

function grow() {
  capacity *= 2
  const e = new Uint32Array(capacity)
  e.set(epochIndexes)
  epochIndexes = e
  const s = new Uint32Array(capacity)
  s.set(seqs)
  const t = new Float64Array(capacity)
  t.set(times)
  seqs = s
  times = t
}

/** @param {string} epoch @param {number} seq @param {number} at */
function record(epoch, seq, at) {
  if (count === capacity) grow()
  let index = epochs.get(epoch)
  if (index === undefined) {
    index = epochs.size
    epochs.set(epoch, index)
  }
  epochIndexes[count] = index
  seqs[count] = seq
  times[count] = at
  count++
}

// ---- errors: counted, each kind printed once ------------------------------------------------

let connected = 0
let errors = 0
let closing = false
/** @type {Set<string>} */
const reported = new Set()

/**
 * One error per connection at most (a WebSocket's 'error' is followed by its 'close').
 * @param {{failed: boolean}} connection
 * @param {string} kind
 */
function fail(connection, kind) {
  if (closing || connection.failed) return // our own teardown, or already counted
  connection.failed = true
  errors++
  if (!reported.has(kind)) {
    reported.add(kind)
    process.stderr.write(`fanout_client: ${kind}\n`)
  }
}

/** `fn`, however often the result is called, runs once. @param {() => void} fn */
function once(fn) {
  let done = false
  return () => {
    if (!done) {
      done = true
      fn()
    }
  }
}

// ---- SSE ------------------------------------------------------------------------------------

const agent = new http.Agent({ keepAlive: true, maxSockets: clients, maxFreeSockets: clients })

/**
 * One `GET /events` stream. The body is parsed incrementally as latin1 (ids are ASCII, and a
 * multi-byte character cut at a chunk boundary must not shift anything): split on "\n", and
 * every line beginning `id: ` is one event.
 * @param {() => void} opened
 * @returns {{close: () => void}}
 */
function sse(opened) {
  const state = { failed: false }
  const settle = once(opened)
  const headers = { Authorization: `Bearer ${token}`, Accept: 'text/event-stream' }
  const request = http.get(`${base}/events`, { agent, headers }, (response) => {
    if (response.statusCode !== 200) {
      fail(state, `sse: HTTP ${response.statusCode}`)
      response.resume()
      settle()
      return
    }
    connected++
    settle()
    let tail = ''
    response.on('data', (/** @type {Buffer} */ chunk) => {
      const at = now()
      const text = tail + chunk.toString('latin1')
      let start = 0
      let end = text.indexOf('\n')
      while (end !== -1) {
        if (recording && text.startsWith(ID_PREFIX, start)) {
          // <epoch>:<seq>:<k>
          const first = text.indexOf(':', start + ID_PREFIX.length)
          const second = text.indexOf(':', first + 1)
          record(text.slice(start + ID_PREFIX.length, first), Number(text.slice(first + 1, second)), at)
          delivered.sse++
        }
        start = end + 1
        end = text.indexOf('\n', start)
      }
      tail = start < text.length ? text.slice(start) : ''
    })
    response.on('error', (error) => fail(state, `sse response: ${error.message}`))
    response.on('close', () => fail(state, 'sse: stream closed early'))
  })
  request.on('error', (error) => {
    fail(state, `sse: ${/** @type {NodeJS.ErrnoException} */ (error).code ?? error.message}`)
    settle()
  })
  request.setTimeout(CONNECT_TIMEOUT_MS, () => {
    if (!done) request.destroy(new Error('connect timeout'))
  })
  return {
    close: () => {
      request.destroy()
    },
  }
}

// ---- WebSocket ------------------------------------------------------------------------------

/**
 * One `/ws` connection: each message is a JSON envelope whose first field is the id, so only
 * its head is decoded and matched (no JSON.parse). permessage-deflate is offered, as browsers
 * do; the orchestrator declines it (one encoding for all clients), and a run where it did not
 * would fail here rather than measure something else.
 */
function ws(opened) {
  const state = { failed: false }
  const settle = once(opened)
  const url = `${base.replace(/^http/, 'ws')}/ws?access_token=${encodeURIComponent(token)}`
  const socket = new WebSocket(url, { handshakeTimeout: CONNECT_TIMEOUT_MS })
  socket.on('open', () => {
    if (socket.extensions !== '') fail(state, `ws: the server negotiated ${socket.extensions}`)
    connected++
    settle()
  })
  socket.on('message', (/** @type {Buffer} */ data) => {
    if (!recording) return
    const at = now()
    const match = WS_ID.exec(data.toString('latin1', 0, 100))
    if (match) {
      record(match[1], Number(match[2]), at)
      delivered.ws++
    } else {
      fail(state, 'ws: a message without a leading id')
    }
  })
  /** @param {http.ClientRequest} request @param {http.IncomingMessage} response */
  const refused = (request, response) => {
    fail(state, `ws: HTTP ${response.statusCode}`)
    request.destroy()
    settle()
  }
  socket.on('unexpected-response', refused)
  socket.on('error', (/** @type {Error} */ error) => {
    fail(state, `ws: ${/** @type {NodeJS.ErrnoException} */ (error).code ?? error.message}`)
    settle()
  })
  socket.on('close', (/** @type {number} */ code) => {
    fail(state, `ws: closed early (code ${code})`)
    settle()
  })
  return {
    close: () => {
      socket.terminate()
    },
  }
}

// ---- the run --------------------------------------------------------------------------------

/** @returns {Promise<{close: () => void}[]>} once every connection opened or failed */
async function openAll() {
  /** @type {{close: () => void}[]} */
  const connections = []
  await Promise.all(
    Array.from({ length: clients }, (_, i) => new Promise((resolve) => {
      connections.push(i % 2 === 0 ? sse(() => resolve(undefined)) : ws(() => resolve(undefined)))
    })),
  )
  return connections
}

/**
 * FILE: `<I I d` little-endian records, 16 bytes each, no padding.
 * @param {string} file
 */
function writeRecords(file) {
  const buffer = Buffer.allocUnsafe(count * 16)
  for (let i = 0; i < count; i++) {
    buffer.writeUInt32LE(epochIndexes[i], i * 16)
    buffer.writeUInt32LE(seqs[i], i * 16 + 4)
    buffer.writeDoubleLE(times[i], i * 16 + 8)
  }
  fs.writeFileSync(file, buffer)
}

const connections = await openAll()
process.stdout.write('READY\n')
recording = true
const started = performance.now()
await new Promise((resolve) => setTimeout(resolve, seconds * 1000))
recording = false
const elapsed = (performance.now() - started) / 1000
closing = true
for (const connection of connections) connection.close()
agent.destroy()
writeRecords(outFile)
process.stdout.write(`${JSON.stringify({ sse: delivered.sse, ws: delivered.ws, connected, errors, elapsed, epochs: [...epochs.keys()] })}\n`)
process.exit(0)

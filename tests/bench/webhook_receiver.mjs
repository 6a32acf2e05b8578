/**
 * The webhook benchmark's receiver: a local HTTP server in its own process (it must not share
 * a GIL with the orchestrator or the harness), answering every POST 200 at once, keep-alive on.
 *
 *   node tests/bench/webhook_receiver.mjs
 *
 * It listens on 127.0.0.1 on a free port and prints one JSON line: {"port": N}. Each POST is
 * recorded as (path, webhook-id, wall-clock receive time in ms, taken when its headers are
 * parsed) and answered 200 with an empty body once its body is read. `GET /count` answers
 * {"count": n}; `GET /records` answers {"records": [[path, id, ms], ...]} in arrival order.
 * It runs until killed.
 */
import http from 'node:http'
import { performance } from 'node:perf_hooks'

/** Wall-clock ms, sub-millisecond resolution (comparable with Python's time.time() * 1000). */
const now = () => performance.timeOrigin + performance.now()

/** @type {[string, string, number][]} */
const records = []

const server = http.createServer({ keepAlive: true }, (request, response) => {
  if (request.method === 'GET') {
    const body =
      request.url === '/count' ? { count: records.length } : request.url === '/records' ? { records } : null
    response.writeHead(body ? 200 : 404, { 'content-type': 'application/json' })
    response.end(body ? JSON.stringify(body) : '{}')
    return
  }
  records.push([request.url ?? '', String(request.headers['webhook-id'] ?? ''), now()])
  request.resume() // the body is not looked at; it must be read for the connection to be reused
  request.on('end', () => {
    response.writeHead(200, { 'content-length': '0' })
    response.end()
  })
})
// Longer than any pause of a run: the orchestrator's pooled connections stay open.
server.keepAliveTimeout = 60_000
server.headersTimeout = 65_000
server.listen(0, '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`${JSON.stringify({ port: typeof address === 'object' && address ? address.port : 0 })}\n`)
})

#!/usr/bin/env node
/**
 * wa-sim: a test-only WhatsApp server that speaks the real protocol (Noise XX, binary
 * nodes, QR pairing, login) to stock Baileys. Prints ONE JSON line on stdout when ready:
 *   {"ws":"ws://127.0.0.1:<p>/ws/chat","control":"http://127.0.0.1:<q>","media":"http://127.0.0.1:<r>","mediaCa":"<pem file>"}
 * Logs (with --verbose) go to stderr as JSON lines. SIGTERM/SIGINT stop it (exit 0).
 *
 *   node tests/wa-sim/server.js [--port 0] [--control-port 0] [--phone 5511999990000]
 *                               [--state FILE] [--verbose]
 */
import { parseArgs } from 'node:util'
import { startSim } from './lib/app.js'

/** @param {string} name @param {string} raw */
function port(name, raw) {
  const n = Number(raw)
  if (!/^\d+$/.test(raw) || n > 65535) throw new Error(`--${name} must be a port number (0 = any), got ${JSON.stringify(raw)}`)
  return n
}

async function main() {
  const { values } = parseArgs({
    options: {
      port: { type: 'string', default: '0' },
      'control-port': { type: 'string', default: '0' },
      phone: { type: 'string', default: '5511999990000' },
      state: { type: 'string' },
      verbose: { type: 'boolean', default: false },
    },
    strict: true,
  })
  const log = values.verbose
    ? (/** @type {string} */ event, /** @type {Record<string, unknown>} */ fields = {}) =>
        process.stderr.write(`${JSON.stringify({ t: new Date().toISOString(), event, ...fields })}\n`)
    : undefined
  const running = await startSim({
    phone: values.phone,
    port: port('port', values.port),
    controlPort: port('control-port', values['control-port']),
    stateFile: values.state ?? null,
    log,
  })
  process.stdout.write(`${JSON.stringify({ ws: running.ws, control: running.control, media: running.media, mediaCa: running.mediaCa })}\n`)
  const stop = async () => {
    await running.close()
    process.exit(0)
  }
  process.once('SIGTERM', stop)
  process.once('SIGINT', stop)
}

main().catch((err) => {
  process.stderr.write(`wa-sim: ${err?.stack ?? err}\n`)
  process.exit(2)
})

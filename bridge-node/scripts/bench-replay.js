#!/usr/bin/env node
/**
 * Measure end-to-end replay throughput: generate a capture, run the real bridge in replay
 * mode (rate 0) on ipc:// endpoints in a temp dir, count envelopes on a Subscriber.
 *
 *   node scripts/bench-replay.js [--events 100000] [--seed 1]
 *
 * Prints one JSON line: received, missed (dropped by PUB/SUB, recoverable via replay),
 * gaps, seconds from first to last envelope, and events/s.
 */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import zmq from 'zeromq'
import { generateCapture } from './make-capture.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const { values } = parseArgs({ options: { events: { type: 'string', default: '100000' }, seed: { type: 'string', default: '1' } } })
const events = Number(values.events)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brg-bench-'))
const capture = path.join(dir, 'cap.jsonl')
fs.writeFileSync(capture, [...generateCapture({ events, seed: Number(values.seed) })].join('\n') + '\n')

const pub = `ipc://${path.join(dir, 'pub')}`
const sub = new zmq.Subscriber({ receiveHighWaterMark: 0, reconnectInterval: 10 })
sub.connect(pub)
sub.subscribe()
const bridge = spawn(process.execPath, ['src/main.js'], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, BRIDGE_PUB: pub, BRIDGE_ROUTER: `ipc://${path.join(dir, 'router')}`, BRIDGE_DATA_DIR: path.join(dir, 'data'), BRIDGE_REPLAY: capture, BRIDGE_LOG_LEVEL: 'warn' },
})

let received = 0
let gaps = 0
let last = 0
let t0 = 0
for await (const [frame] of sub) {
  const e = JSON.parse(frame.toString())
  if (e.event === 'bridge.heartbeat') continue
  if (received === 0) t0 = performance.now()
  if (last && e.seq !== last + 1) gaps += 1
  last = e.seq
  received += 1
  if (e.event === 'bridge.replay_finished') break
}
const secs = (performance.now() - t0) / 1000
console.log(JSON.stringify({ events, received, missed: events + 2 - received, gaps, seconds: Number(secs.toFixed(3)), eventsPerSecond: Math.round(received / secs) }))
bridge.kill('SIGTERM')
sub.close()
bridge.on('exit', () => fs.rmSync(dir, { recursive: true, force: true }))

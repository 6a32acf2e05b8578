/** Shared test helpers: temp dirs, a silent logger, a bridge child process, zmq clients. */
import { spawn } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import zmq from 'zeromq'

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** @param {import('node:test').TestContext} t */
export function tmpDir(t) {
  // Short base path: ipc:// endpoints are limited to ~100 bytes (sun_path).
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'brg-'))
  t.after(() => fs.rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A logger that records calls, so tests can assert on warnings. */
export function memoryLogger() {
  /** @type {{level: string, obj: any, msg: any}[]} */
  const records = []
  /** @param {string} level */
  const at = (level) => (/** @type {any} */ obj, /** @type {any} */ msg) => records.push({ level, obj, msg })
  const logger = {
    records,
    trace: at('trace'),
    debug: at('debug'),
    info: at('info'),
    warn: at('warn'),
    error: at('error'),
    fatal: at('fatal'),
    level: 'info',
    child: () => logger,
  }
  return logger
}

const DEADLINE_PASSED = 'shutdown deadline passed' // main.js's warning when SIGTERM's work takes too long

/**
 * Spawn `node src/main.js` with the given env (merged over a minimal base).
 * @param {Record<string, string>} env
 */
export function spawnBridge(env) {
  const child = spawn(process.execPath, ['src/main.js'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', BRIDGE_LOG_LEVEL: 'warn', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  // 'close', not 'exit': the pipes are drained, so output() holds the last log lines.
  const exited = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })))
  return {
    child,
    exited: /** @type {Promise<{code: number|null, signal: string|null}>} */ (exited),
    output: () => output,
    /** Send SIGTERM; resolve with the exit status and whether the shutdown deadline cut it short. */
    async stop() {
      child.kill('SIGTERM')
      const status = await exited
      return { ...status, cutShort: output.includes(DEADLINE_PASSED) }
    },
  }
}

/** A DEALER client for the bridge's ROUTER. @param {string} endpoint */
export function commandClient(endpoint) {
  const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 10000 })
  dealer.connect(endpoint)
  let n = 0
  return {
    /**
     * @param {string} method @param {unknown} [params]
     * @returns {Promise<any>} the parsed reply
     */
    async call(method, params) {
      const id = `t${++n}`
      await dealer.send(JSON.stringify({ id, method, params }))
      const [reply] = await dealer.receive()
      const parsed = JSON.parse(reply.toString())
      if (parsed.id !== id) throw new Error(`reply id ${parsed.id} != ${id}`)
      return parsed
    },
    /** Retry `state` until the bridge answers (it may still be starting). */
    async waitReady(ms = 10000) {
      const deadline = Date.now() + ms
      for (;;) {
        const probe = new zmq.Dealer({ linger: 0, receiveTimeout: 300 })
        probe.connect(endpoint)
        try {
          await probe.send(JSON.stringify({ id: 'probe', method: 'state' }))
          const [reply] = await probe.receive()
          return JSON.parse(reply.toString())
        } catch {
          if (Date.now() > deadline) throw new Error(`bridge not answering on ${endpoint}`)
        } finally {
          probe.close()
        }
      }
    },
    close: () => dealer.close(),
  }
}

/**
 * Collect envelopes from a PUB endpoint until `until(envelope)` is true.
 * @param {zmq.Subscriber} sub
 * @param {(e: any) => boolean} until
 * @param {{heartbeats?: boolean, timeoutMs?: number}} [opts]
 */
export async function collect(sub, until, { heartbeats = false, timeoutMs = 20000 } = {}) {
  const out = []
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    let frames
    try {
      frames = await sub.receive()
    } catch (err) {
      if (/** @type {any} */ (err).code === 'EAGAIN') continue
      throw err
    }
    const e = JSON.parse(frames[0].toString())
    if (!heartbeats && e.event === 'bridge.heartbeat') continue
    out.push(e)
    if (until(e)) return out
  }
  throw new Error(`timed out after collecting ${out.length} envelopes`)
}

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/**
 * Until `condition` holds (checked every `intervalMs`), or throw after `timeoutMs`: tests wait
 * for what they need, never a fixed time (a busy machine delays everything).
 * @param {() => unknown | Promise<unknown>} condition
 * @param {string} what
 * @param {number} [timeoutMs] generous: other test suites load the machine
 * @param {number} [intervalMs]
 */
export async function waitFor(condition, what, timeoutMs = 60000, intervalMs = 20) {
  const deadline = Date.now() + timeoutMs
  while (!(await condition())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(intervalMs)
  }
}

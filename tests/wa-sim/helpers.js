/**
 * Test helpers: a simulator process, a real bridge process (`node bridge-node/src/main.js`)
 * with a ZeroMQ subscriber and command client, and the recurring "pair then log in" flow.
 * Every resource is released through `t.after`, so each test stays self-contained.
 */
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { once } from 'node:events'
import fs from 'node:fs'
import { createRequire } from 'node:module'
import os from 'node:os'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const BRIDGE_DIR = path.resolve(HERE, '..', '..', 'bridge-node')
const requireFromBridge = createRequire(path.join(BRIDGE_DIR, 'package.json'))
/** zeromq as the bridge has it installed. */
export const zmq = (await import(pathToFileURL(requireFromBridge.resolve('zeromq')).href)).default
/** @type {typeof import('@nats-io/transport-node')} */
export const natsClient = await import(pathToFileURL(requireFromBridge.resolve('@nats-io/transport-node')).href)

export const PHONE = '5511999990000'
const DEFAULT_WAIT_MS = 15000

/** @param {number} ms */
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** @type {WeakMap<import('node:test').TestContext, (() => unknown)[]>} */
const cleanups = new WeakMap()

/**
 * Run `fn` after the test, in reverse order of registration (t.after runs hooks in order,
 * and a temp dir must outlive the processes writing into it).
 * @param {import('node:test').TestContext} t
 * @param {() => unknown} fn
 */
export function defer(t, fn) {
  let stack = cleanups.get(t)
  if (!stack) {
    const s = /** @type {(() => unknown)[]} */ ([])
    cleanups.set(t, s)
    t.after(async () => {
      while (s.length) await /** @type {() => unknown} */ (s.pop())()
    })
    stack = s
  }
  stack.push(fn)
}

/**
 * A short temp dir (ipc:// paths must fit in sun_path), removed after the test.
 * @param {import('node:test').TestContext} t
 */
export function tmpDir(t) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wasim-'))
  defer(t, () => fs.rmSync(dir, { recursive: true, force: true, maxRetries: 3 }))
  return dir
}

/** Every child still running: killed if this test process exits without its t.after hooks. */
const running = new Set()
const killAll = () => {
  for (const c of running) c.kill('SIGKILL')
}
process.on('exit', killAll)
for (const sig of /** @type {const} */ (['SIGTERM', 'SIGINT'])) {
  process.once(sig, () => {
    killAll()
    process.exit(128 + (sig === 'SIGTERM' ? 15 : 2))
  })
}

/**
 * Spawn a node child process tracked for cleanup.
 * @param {string[]} args
 * @param {import('node:child_process').SpawnOptions} opts
 */
function spawnNode(args, opts) {
  const child = spawn(process.execPath, args, { ...opts, stdio: ['ignore', 'pipe', 'pipe'] })
  running.add(child)
  child.once('exit', () => running.delete(child))
  return child
}

/**
 * SIGKILL a child (if still running) and wait for it to be gone.
 * @param {import('node:child_process').ChildProcess} child
 * @param {Promise<unknown>} exited
 */
async function kill(child, exited) {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL')
  await exited
}

/**
 * SIGTERM a child and give it `graceMs` to exit (the simulator removes its temp files
 * then), SIGKILL otherwise.
 * @param {import('node:child_process').ChildProcess} child
 * @param {Promise<unknown>} exited
 */
async function terminate(child, exited, graceMs = 2000) {
  if (child.exitCode !== null || child.signalCode !== null) return
  child.kill('SIGTERM')
  /** @type {NodeJS.Timeout|undefined} */
  let timer
  const late = new Promise((r) => (timer = setTimeout(() => r('late'), graceMs)))
  const how = await Promise.race([exited, late])
  clearTimeout(timer)
  if (how === 'late') await kill(child, exited)
}

/**
 * Spawn the simulator (`server.js`) and wait for its ready line.
 * @param {import('node:test').TestContext} t
 * @param {string[]} [args] extra CLI arguments
 */
export async function startSim(t, args = []) {
  const child = spawnNode([path.join(HERE, 'server.js'), '--phone', PHONE, '--verbose', ...args], {})
  let stderr = ''
  child.stderr.on('data', (d) => (stderr += d))
  const exited = once(child, 'exit')
  defer(t, () => terminate(child, exited))
  let stdout = ''
  const ready = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`wa-sim not ready: ${stderr}`)), 10000)
    child.stdout.on('data', (d) => {
      stdout += d
      const nl = stdout.indexOf('\n')
      if (nl < 0) return
      clearTimeout(timer)
      resolve(JSON.parse(stdout.slice(0, nl)))
    })
    child.once('exit', (code) => reject(new Error(`wa-sim exited ${code}: ${stderr}`)))
  })
  /** @param {string} route @param {RequestInit} [init] */
  const request = async (route, init) => {
    const res = await fetch(`${ready.control}${route}`, init)
    return { status: res.status, body: await res.json() }
  }
  return {
    /** @type {string} */ ws: ready.ws,
    /** @type {string} */ control: ready.control,
    /** @type {string} plain-HTTP media endpoint */ media: ready.media,
    /** @type {string} PEM of the media TLS certificate: NODE_EXTRA_CA_CERTS for the bridge */ mediaCa: ready.mediaCa,
    child,
    log: () => stderr,
    /** @returns {Promise<any>} GET /state */
    state: async () => (await request('/state')).body,
    /** @param {string} route GET, resolves with {status, body} */
    get: (route) => request(route),
    /** @param {string} route @param {unknown} [body] */
    post: (route, body) => request(route, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body ?? {}) }),
    /** SIGTERM; resolves with the exit code. */
    async stop() {
      child.kill('SIGTERM')
      const [code] = await exited
      return code
    },
  }
}

/**
 * Spawn the bridge against the simulator, connect-on-command, with a live subscriber.
 * @param {import('node:test').TestContext} t
 * @param {object} o
 * @param {string} o.dir working dir for ipc endpoints and BRIDGE_DATA_DIR
 * @param {string} o.waUrl
 * @param {Record<string, string>} [o.env]
 */
export async function startBridge(t, { dir, waUrl, env = {} }) {
  const endpoints = {
    BRIDGE_PUB: `ipc://${path.join(dir, 'pub')}`,
    BRIDGE_ROUTER: `ipc://${path.join(dir, 'rtr')}`,
  }
  const sub = new zmq.Subscriber({ linger: 0 })
  sub.connect(endpoints.BRIDGE_PUB)
  sub.subscribe()
  /** @type {any[]} */
  const events = []
  /** @type {(() => void)[]} */
  let wakers = []
  void (async () => {
    try {
      for await (const [frame] of sub) {
        events.push(JSON.parse(frame.toString()))
        for (const w of wakers) w()
        wakers = []
      }
    } catch {
      // closed
    }
  })()

  const child = spawnNode(['src/main.js'], {
    cwd: BRIDGE_DIR,
    env: {
      PATH: process.env.PATH ?? '',
      BRIDGE_LOG_LEVEL: 'warn',
      BRIDGE_DATA_DIR: path.join(dir, 'data'),
      BRIDGE_WA_URL: waUrl,
      BRIDGE_AUTO_CONNECT: 'false',
      ...endpoints,
      ...env,
    },
  })
  let output = ''
  child.stdout.on('data', (d) => (output += d))
  child.stderr.on('data', (d) => (output += d))
  const exited = once(child, 'close') // after the pipes drain: output() is whole

  const dealer = new zmq.Dealer({ linger: 0, receiveTimeout: 15000 })
  dealer.connect(endpoints.BRIDGE_ROUTER)
  let n = 0
  let closed = false
  const cleanup = async () => {
    if (closed) return
    closed = true
    sub.close()
    dealer.close()
    await kill(child, exited)
  }
  defer(t, cleanup)

  let cursor = 0
  const bridge = {
    child,
    events,
    output: () => output,
    /**
     * A command on the ROUTER; resolves with the whole reply.
     * @param {string} method @param {unknown} [params]
     */
    async call(method, params) {
      const id = `c${++n}`
      await dealer.send(JSON.stringify({ id, method, params }))
      const [reply] = await dealer.receive()
      const parsed = JSON.parse(reply.toString())
      assert.equal(parsed.id, id)
      return parsed
    },
    /**
     * The next envelope (after the previous match) satisfying `pred`.
     * @param {(e: any) => boolean} pred
     * @param {{timeoutMs?: number, what?: string}} [opts]
     */
    async next(pred, { timeoutMs = DEFAULT_WAIT_MS, what = 'event' } = {}) {
      const deadline = Date.now() + timeoutMs
      for (;;) {
        for (; cursor < events.length; cursor++) {
          if (events[cursor].event !== 'bridge.heartbeat' && pred(events[cursor])) return events[cursor++]
        }
        const left = deadline - Date.now()
        if (left <= 0) {
          const seen = events.filter((e) => e.event !== 'bridge.heartbeat').map((e) => `${e.event} ${JSON.stringify(e.data).slice(0, 160)}`)
          throw new Error(`timed out waiting for ${what}; seen:\n${seen.join('\n')}\nbridge output:\n${output}`)
        }
        await new Promise((resolve) => {
          const timer = setTimeout(resolve, left)
          wakers.push(() => {
            clearTimeout(timer)
            resolve(undefined)
          })
        })
      }
    },
    /** Forget everything received so far: later waits see only new events. */
    forgetReceived() {
      cursor = events.length
    },
    /** SIGTERM and wait for exit; resolves with the exit code. */
    async stop() {
      child.kill('SIGTERM')
      const [code] = await exited
      await cleanup()
      return code
    },
  }
  // Commands answer once the ROUTER is bound; a heartbeat proves the subscription is live.
  await waitUntil(async () => (await bridge.call('state')).ok, 'bridge command socket')
  await waitUntil(() => events.some((e) => e.event === 'bridge.heartbeat'), 'bridge heartbeat')
  bridge.forgetReceived()
  return bridge
}

/**
 * @param {() => unknown | Promise<unknown>} cond
 * @param {string} what
 * @param {number} [timeoutMs]
 */
export async function waitUntil(cond, what, timeoutMs = DEFAULT_WAIT_MS) {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    if (await cond()) return
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(50)
  }
}

/** Envelope predicates. */
export const is = {
  /** @param {any} e */
  qr: (e) => e.event === 'connection.update' && typeof e.data?.qr === 'string',
  /** @param {any} e */
  open: (e) => e.event === 'connection.update' && e.data?.connection === 'open',
  /** @param {any} e */
  close: (e) => e.event === 'connection.update' && e.data?.connection === 'close',
}

/** @param {any} closeEnvelope a connection.update close @returns {number|undefined} */
export const statusCode = (closeEnvelope) => closeEnvelope.data?.lastDisconnect?.error?.$error?.statusCode

/**
 * From a fresh bridge: connect, scan the QR, take the 515 restart, connect again, open.
 * @param {Awaited<ReturnType<typeof startSim>>} sim
 * @param {Awaited<ReturnType<typeof startBridge>>} bridge
 * @returns {Promise<{jid: string, qr: string}>}
 */
export async function pairAndLogin(sim, bridge) {
  assert.equal((await bridge.call('connect')).ok, true)
  const qr = (await bridge.next(is.qr, { what: 'qr' })).data.qr
  const scan = await sim.post('/scan', { qr })
  assert.equal(scan.status, 200, JSON.stringify(scan.body))
  const restart = await bridge.next(is.close, { what: 'close after pairing' })
  assert.equal(statusCode(restart), 515, JSON.stringify(restart.data))
  assert.equal((await bridge.call('connect')).ok, true)
  await bridge.next(is.open, { what: 'open after pairing' })
  return { jid: scan.body.jid, qr }
}

/**
 * A simulator and a bridge paired with it, online.
 * @param {import('node:test').TestContext} t @param {{env?: Record<string, string>}} [opts]
 */
export async function online(t, { env = {} } = {}) {
  const sim = await startSim(t)
  const bridge = await startBridge(t, { dir: tmpDir(t), waUrl: sim.ws, env })
  const { jid } = await pairAndLogin(sim, bridge)
  return { sim, bridge, jid }
}

/**
 * A control request that must succeed: its answer's body.
 * @param {{post: Function}} sim @param {string} route @param {unknown} body
 */
export async function ok(sim, route, body) {
  const res = await sim.post(route, body)
  assert.equal(res.status, 200, `${route} ${JSON.stringify(body)?.slice(0, 200)} -> ${JSON.stringify(res.body)}`)
  return res.body
}

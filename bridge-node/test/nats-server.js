/**
 * A NATS server with JetStream of the test's own: a free port, a temporary store directory,
 * stopped (or killed, or restarted on the same port and store) by the test that started it.
 * The machine may run a NATS server of its own; tests never use it. Each test also names its
 * own stream and prefix (`uniqueNames()`), so tests sharing a server never see each other.
 */
import { spawn } from 'node:child_process'
import crypto from 'node:crypto'
import fs from 'node:fs'
import net from 'node:net'
import os from 'node:os'
import path from 'node:path'

const CANDIDATES = ['/usr/sbin/nats-server', '/usr/bin/nats-server', '/usr/local/bin/nats-server']

/** @returns {string} */
export function natsServerBinary() {
  for (const dir of (process.env.PATH ?? '').split(':')) {
    const p = path.join(dir, 'nats-server')
    if (dir && fs.existsSync(p)) return p
  }
  const found = CANDIDATES.find((p) => fs.existsSync(p))
  if (!found) throw new Error('nats-server is not installed: the JetStream tests need it (`make test` installs it: apt-get install nats-server)')
  return found
}

/** @returns {Promise<number>} */
export function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer()
    server.once('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const { port } = /** @type {net.AddressInfo} */ (server.address())
      server.close(() => resolve(port))
    })
  })
}

/** @returns {{stream: string, prefix: string}} */
export function uniqueNames() {
  const token = crypto.randomBytes(4).toString('hex')
  return { stream: `T${token.toUpperCase()}_EVENTS`, prefix: `t${token}` }
}

/** @param {number} port @returns {Promise<boolean>} */
function accepts(port) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1')
    socket.setTimeout(500)
    socket.once('data', (chunk) => {
      socket.destroy()
      resolve(chunk.toString().startsWith('INFO'))
    })
    socket.once('error', () => resolve(false))
    socket.once('timeout', () => {
      socket.destroy()
      resolve(false)
    })
  })
}

export class NatsServer {
  /** @param {string} dir @param {number} port */
  constructor(dir, port) {
    this.dir = dir
    this.port = port
    this.url = `nats://127.0.0.1:${port}`
    this.logPath = path.join(dir, `nats-${port}.log`)
    /** @type {import('node:child_process').ChildProcess|null} */
    this.child = null
  }

  /** Start (again, on the same port and store) and wait until it accepts connections. */
  async start(timeoutMs = 20000) {
    const argv = ['-a', '127.0.0.1', '-p', String(this.port), '-js', '-sd', path.join(this.dir, 'jetstream'), '-l', this.logPath]
    const child = spawn(natsServerBinary(), argv, { stdio: 'ignore' })
    this.child = child
    const deadline = Date.now() + timeoutMs
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`nats-server exited at start: ${this.logTail()}`)
      if (await accepts(this.port)) return
      await new Promise((r) => setTimeout(r, 50))
    }
    throw new Error(`nats-server not ready within ${timeoutMs} ms: ${this.logTail()}`)
  }

  /** @param {NodeJS.Signals} signal */
  async #end(signal) {
    const child = this.child
    if (!child || child.exitCode !== null || child.signalCode !== null) return
    const exited = new Promise((r) => child.once('exit', r))
    child.kill(signal)
    await exited
  }

  /** A clean shutdown (SIGTERM): the store is flushed. */
  stop() {
    return this.#end('SIGTERM')
  }

  kill9() {
    return this.#end('SIGKILL')
  }

  async restart() {
    await this.stop()
    await this.start()
  }

  logTail(lines = 20) {
    try {
      return fs.readFileSync(this.logPath, 'utf8').split('\n').slice(-lines).join('\n')
    } catch {
      return ''
    }
  }

  /** Stop and remove the store. */
  async close() {
    await this.stop()
    fs.rmSync(this.dir, { recursive: true, force: true })
  }
}

/** @returns {Promise<NatsServer>} a started server in a fresh temporary directory */
export async function startNatsServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'nats-'))
  const server = new NatsServer(dir, await freePort())
  await server.start()
  return server
}

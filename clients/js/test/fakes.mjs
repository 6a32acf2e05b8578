/**
 * The fakes the client's tests drive: the orchestrator's REST side answering from the snapshot
 * captured from a real run (capture.py), and a WebSocket and an EventSource whose frames and
 * closes (with the server's codes) the test sends.
 */
import { fixture } from './helpers.mjs'

const demo = fixture('demo')

/** @typedef {{method: string, url: string, path: string, authorization: string|null}} FakeRequest */

/** The orchestrator's REST side, answering from the captured snapshot. */
export class FakeServer {
  constructor() {
    const snapshot = demo.rest.snapshot
    this.position = snapshot.position
    this.status = snapshot.status
    this.chats = snapshot.chats
    /** @type {Record<string, any[]>} */
    this.pages = snapshot.pages
    /** @type {string|null} */
    this.qr = null
    /** @type {FakeRequest[]} */
    this.requests = []
    /** @type {(path: string, request: FakeRequest) => Response|Promise<Response>|null} a test's own answers first */
    this.override = () => null
    /** @type {Set<string>|null} the tokens accepted (null: any); another one gets 401, as the server answers */
    this.tokens = null
    this.fetch = this.fetch.bind(this)
  }

  /** @param {string} url @param {RequestInit} [init] */
  async fetch(url, init = {}) {
    const { pathname, searchParams } = new URL(url)
    const headers = /** @type {Record<string, string>} */ (init.headers ?? {})
    const path = pathname + (searchParams.size ? `?${searchParams}` : '')
    /** @type {FakeRequest} */
    const request = { method: init.method ?? 'GET', url, path, authorization: headers.Authorization ?? null }
    this.requests.push(request)
    const own = await this.override(path, request)
    if (own) return own
    const json = (/** @type {any} */ body, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'Content-Type': 'application/json' } })
    if (pathname === '/health') return json({ status: 'ok' })
    if (this.tokens && !this.tokens.has((request.authorization ?? '').replace(/^Bearer /, ''))) {
      return json({ error: { code: 'unauthorized', message: 'missing or wrong token' } }, 401)
    }
    if (pathname === '/events/poll' && !searchParams.has('since')) return json({ events: [], lastEventId: this.position })
    if (pathname === '/status') return json(this.status)
    if (pathname === '/chats') return json({ chats: this.chats })
    if (pathname === '/qr') return json({ qr: this.qr })
    if (pathname === '/qr.svg') {
      if (!this.qr) return json({ error: { code: 'no_qr', message: 'no QR' } }, 404)
      return new Response(`<svg xmlns="http://www.w3.org/2000/svg"><text>${this.qr}</text></svg>`, { headers: { 'Content-Type': 'image/svg+xml' } })
    }
    const messages = pathname.match(/^\/chats\/([^/]+)\/messages$/)
    if (messages) return json({ messages: (this.pages[decodeURIComponent(messages[1])] ?? []).slice(-50) })
    return json({ error: { code: 'not_found', message: pathname } }, 404)
  }

  /** @param {string} prefix */
  count(prefix) {
    return this.requests.filter((r) => r.path.startsWith(prefix)).length
  }
}

/** A WebSocket the test drives. */
export class FakeWebSocket {
  /** @type {FakeWebSocket[]} */
  static opened = []
  /** @param {string} url */
  constructor(url) {
    this.url = new URL(url)
    this.closedByClient = false
    /** @type {any} */
    this.onopen = this.onmessage = this.onclose = this.onerror = null
    FakeWebSocket.opened.push(this)
  }

  open() {
    this.onopen?.()
  }

  /** @param {any} envelope */
  send(envelope) {
    this.onmessage?.({ data: JSON.stringify(envelope) })
  }

  /** The server closes it. @param {number} code @param {string} [reason] */
  serverClose(code, reason = '') {
    this.onclose?.({ code, reason })
  }

  close() {
    this.closedByClient = true
  }
}

/** An EventSource the test drives. */
export class FakeEventSource {
  /** @type {FakeEventSource[]} */
  static opened = []
  /** @param {string} url */
  constructor(url) {
    this.url = new URL(url)
    this.closed = false
    /** @type {Map<string, Function>} */
    this.listeners = new Map()
    /** @type {any} */
    this.onopen = this.onerror = this.onmessage = null
    FakeEventSource.opened.push(this)
  }

  /** @param {string} type @param {Function} fn */
  addEventListener(type, fn) {
    this.listeners.set(type, fn)
  }

  /** @param {any} envelope */
  send(envelope) {
    this.listeners.get(envelope.type)?.({ data: JSON.stringify(envelope) })
  }

  close() {
    this.closed = true
  }
}

/** @param {() => unknown} predicate @param {string} what */
export async function until(predicate, what, timeoutMs = 2000) {
  const deadline = Date.now() + timeoutMs
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((resolve) => setTimeout(resolve, 2))
  }
}

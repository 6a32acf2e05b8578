/**
 * The test double at the outer edge: a small orchestrator on node:http (REST) and a WebSocket
 * endpoint (/ws, from the `ws` package) that answers from the captured fixtures of a real run
 * (clients/js/test/fixtures, made by tests/console/capture.py) and streams the envelopes a test
 * pushes. A real WaClient talks to it over TCP, as a browser talks to the orchestrator.
 */
import fs from 'node:fs'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { WebSocketServer, type WebSocket } from 'ws'
import type { Chat, Message, Note, Status, Tag } from '@wa-helpdesk/client'

const HERE = path.dirname(fileURLToPath(import.meta.url))
/** From .test-build/test/ (compiled) or test/ (sources): the repository's root is above clients/react. */
const ROOT = path.resolve(HERE, HERE.includes(`${path.sep}.test-build${path.sep}`) ? '../../../..' : '../../..')
const FIXTURES = path.join(ROOT, 'clients', 'js', 'test', 'fixtures')

export interface Envelope {
  id: string
  type: string
  data: unknown
  session?: string
}

/** A captured run: its stream (one envelope a line) and the REST answers at its snapshot. */
export function fixture(name: 'demo' | 'rich' | 'resync' | 'qr'): { envelopes: Envelope[]; snapshot: { position: string; status: Status; chats: Chat[]; pages: Record<string, Message[]> } } {
  const lines = fs.readFileSync(path.join(FIXTURES, `${name}.envelopes.jsonl`), 'utf8').split('\n')
  const rest = JSON.parse(fs.readFileSync(path.join(FIXTURES, `${name}.rest.json`), 'utf8'))
  return { envelopes: lines.filter(Boolean).map((line) => JSON.parse(line) as Envelope), snapshot: rest.snapshot }
}

export interface Request {
  method: string
  path: string
  authorization: string | null
  body: unknown
}

export class FakeOrchestrator {
  readonly requests: Request[] = []
  readonly sockets = new Set<WebSocket>()
  /** Every WebSocket ever opened (its URL), to count connections. */
  readonly streams: string[] = []
  status: Status
  chats: Chat[]
  pages: Record<string, Message[]>
  position: string
  notes: Note[] = []
  /** The messages POST /send accepted. */
  readonly sent: Message[] = []
  tags: Tag[] = [
    { id: 1, name: 'vip', color: '#d4a017' },
    { id: 2, name: 'billing', color: null },
  ]
  me = { userId: 'agent-ana', role: 'agent', name: 'Ana' }
  private seq = 100_000
  private readonly epoch: string
  private readonly server: http.Server
  private readonly wss = new WebSocketServer({ noServer: true })
  baseUrl = ''

  constructor(name: 'demo' | 'rich' = 'demo') {
    const { snapshot } = fixture(name)
    this.status = snapshot.status
    this.chats = snapshot.chats
    this.pages = snapshot.pages
    this.position = snapshot.position
    this.epoch = snapshot.position.split(':')[0]
    this.server = http.createServer((req, res) => void this.answer(req, res))
    this.server.on('upgrade', (req, socket, head) => {
      if (!req.url?.startsWith('/ws')) {
        socket.destroy()
        return
      }
      this.wss.handleUpgrade(req, socket, head, (ws) => {
        this.streams.push(req.url ?? '')
        this.sockets.add(ws)
        ws.on('close', () => this.sockets.delete(ws))
      })
    })
  }

  async start(): Promise<this> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve))
    this.baseUrl = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`
    return this
  }

  async stop(): Promise<void> {
    for (const ws of this.sockets) ws.terminate()
    this.wss.close()
    this.server.closeAllConnections()
    await new Promise<void>((resolve) => this.server.close(() => resolve()))
  }

  /** A fresh envelope id after everything captured (this run's epoch, a new sequence number). */
  nextId(): string {
    return `${this.epoch}:${this.seq++}:0`
  }

  /** Stream envelopes to every open WebSocket, as fast as it takes them. */
  push(...envelopes: Envelope[]): void {
    for (const ws of this.sockets) for (const envelope of envelopes) ws.send(JSON.stringify(envelope))
  }

  /** Stream one envelope of `type` with a fresh id. */
  emit(type: string, data: unknown, session?: string): Envelope {
    const envelope: Envelope = { id: this.nextId(), type, data, ...(session ? { session } : {}) }
    this.push(envelope)
    return envelope
  }

  count(method: string, prefix: string): number {
    return this.requests.filter((r) => r.method === method && r.path.startsWith(prefix)).length
  }

  private async answer(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://x')
    const method = req.method ?? 'GET'
    let raw = ''
    for await (const chunk of req) raw += String(chunk)
    const body: unknown = raw ? JSON.parse(raw) : undefined
    this.requests.push({ method, path: url.pathname + url.search, authorization: req.headers.authorization ?? null, body })
    const json = (value: unknown, status = 200): void => {
      res.writeHead(status, { 'Content-Type': 'application/json' })
      res.end(JSON.stringify(value))
    }
    const notFound = (): void => json({ error: { code: 'not_found', message: url.pathname } }, 404)
    // A session's routes (/sessions/{id}/...) answer from the same captured data.
    const p = url.pathname.replace(/^\/sessions\/[^/]+(?=\/)/, '')
    const chat = p.match(/^\/chats\/([^/]+)(\/.*)?$/)
    const chatId = chat ? decodeURIComponent(chat[1]) : ''
    const rest = chat?.[2] ?? ''

    if (method === 'GET' && p === '/health') return json({ status: 'ok' })
    if (method === 'GET' && p === '/events/poll' && !url.searchParams.has('since')) return json({ events: [], lastEventId: this.position })
    if (method === 'GET' && p === '/status') return json(this.status)
    if (method === 'GET' && p === '/me') return json(this.me)
    if (method === 'GET' && p === '/tags') return json({ tags: this.tags })
    if (method === 'GET' && p === '/chats') return json({ chats: this.chats })
    if (method === 'GET' && chat && rest === '/messages') {
      const all = this.pages[chatId] ?? []
      const limit = Number(url.searchParams.get('limit') ?? 50)
      const before = url.searchParams.get('before')
      const end = before ? all.findIndex((m) => m.id === before) : all.length
      return json({ messages: all.slice(Math.max(0, end - limit), end) })
    }
    if (method === 'GET' && chat && rest === '/notes') return json({ notes: this.notes.filter((n) => n.chatId === chatId) })
    if (method === 'POST' && chat && rest === '/notes') {
      const note: Note = { id: this.notes.length + 1, chatId, authorId: this.me.userId, body: (body as { body: string }).body, createdAt: new Date(Date.UTC(2026, 0, 1, 12, this.notes.length)).toISOString() }
      this.notes.push(note)
      // The team hears of it on the stream, the author too (before or after the answer).
      this.emit('note_added', { chatId, note })
      return json(note, 201)
    }
    if (chat && rest === '/assignment' && (method === 'PUT' || method === 'DELETE')) {
      const agentId = method === 'PUT' ? (body as { agentId: string }).agentId : null
      const assignment = agentId ? { agentId, agentName: agentId === this.me.userId ? this.me.name : null, assignedBy: this.me.userId, assignedAt: '2026-01-01T12:00:00Z' } : null
      return json({ chatId, assignment })
    }
    if (method === 'PUT' && chat && rest === '/status') return json({ chatId, status: (body as { status: string }).status })
    if (method === 'POST' && p === '/send') {
      const { chatId: to, text } = body as { chatId: string; text: string }
      const message: Message = {
        id: `SENT${this.seq}`, chatId: to, fromMe: true, sender: null, senderName: null, timestamp: 1767300000, type: 'text', rawKind: null,
        text, quotedId: null, media: null, ack: 1, status: 'pending', edited: false, deleted: false, reactions: [],
      }
      this.sent.push(message)
      return json({ message, sendId: message.id, targetId: null }, 202)
    }
    return notFound()
  }
}

/** Wait until `check` passes (it throws until then): conditions, never fixed times. */
export async function eventually<T>(check: () => T, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    try {
      return check()
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise((resolve) => setTimeout(resolve, 5))
    }
  }
}

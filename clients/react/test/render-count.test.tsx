/**
 * No re-render storms: a burst of 1,000 envelopes over the WebSocket renders each subscribed
 * component a handful of times (the store's flushes), and a component whose slice the burst
 * does not touch not at all.
 */
import './setup.js'
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { render, screen } from '@testing-library/react'
import type { Chat, Message } from '@wa-helpdesk/client'
import { type ReactNode, useEffect, useState } from 'react'
import { type ChatFilters, useChats, useConnection, useHelpdesk, useMessages, useWaStore, type WaStore, useWhatsAppSocket, WhatsAppProvider } from '../src/index.js'
import { type Envelope, eventually, type FakeOrchestrator } from './server.js'
import { serveEachTest } from './each-test.js'

const BURST = 1000
let server: FakeOrchestrator

serveEachTest((started) => {
  server = started
})

const renders = new Map<string, number>()
function rendered(id: string): void {
  renders.set(id, (renders.get(id) ?? 0) + 1)
}

function ChatList({ id, filters }: { id: string; filters?: ChatFilters }): ReactNode {
  rendered(id)
  const { chats } = useChats(filters)
  return (
    <ul data-testid={id} data-count={chats.length}>
      {chats.map((c) => (
        <li key={c.id}>{`${c.name ?? c.id}: ${c.lastMessage?.text ?? ''}`}</li>
      ))}
    </ul>
  )
}

function ChatWindow({ id, chatId }: { id: string; chatId: string }): ReactNode {
  rendered(id)
  const { messages } = useMessages(chatId)
  return (
    <div data-testid={id} data-count={messages.length}>
      {messages.map((m) => (
        <p key={m.id}>{m.text}</p>
      ))}
    </div>
  )
}

function Header({ id }: { id: string }): ReactNode {
  rendered(id)
  const { status, link } = useConnection()
  return <p data-testid={id}>{`${link} ${status?.state ?? '-'}`}</p>
}

function Helpdesk({ id, chatId }: { id: string; chatId: string }): ReactNode {
  rendered(id)
  const { assignment, tags } = useHelpdesk(chatId)
  return <p data-testid={id}>{`${assignment?.agentId ?? 'nobody'} ${tags.length}`}</p>
}

let store: WaStore | null = null
function CaptureStore(): ReactNode {
  store = useWaStore()
  return null
}

/** 1,000 new messages in `chat`, each an envelope with a fresh id, as the bridge would stream them. */
function burst(chat: Chat): Envelope[] {
  const page = server.pages[chat.id]
  const last = page.at(-1) as Message
  return Array.from({ length: BURST }, (_, i) => ({
    id: server.nextId(),
    type: 'new_message',
    data: { ...page[0], id: `BURST${i}`, chatId: chat.id, fromMe: false, type: 'text', text: `message ${i}`, media: null, timestamp: last.timestamp + 1 + i, ack: 1, status: 'sent', reactions: [] },
  }))
}

const count = (id: string): number => Number(screen.getByTestId(id).dataset.count)

test(`a burst of ${BURST} events renders each component a handful of times, and only those it changes`, async (t) => {
  const loaded = server.chats.filter((c) => (server.pages[c.id]?.length ?? 0) > 0)
  const [a, b] = loaded
  render(
    <WhatsAppProvider options={{ baseUrl: server.baseUrl, token: 'secret-token', transport: 'websocket' }}>
      <CaptureStore />
      <Header id="header" />
      <ChatList id="list" />
      <ChatList id="list of b" filters={{ search: b.name ?? b.id }} />
      <ChatWindow id="window a" chatId={a.id} />
      <ChatWindow id="window b" chatId={b.id} />
      <Helpdesk id="helpdesk a" chatId={a.id} />
    </WhatsAppProvider>,
  )
  await eventually(() => assert.equal(server.sockets.size, 1))
  await eventually(() => assert.equal(count('window a'), server.pages[a.id].length))
  await eventually(() => assert.equal(count('window b'), server.pages[b.id].length))
  assert.equal(count('list of b'), 1)
  // The link turns live once the stream proved itself: the renders that follow are the burst's.
  await eventually(() => assert.match(screen.getByTestId('header').textContent ?? '', /^live /))
  renders.clear()
  const flushesBefore = (store?.flushes ?? 0)

  const started = performance.now()
  server.push(...burst(a))
  await eventually(() => assert.equal(count('window a'), server.pages[a.id].length + BURST))
  const elapsed = performance.now() - started
  await eventually(() => assert.match(screen.getByTestId('list').querySelector('li')?.textContent ?? '', new RegExp(`message ${BURST - 1}$`)))

  const counts = Object.fromEntries(['window a', 'list', 'window b', 'list of b', 'header', 'helpdesk a'].map((id) => [id, renders.get(id) ?? 0]))
  t.diagnostic(`renders for ${BURST} events in ${elapsed.toFixed(0)} ms: ${JSON.stringify(counts)}; store flushes: ${(store?.flushes ?? 0) - flushesBefore}`)
  // The chat window and the list it reorders: a few flushes' worth (one or two here), never one
  // per event; on a machine so loaded that the burst trickles in, still at most one per frame.
  const handful = Math.max(12, Math.ceil(elapsed / 15) + 2)
  assert.ok(counts['window a'] >= 1 && counts['window a'] <= handful, `window a rendered ${counts['window a']} times`)
  assert.ok(counts.list >= 1 && counts.list <= handful, `the list rendered ${counts.list} times`)
  // Untouched slices: another chat's window, a list filtered to it, the connection, a's helpdesk data.
  assert.equal(counts['window b'], 0)
  assert.equal(counts['list of b'], 0)
  assert.equal(counts.header, 0)
  assert.equal(counts['helpdesk a'], 0)
})

/** What the migration plan's hand-written hook does: a state update per event (no store). */
function Naive({ id }: { id: string }): ReactNode {
  rendered(id)
  const { subscribe } = useWhatsAppSocket()
  const [n, setN] = useState(0)
  useEffect(() => subscribe((e) => e.type === 'new_message' && setN((x) => x + 1)), [subscribe])
  return <p data-testid={id} data-count={n} />
}

test(`${BURST} events in 100 separate deliveries: at most a render per ${16} ms window, where a state update per event renders per delivery`, async (t) => {
  const [a] = server.chats.filter((c) => (server.pages[c.id]?.length ?? 0) > 0)
  render(
    <WhatsAppProvider options={{ baseUrl: server.baseUrl, token: 'secret-token', transport: 'websocket' }}>
      <CaptureStore />
      <ChatWindow id="window a" chatId={a.id} />
      <Naive id="naive" />
    </WhatsAppProvider>,
  )
  await eventually(() => assert.equal(server.sockets.size, 1))
  await eventually(() => assert.equal(count('window a'), server.pages[a.id].length))
  renders.clear()
  const flushesBefore = store?.flushes ?? 0
  const envelopes = burst(a)
  const started = performance.now()
  for (let i = 0; i < envelopes.length; i += 10) {
    server.push(...envelopes.slice(i, i + 10))
    // The next ten go out in another write, once the client's side had a turn of the event loop.
    await new Promise((resolve) => setImmediate(resolve))
  }
  await eventually(() => assert.equal(count('window a'), server.pages[a.id].length + BURST))
  await eventually(() => assert.equal(count('naive'), BURST))
  const elapsed = performance.now() - started
  const windowRenders = renders.get('window a') ?? 0
  const flushes = (store?.flushes ?? 0) - flushesBefore
  t.diagnostic(`over ${elapsed.toFixed(0)} ms: the store's window rendered ${windowRenders} times (${flushes} flushes); the state-per-event component ${renders.get('naive') ?? 0} times`)
  // Flushes are at least batchMs apart: never more than the time allows, whatever the deliveries.
  // (15, not 16: a timer may fire a little before performance.now() says its 16 ms are up.)
  assert.ok(flushes <= Math.ceil(elapsed / 15) + 2, `${flushes} flushes in ${elapsed.toFixed(0)} ms`)
  assert.ok(windowRenders <= flushes + 1, `window a rendered ${windowRenders} times for ${flushes} flushes`)
})

/**
 * The hooks in a DOM (jsdom + React Testing Library) over a real WaClient, which talks over
 * TCP to a small orchestrator double (server.ts) serving a captured run's REST answers and
 * streaming envelopes on a real WebSocket.
 */
import './setup.js'
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { fireEvent, render, screen, within } from '@testing-library/react'
import { WaClient, type Chat, type Message } from '@wa-helpdesk/client'
import { type ReactNode, StrictMode, useEffect } from 'react'
import {
  type ChatFilters,
  useChats,
  useConnection,
  useMessages,
  useSend,
  useWhatsAppSocket,
  type WaEvent,
  WhatsAppProvider,
} from '../src/index.js'
import { eventually, type FakeOrchestrator } from './server.js'
import { serveEachTest } from './each-test.js'

const TOKEN = 'secret-token'
let server: FakeOrchestrator

serveEachTest((started) => {
  server = started
})

function options() {
  return { baseUrl: server.baseUrl, token: TOKEN, transport: 'websocket' as const, backoffInitialMs: 20, backoffMaxMs: 200 }
}

/** A chat whose newest page the snapshot has, and another one. */
function twoChats(): [Chat, Chat] {
  const loaded = server.chats.filter((c) => (server.pages[c.id]?.length ?? 0) > 0)
  return [loaded[0], loaded[1]]
}

/** A new message in `chat`, `n` seconds after its last one (a captured message with a new id). */
function newMessage(chat: Chat, n: number, text = `burst ${n}`): Message {
  const template = server.pages[chat.id][0]
  const last = server.pages[chat.id].at(-1) as Message
  return { ...template, id: `BURST${chat.id.slice(0, 6)}${n}`, chatId: chat.id, fromMe: false, text, type: 'text', media: null, timestamp: last.timestamp + 1 + n, ack: 1, status: 'sent', reactions: [] }
}

function ChatList({ filters, id = 'list' }: { filters?: ChatFilters; id?: string }): ReactNode {
  const { chats, loading } = useChats(filters)
  return (
    <ul data-testid={id} data-loading={String(loading)} data-count={chats.length}>
      {chats.map((c) => (
        <li key={c.id}>{`${c.name ?? c.id}: ${c.lastMessage?.text ?? ''}`}</li>
      ))}
    </ul>
  )
}

function ChatWindow({ chatId, id }: { chatId: string | null; id: string }): ReactNode {
  const { messages, loading, hasOlder, loadOlder } = useMessages(chatId)
  return (
    <div data-testid={id} data-loading={String(loading)} data-count={messages.length} data-has-older={String(hasOlder)}>
      <button type="button" onClick={() => void loadOlder()}>
        older {id}
      </button>
      {messages.map((m) => (
        <p key={m.id} data-status={m.status ?? ''}>
          {m.text}
        </p>
      ))}
    </div>
  )
}

const count = (id: string): number => Number(screen.getByTestId(id).dataset.count)

describe('WhatsAppProvider', () => {
  test('one connection for the whole tree, whatever the number of components', async () => {
    const [a] = twoChats()
    const view = render(
      <WhatsAppProvider options={options()}>
        <ChatList id="l1" />
        <ChatList id="l2" filters={{ search: 'a' }} />
        <ChatList id="l3" filters={{ status: 'open' }} />
        <ChatWindow chatId={a.id} id="w1" />
        <ChatWindow chatId={a.id} id="w2" />
        <ChatWindow chatId={a.id} id="w3" />
      </WhatsAppProvider>,
    )
    await eventually(() => assert.equal(server.sockets.size, 1))
    await eventually(() => assert.equal(count('w1'), server.pages[a.id].length))
    assert.equal(count('l1'), server.chats.length)
    assert.equal(count('w3'), count('w1'))
    assert.equal(server.streams.length, 1, 'one WebSocket')
    assert.equal(server.count('GET', '/events/poll'), 1, 'one position')
    assert.equal(server.count('GET', '/chats?'), 1, 'one chat list')
    assert.equal(server.count('GET', `/chats/${encodeURIComponent(a.id)}/messages`), 1, 'one page for three windows')
    assert.match(server.streams[0], /access_token=secret-token/)
    view.unmount()
    // The provider made the client: it closes it.
    await eventually(() => assert.equal(server.sockets.size, 0))
  })

  test('under StrictMode (effects run twice in development) still one stream', async () => {
    const [a] = twoChats()
    render(
      <StrictMode>
        <WhatsAppProvider options={options()}>
          <ChatList />
          <ChatWindow chatId={a.id} id="w" />
        </WhatsAppProvider>
      </StrictMode>,
    )
    await eventually(() => assert.equal(count('w'), server.pages[a.id].length))
    await eventually(() => assert.equal(server.sockets.size, 1))
    server.emit('new_message', newMessage(a, 1, 'still live'))
    await eventually(() => assert.equal(count('w'), server.pages[a.id].length + 1))
    assert.equal(server.streams.length, 1)
  })

  test('a client the app made is the app\'s: the provider neither connects nor closes it', async () => {
    const client = new WaClient(options())
    await client.connect()
    await eventually(() => assert.equal(server.sockets.size, 1))
    const view = render(
      <WhatsAppProvider client={client}>
        <ChatList />
      </WhatsAppProvider>,
    )
    await eventually(() => assert.equal(count('list'), server.chats.length))
    assert.equal(screen.getByTestId('list').dataset.loading, 'false')
    view.unmount()
    assert.notEqual(client.clientState().link, 'closed')
    assert.equal(server.sockets.size, 1)
    assert.equal(server.streams.length, 1)
    client.close()
  })
})

describe('useChats', () => {
  test('the snapshot, then what the stream changes, filtered', async () => {
    const [a, b] = twoChats()
    render(
      <WhatsAppProvider options={options()}>
        <ChatList />
        <ChatList id="mine" filters={{ assigned: 'me' }} />
        <ChatList id="unassigned" filters={{ assigned: 'none' }} />
        <ChatList id="vip" filters={{ tag: 'vip' }} />
        <ChatList id="resolved" filters={{ status: 'resolved' }} />
        <ChatList id="search" filters={{ search: (b.name ?? b.id).toUpperCase() }} />
      </WhatsAppProvider>,
    )
    assert.equal(screen.getByTestId('list').dataset.loading, 'true')
    await eventually(() => assert.equal(screen.getByTestId('list').dataset.loading, 'false'))
    await eventually(() => assert.equal(screen.getByTestId('mine').dataset.loading, 'false'))
    assert.equal(count('list'), server.chats.length)
    assert.equal(count('unassigned'), server.chats.filter((c) => c.assignment === null).length)
    assert.equal(count('mine'), 0)
    assert.equal(count('vip'), 0)
    assert.equal(count('resolved'), 0)
    assert.ok(count('search') >= 1)
    await eventually(() => assert.equal(server.sockets.size, 1))

    // A new chat comes first (most recent); a's assignment, tags and status change.
    const fresh: Chat = { ...b, id: '5511999990000@s.whatsapp.net', name: 'Zélia Nova', timestamp: 1800000000, lastMessage: null, unreadCount: 1 }
    server.emit('new_chat', fresh)
    server.emit('assignment_changed', { chatId: a.id, assignment: { agentId: 'agent-ana', agentName: 'Ana', assignedBy: null, assignedAt: '2026-01-01T12:00:00Z' }, previousAgentId: null })
    server.emit('tags_changed', { chatId: a.id, tags: [server.tags[0]] })
    server.emit('chat_update', { ...a, assignment: { agentId: 'agent-ana', agentName: 'Ana', assignedBy: null, assignedAt: '2026-01-01T12:00:00Z' }, tags: [server.tags[0]], status: 'resolved' })
    await eventually(() => assert.equal(count('list'), server.chats.length + 1))
    assert.match(screen.getByTestId('list').querySelector('li')?.textContent ?? '', /Zélia Nova/)
    await eventually(() => assert.equal(count('mine'), 1))
    assert.equal(count('vip'), 1)
    assert.equal(count('resolved'), 1)
    assert.equal(count('unassigned'), server.chats.filter((c) => c.assignment === null).length)
  })
})

describe('useMessages', () => {
  test('the newest page, live messages, older pages', async () => {
    const [a] = twoChats()
    // A chat with more than a page: 120 messages, the newest 50 first.
    const older = Array.from({ length: 120 }, (_, i) => ({ ...server.pages[a.id][0], id: `OLD${i}`, text: `old ${i}`, timestamp: 1700000000 + i }))
    server.pages[a.id] = [...older, ...server.pages[a.id]]
    render(
      <WhatsAppProvider options={options()}>
        <ChatWindow chatId={a.id} id="w" />
        <ChatWindow chatId={null} id="none" />
      </WhatsAppProvider>,
    )
    await eventually(() => assert.equal(count('w'), 50))
    assert.equal(screen.getByTestId('w').dataset.hasOlder, 'true')
    assert.equal(count('none'), 0)
    await eventually(() => assert.equal(server.sockets.size, 1))

    server.emit('new_message', newMessage(a, 1, 'hello from the stream'))
    await eventually(() => assert.equal(count('w'), 51))
    assert.equal(screen.getByTestId('w').lastElementChild?.textContent, 'hello from the stream')

    fireEvent.click(screen.getByText('older w'))
    await eventually(() => assert.equal(count('w'), 101))
    assert.equal(screen.getByTestId('w').dataset.hasOlder, 'true')
    fireEvent.click(screen.getByText('older w'))
    await eventually(() => assert.equal(count('w'), server.pages[a.id].length + 1))
    assert.equal(screen.getByTestId('w').dataset.hasOlder, 'false')
    assert.equal(server.count('GET', `/chats/${encodeURIComponent(a.id)}/messages`), 3)
    assert.equal(screen.getByTestId('w').querySelector('p')?.textContent, 'old 0')
  })
})

describe('sessions', () => {
  test('a provider on one session: its routes, its stream, its envelopes', async () => {
    const [a] = twoChats()
    render(
      <WhatsAppProvider options={{ ...options(), session: 'sales' }}>
        <ChatWindow chatId={a.id} id="w" />
        <ChatList />
      </WhatsAppProvider>,
    )
    await eventually(() => assert.equal(count('w'), server.pages[a.id].length))
    await eventually(() => assert.equal(server.sockets.size, 1))
    assert.match(server.streams[0], /session=sales/)
    assert.equal(server.count('GET', `/sessions/sales/chats/${encodeURIComponent(a.id)}/messages`), 1)
    assert.equal(count('list'), server.chats.length)
    server.emit('new_message', newMessage(a, 1, 'to sales'), 'sales')
    await eventually(() => assert.equal(count('w'), server.pages[a.id].length + 1))
    // The same chat id on another number is another chat.
    server.emit('new_message', newMessage(a, 2, 'to support'), 'support')
    server.emit('new_message', newMessage(a, 3, 'to sales again'), 'sales')
    await eventually(() => assert.equal(count('w'), server.pages[a.id].length + 2))
    assert.equal(screen.queryByText('to support'), null)
  })
})

describe('useSend', () => {
  test('sending, the pending message at once, then the server\'s ack', async () => {
    const [a] = twoChats()
    function Composer(): ReactNode {
      const { send, sending, error } = useSend()
      return (
        <div>
          <button type="button" onClick={() => void send({ chatId: a.id, text: 'on my way' }).catch(() => undefined)}>
            send
          </button>
          <span data-testid="sending">{String(sending)}</span>
          <span data-testid="send-error">{error?.message ?? ''}</span>
        </div>
      )
    }
    render(
      <WhatsAppProvider options={options()}>
        <ChatWindow chatId={a.id} id="w" />
        <Composer />
      </WhatsAppProvider>,
    )
    await eventually(() => assert.equal(count('w'), server.pages[a.id].length))
    await eventually(() => assert.equal(server.sockets.size, 1))
    fireEvent.click(screen.getByText('send'))
    assert.equal(screen.getByTestId('sending').textContent, 'true')
    const sent = await eventually(() => {
      const p = screen.getByText('on my way')
      assert.equal(p.dataset.status, 'pending')
      return p
    })
    await eventually(() => assert.equal(screen.getByTestId('sending').textContent, 'false'))
    const request = server.requests.find((r) => r.path === '/send')
    assert.deepEqual(request?.body, { chatId: a.id, text: 'on my way' })
    assert.equal(request?.authorization, `Bearer ${TOKEN}`)
    const id = server.sent[0].id
    server.emit('message_ack', { chatId: a.id, messageId: id, ack: 2, status: 'sent' })
    server.emit('message_ack', { chatId: a.id, messageId: id, ack: 3, status: 'delivered' })
    await eventually(() => assert.equal(sent.isConnected ? screen.getByText('on my way').dataset.status : '', 'delivered'))

    // A refused send: the error, and sending is over.
    const bad = render(
      <WhatsAppProvider options={{ ...options(), baseUrl: `${server.baseUrl}/nowhere` }}>
        <Composer />
      </WhatsAppProvider>,
    )
    const refused = within(bad.container)
    fireEvent.click(refused.getByText('send'))
    await eventually(() => assert.equal(refused.getByTestId('send-error').textContent, '/nowhere/send'))
    assert.equal(refused.getByTestId('sending').textContent, 'false')
  })
})

describe('useConnection and useWhatsAppSocket', () => {
  test('status, QR, link and transport; the raw events', async () => {
    const events: WaEvent[] = []
    function Status(): ReactNode {
      const { status, qr, link, transport } = useConnection()
      return <p data-testid="conn">{`${link} ${transport ?? '-'} ${status?.state ?? '-'} ${qr ?? '-'}`}</p>
    }
    function Raw(): ReactNode {
      const { subscribe, connected } = useWhatsAppSocket()
      useEffect(() => subscribe((e) => events.push(e)), [subscribe])
      return <p data-testid="connected">{String(connected)}</p>
    }
    render(
      <WhatsAppProvider options={options()}>
        <Status />
        <Raw />
      </WhatsAppProvider>,
    )
    await eventually(() => assert.equal(screen.getByTestId('conn').textContent, 'live websocket open -'))
    await eventually(() => assert.equal(screen.getByTestId('connected').textContent, 'true'))
    server.emit('connection_status', { connected: false, state: 'qr', reason: null })
    server.emit('qr', { qr: '2@abc,def' })
    await eventually(() => assert.equal(screen.getByTestId('conn').textContent, 'live websocket qr 2@abc,def'))
    assert.ok(events.some((e) => e.type === 'connection_status' && e.envelope?.type === 'connection_status'))
    server.emit('connection_status', { connected: true, state: 'open', reason: null })
    await eventually(() => assert.equal(screen.getByTestId('conn').textContent, 'live websocket open -'))
    // The server goes away: the link says so.
    await server.stop()
    await eventually(() => assert.match(screen.getByTestId('conn').textContent ?? '', /^reconnecting /))
    assert.equal(screen.getByTestId('connected').textContent, 'false')
  })
})

/**
 * useHelpdesk: a chat's assignment, tags, status and notes, live from the orchestrator's stream
 * (over the WebSocket of server.ts), and from Supabase Realtime when the app passes its client
 * (here a small class with the shape of supabase-js's channel API).
 */
import './setup.js'
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { fireEvent, render, screen } from '@testing-library/react'
import type { Chat } from '@wa-helpdesk/client'
import type { ReactNode } from 'react'
import { type RealtimeChange, type RealtimeChangesFilter, type RealtimeChannelLike, type RealtimeLike, useHelpdesk, WhatsAppProvider } from '../src/index.js'
import { eventually, type FakeOrchestrator } from './server.js'
import { serveEachTest } from './each-test.js'

let server: FakeOrchestrator

serveEachTest((started) => {
  server = started
})

function options() {
  return { baseUrl: server.baseUrl, token: 'secret-token', transport: 'websocket' as const }
}

function Desk({ chatId, realtime, id = 'desk' }: { chatId: string; realtime?: RealtimeLike; id?: string }): ReactNode {
  const h = useHelpdesk(chatId, { realtime })
  return (
    <div data-testid={id} data-loading={String(h.loading)}>
      <p data-testid={`${id} assignment`}>{h.assignment ? `${h.assignment.agentId} (${h.assignment.agentName ?? '?'})` : 'nobody'}</p>
      <p data-testid={`${id} tags`}>{h.tags.map((t) => t.name).join(',')}</p>
      <p data-testid={`${id} status`}>{h.status}</p>
      <ol data-testid={`${id} notes`}>
        {h.notes.map((n) => (
          <li key={n.id}>{n.body}</li>
        ))}
      </ol>
      <p data-testid={`${id} error`}>{h.error?.message ?? ''}</p>
      <button type="button" onClick={() => void h.assign('agent-ana').catch(() => undefined)}>
        take {id}
      </button>
      <button type="button" onClick={() => void h.unassign().catch(() => undefined)}>
        release {id}
      </button>
      <button type="button" onClick={() => void h.setStatus('resolved').catch(() => undefined)}>
        resolve {id}
      </button>
      <button type="button" onClick={() => void h.addNote('called back, waiting on the invoice').catch(() => undefined)}>
        note {id}
      </button>
    </div>
  )
}

const text = (id: string): string => screen.getByTestId(id).textContent ?? ''

function someChat(): Chat {
  return server.chats[0]
}

describe('useHelpdesk from the stream', () => {
  test('notes from REST, then assignment, tags, status and notes as the stream tells them', async () => {
    const chat = someChat()
    server.notes.push({ id: 1, chatId: chat.id, authorId: 'agent-bia', body: 'first contact', createdAt: '2026-01-01T11:00:00.000Z' })
    render(
      <WhatsAppProvider options={options()}>
        <Desk chatId={chat.id} />
        <Desk chatId={chat.id} id="again" />
      </WhatsAppProvider>,
    )
    await eventually(() => assert.equal(text('desk notes'), 'first contact'))
    assert.equal(screen.getByTestId('desk').dataset.loading, 'false')
    assert.equal(text('desk assignment'), 'nobody')
    assert.equal(text('desk status'), 'open')
    assert.equal(server.count('GET', `/chats/${encodeURIComponent(chat.id)}/notes`), 1, 'one fetch for two components')
    await eventually(() => assert.equal(server.sockets.size, 1))

    server.emit('assignment_changed', { chatId: chat.id, assignment: { agentId: 'agent-bia', agentName: 'Bia', assignedBy: null, assignedAt: '2026-01-01T12:00:00Z' }, previousAgentId: null })
    server.emit('tags_changed', { chatId: chat.id, tags: [server.tags[1]] })
    server.emit('chat_update', { ...chat, status: 'pending', assignment: { agentId: 'agent-bia', agentName: 'Bia', assignedBy: null, assignedAt: '2026-01-01T12:00:00Z' }, tags: [server.tags[1]] })
    server.emit('note_added', { chatId: chat.id, note: { id: 7, chatId: chat.id, authorId: 'agent-bia', body: 'asked for the order number', createdAt: '2026-01-01T12:01:00.000Z' } })
    await eventually(() => assert.equal(text('desk assignment'), 'agent-bia (Bia)'))
    await eventually(() => assert.equal(text('desk notes'), 'first contactasked for the order number'))
    assert.equal(text('desk tags'), 'billing')
    assert.equal(text('desk status'), 'pending')
    assert.equal(text('again notes'), text('desk notes'))
  })

  test('the actions call the API and show its answers; a note is shown once', async () => {
    const chat = someChat()
    render(
      <WhatsAppProvider options={options()}>
        <Desk chatId={chat.id} />
      </WhatsAppProvider>,
    )
    await eventually(() => assert.equal(server.sockets.size, 1))
    await eventually(() => assert.equal(screen.getByTestId('desk').dataset.loading, 'false'))
    fireEvent.click(screen.getByText('take desk'))
    await eventually(() => assert.equal(text('desk assignment'), 'agent-ana (Ana)'))
    fireEvent.click(screen.getByText('resolve desk'))
    await eventually(() => assert.equal(text('desk status'), 'resolved'))
    // The server answers and announces the note (note_added): it is shown once.
    fireEvent.click(screen.getByText('note desk'))
    await eventually(() => assert.equal(text('desk notes'), 'called back, waiting on the invoice'))
    await eventually(() => assert.ok(server.sockets.size === 1))
    fireEvent.click(screen.getByText('release desk'))
    await eventually(() => assert.equal(text('desk assignment'), 'nobody'))
    assert.equal(screen.getByTestId('desk notes').children.length, 1)
    const calls = server.requests.filter((r) => r.method !== 'GET').map((r) => `${r.method} ${r.path.replace(encodeURIComponent(chat.id), '{chat}')} ${JSON.stringify(r.body ?? null)}`)
    assert.deepEqual(calls, [
      'PUT /chats/{chat}/assignment {"agentId":"agent-ana"}',
      'PUT /chats/{chat}/status {"status":"resolved"}',
      'POST /chats/{chat}/notes {"body":"called back, waiting on the invoice"}',
      'DELETE /chats/{chat}/assignment null',
    ])
  })
})

/** A Supabase Realtime client in miniature: channels of postgres_changes listeners the test feeds. */
class FakeRealtime implements RealtimeLike {
  readonly channels: FakeChannel[] = []
  readonly removed: FakeChannel[] = []

  channel(name: string): FakeChannel {
    const channel = new FakeChannel(name)
    this.channels.push(channel)
    return channel
  }

  removeChannel(channel: RealtimeChannelLike): Promise<'ok'> {
    this.removed.push(channel as FakeChannel)
    return Promise.resolve('ok')
  }

  /** A row change, to every subscribed channel listening to its table. */
  change(table: string, eventType: RealtimeChange['eventType'], row: Record<string, unknown>): void {
    const payload: RealtimeChange = { eventType, schema: 'public', table, commit_timestamp: new Date().toISOString(), new: eventType === 'DELETE' ? {} : row, old: eventType === 'DELETE' ? row : {}, errors: null }
    for (const channel of this.channels) {
      if (!channel.subscribed || this.removed.includes(channel)) continue
      for (const { filter, callback } of channel.listeners) {
        const [column, value] = (filter.filter ?? '').split('=eq.')
        if (filter.table === table && (!filter.filter || row[column] === value)) callback(payload)
      }
    }
  }
}

class FakeChannel implements RealtimeChannelLike {
  readonly listeners: { filter: RealtimeChangesFilter; callback: (payload: RealtimeChange) => void }[] = []
  subscribed = false
  constructor(readonly name: string) {}

  on(type: 'postgres_changes', filter: RealtimeChangesFilter, callback: (payload: RealtimeChange) => void): this {
    assert.equal(type, 'postgres_changes')
    assert.equal(this.subscribed, false, 'listeners are added before subscribe()')
    this.listeners.push({ filter, callback })
    return this
  }

  subscribe(): this {
    this.subscribed = true
    return this
  }
}

describe('useHelpdesk with Supabase Realtime', () => {
  test('the rows the app writes in Supabase show at once; one channel per chat; removed at unmount', async () => {
    const chat = someChat()
    const realtime = new FakeRealtime()
    const view = render(
      <WhatsAppProvider options={options()}>
        <Desk chatId={chat.id} realtime={realtime} />
        <Desk chatId={chat.id} realtime={realtime} id="again" />
      </WhatsAppProvider>,
    )
    await eventually(() => assert.equal(screen.getByTestId('desk').dataset.loading, 'false'))
    assert.equal(realtime.channels.length, 1)
    assert.deepEqual(realtime.channels[0].listeners.map((l) => [l.filter.table, l.filter.filter]), [
      ['chat_assignments', `chat_id=eq.${chat.id}`],
      ['chat_tags', `chat_id=eq.${chat.id}`],
      ['chat_notes', `chat_id=eq.${chat.id}`],
      ['chat_status', `chat_id=eq.${chat.id}`],
    ])

    realtime.change('chat_assignments', 'INSERT', { session: 'default', chat_id: chat.id, agent_id: 'agent-caio', assigned_by: 'agent-ana', assigned_at: '2026-01-01T13:00:00Z' })
    realtime.change('chat_tags', 'INSERT', { session: 'default', chat_id: chat.id, tag_id: 1 })
    realtime.change('chat_notes', 'INSERT', { session: 'default', id: 40, chat_id: chat.id, author_id: 'agent-caio', body: 'VIP: answer first', created_at: '2026-01-01T13:01:00Z' })
    realtime.change('chat_status', 'INSERT', { session: 'default', chat_id: chat.id, status: 'pending' })
    // Another session's rows of the same chat id are not this chat's.
    realtime.change('chat_status', 'UPDATE', { session: 'sales', chat_id: chat.id, status: 'resolved' })
    await eventually(() => assert.equal(text('desk assignment'), 'agent-caio (?)'))
    await eventually(() => assert.equal(text('desk tags'), 'vip'))
    assert.equal(text('desk notes'), 'VIP: answer first')
    assert.equal(text('desk status'), 'pending')
    assert.equal(text('again tags'), 'vip')
    assert.equal(server.count('GET', '/tags'), 1, 'the tag was named from GET /tags')

    realtime.change('chat_tags', 'DELETE', { session: 'default', chat_id: chat.id, tag_id: 1 })
    realtime.change('chat_assignments', 'DELETE', { session: 'default', chat_id: chat.id })
    realtime.change('chat_status', 'DELETE', { session: 'default', chat_id: chat.id })
    await eventually(() => assert.equal(text('desk assignment'), 'nobody'))
    assert.equal(text('desk tags'), '')
    assert.equal(text('desk status'), 'open')

    // The orchestrator's stream still counts: a later change there is shown too.
    await eventually(() => assert.equal(server.sockets.size, 1))
    server.emit('assignment_changed', { chatId: chat.id, assignment: { agentId: 'agent-bia', agentName: 'Bia', assignedBy: null, assignedAt: '2026-01-01T14:00:00Z' }, previousAgentId: null })
    await eventually(() => assert.equal(text('desk assignment'), 'agent-bia (Bia)'))

    view.unmount()
    assert.deepEqual(realtime.removed, realtime.channels)
  })
})

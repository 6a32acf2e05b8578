'use client'
// The plan's steps 9 and 10: "Migrar chat-window para WebSocket" and "Atualizar envio de
// mensagens".
//
// Before: SWR polled /api/whatsapp/messages/{chatId} every 5 s. Now useMessages() loads the
// newest page once through that same route (the server adds the token), then the stream keeps
// it current: new messages, edits, reactions and acks appear as they happen, each once.
// Sending goes through /api/whatsapp/send: the message shows at once as pending (🕓), then
// with WhatsApp's acks as the stream brings them (✓ sent, ✓✓ delivered, read).
import { useEffect, useMemo, useRef, useState, type FormEvent, type KeyboardEvent } from 'react'
import { useChats, useHelpdesk, useMessages, useSend } from '@wa-helpdesk/react'
import type { Message } from '@wa-helpdesk/client'
import { chatTitle, messageText, shortTime, ticks } from './format'

/** A message typed here and not yet answered by the backend (or refused by it). */
interface Outgoing {
  key: number
  chatId: string
  text: string
  /** The backend's id once it accepted the send: the cached copy takes over from then on. */
  messageId: string | null
  failed: string | null
}

export function ChatWindow({ chatId }: { chatId: string | null }) {
  if (!chatId) {
    return (
      <section className="chat-window empty" aria-label="Chat">
        <p className="hint">Pick a chat on the left.</p>
      </section>
    )
  }
  // A fresh window per chat: its scroll position, draft and outbox are that chat's.
  return <OpenChat key={chatId} chatId={chatId} />
}

function OpenChat({ chatId }: { chatId: string }) {
  const { chats } = useChats()
  const chat = chats.find((c) => c.id === chatId)
  const { messages, loading, error, hasOlder, loadOlder } = useMessages(chatId)
  const { send } = useSend()
  const [draft, setDraft] = useState('')
  const [outbox, setOutbox] = useState<Outgoing[]>([])
  const nextKey = useRef(1)
  const list = useRef<HTMLOListElement>(null)
  const stickToBottom = useRef(true)

  const shownIds = useMemo(() => new Set(messages.map((m) => m.id)), [messages])
  // An accepted send leaves the outbox once its message is in the cache (never a frame with
  // neither, never a frame with both).
  const pending = useMemo(() => outbox.filter((o) => o.messageId === null || !shownIds.has(o.messageId)), [outbox, shownIds])
  useEffect(() => {
    if (pending.length !== outbox.length) setOutbox(pending)
  }, [pending, outbox.length])

  // Follow new messages when the reader is at the bottom; leave them reading history otherwise.
  useEffect(() => {
    const el = list.current
    if (el && stickToBottom.current) el.scrollTop = el.scrollHeight
  }, [messages.length, pending.length])

  async function submit(text: string): Promise<void> {
    const key = nextKey.current++
    setOutbox((o) => [...o, { key, chatId, text, messageId: null, failed: null }])
    stickToBottom.current = true
    try {
      const message = await send({ chatId, text })
      setOutbox((o) => o.map((x) => (x.key === key ? { ...x, messageId: message.id } : x)))
    } catch (err) {
      const why = err instanceof Error ? err.message : String(err)
      setOutbox((o) => o.map((x) => (x.key === key ? { ...x, failed: why } : x)))
    }
  }

  function onSubmit(e: FormEvent): void {
    e.preventDefault()
    const text = draft.trim()
    if (!text) return
    setDraft('')
    void submit(text)
  }

  function onKeyDown(e: KeyboardEvent<HTMLTextAreaElement>): void {
    if (e.key === 'Enter' && !e.shiftKey) onSubmit(e)
  }

  return (
    <section className="chat-window" aria-label="Chat">
      <header className="chat-header">
        <h2 id="chat-title">{chatTitle(chat, chatId)}</h2>
        <HelpdeskSummary chatId={chatId} />
      </header>
      <ol
        id="message-list"
        ref={list}
        onScroll={(e) => {
          const el = e.currentTarget
          stickToBottom.current = el.scrollHeight - el.scrollTop - el.clientHeight < 40
        }}
      >
        {hasOlder ? (
          <li className="older">
            <button type="button" onClick={() => void loadOlder()}>Load older messages</button>
          </li>
        ) : null}
        {loading && messages.length === 0 ? <li className="hint">Loading messages…</li> : null}
        {error ? <li className="hint error">Could not load the messages: {error.message}</li> : null}
        {messages.map((m) => (
          <MessageItem key={m.id} message={m} inGroup={chat?.isGroup === true} />
        ))}
        {pending.map((o) => (
          // Not `.msg`: only the backend's messages are (they carry its id).
          <li key={`outgoing-${o.key}`} className={`bubble out outgoing${o.failed ? ' failed' : ''}`} data-status={o.failed ? 'failed' : 'sending'}>
            <p className="text">{o.text}</p>
            <span className="meta">
              {o.failed ? (
                <>
                  <span className="error">Not sent: {o.failed}</span>{' '}
                  <button type="button" onClick={() => setOutbox((x) => x.filter((y) => y.key !== o.key))}>Dismiss</button>
                </>
              ) : (
                <span className="ticks" role="img" aria-label="sending" title="sending">🕓</span>
              )}
            </span>
          </li>
        ))}
      </ol>
      <form className="composer" onSubmit={onSubmit}>
        <textarea
          id="composer-text"
          rows={2}
          placeholder="Type a message"
          aria-label="Message"
          value={draft}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={onKeyDown}
        />
        <button id="send" type="submit" disabled={!draft.trim()}>Send</button>
      </form>
    </section>
  )
}

function MessageItem({ message: m, inGroup }: { message: Message; inGroup: boolean }) {
  const [glyph, word] = ticks(m.ack)
  return (
    <li className={`bubble msg ${m.fromMe ? 'out' : 'in'}`} data-message-id={m.id} data-ack={m.ack} data-status={m.status ?? ''}>
      {inGroup && !m.fromMe && m.senderName ? <span className="sender">{m.senderName}</span> : null}
      <p className="text">{messageText(m)}</p>
      {m.reactions.length > 0 ? <span className="reactions">{m.reactions.map((r) => r.emoji).join(' ')}</span> : null}
      <span className="meta">
        {m.edited && !m.deleted ? <span className="edited">edited</span> : null}
        <time>{shortTime(m.timestamp)}</time>
        {m.fromMe ? (
          <span className={`ticks ack-${m.ack}`} role="img" aria-label={word} title={word}>{glyph}</span>
        ) : null}
      </span>
    </li>
  )
}

/**
 * The plan's section 5: Supabase Realtime stays for the helpdesk's metadata only. useHelpdesk()
 * keeps a chat's assignment, tags, status and notes live from the backend's stream; an app that
 * writes them in Supabase passes its supabase-js client, `useHelpdesk(chatId, { realtime:
 * supabase })`, and the same hook follows `chat_assignments`, `chat_tags`, `chat_notes` and
 * `chat_status` over Supabase Realtime instead of subscribing to each table by hand.
 */
function HelpdeskSummary({ chatId }: { chatId: string }) {
  const { assignment, tags, notes, status } = useHelpdesk(chatId)
  return (
    <p id="chat-meta" className="chat-meta" data-status={status}>
      <span className={`status-badge status-${status}`}>{status}</span>
      {assignment ? <span className="assignee">Assigned to {assignment.agentName ?? assignment.agentId}</span> : <span className="assignee">Unassigned</span>}
      {tags.map((t) => (
        <span key={t.id} className="tag">{t.name}</span>
      ))}
      {notes.length > 0 ? <span className="notes">{notes.length} note{notes.length === 1 ? '' : 's'}</span> : null}
    </p>
  )
}

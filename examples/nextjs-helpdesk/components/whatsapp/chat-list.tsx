'use client'
// The plan's step 8, "Migrar chat-list para WebSocket".
//
// The plan's version opened its own WebSocket and patched its state per frame type
// (`new_message`, `new_chat`, `message_ack`). useChats() reads the tab's one cache instead:
// the first list comes through /api/whatsapp/chats (the server adds the token), then every
// envelope that changes a chat (a message, a new chat, a read, an assignment) re-sorts it,
// coalesced so a burst renders once.
import { useMemo, useState } from 'react'
import { useChats } from '@wa-helpdesk/react'
import { chatTitle, messageText, shortTime, ticks } from './format'

export function ChatList({ selected, onSelect }: { selected: string | null; onSelect: (chatId: string) => void }) {
  const [search, setSearch] = useState('')
  const filters = useMemo(() => (search.trim() ? { search: search.trim() } : undefined), [search])
  const { chats, loading } = useChats(filters)

  return (
    <nav className="chat-list" aria-label="Chats">
      <input
        id="chat-search"
        type="search"
        placeholder="Search chats"
        aria-label="Search chats"
        value={search}
        onChange={(e) => setSearch(e.target.value)}
      />
      {loading && chats.length === 0 ? <p className="hint">Loading chats…</p> : null}
      {!loading && chats.length === 0 ? <p className="hint">No chats{search ? ' match' : ' yet'}.</p> : null}
      <ul id="chat-list">
        {chats.map((chat) => {
          const last = chat.lastMessage
          return (
            <li key={chat.id} data-chat-id={chat.id} data-last-message-id={last?.id ?? ''}>
              <button
                type="button"
                className="chat"
                aria-current={chat.id === selected ? 'true' : undefined}
                onClick={() => onSelect(chat.id)}
              >
                <span className="chat-top">
                  <span className="chat-name">{chatTitle(chat, chat.id)}</span>
                  <time className="chat-time">{chat.timestamp ? shortTime(chat.timestamp) : ''}</time>
                </span>
                <span className="chat-bottom">
                  <span className="preview">
                    {last?.fromMe ? <span className="ticks">{ticks(last.ack)[0]} </span> : null}
                    {last ? messageText(last) : ''}
                  </span>
                  {chat.unreadCount > 0 ? (
                    <span className="badge" aria-label={`${chat.unreadCount} unread`}>{chat.unreadCount}</span>
                  ) : null}
                </span>
              </button>
            </li>
          )
        })}
      </ul>
    </nav>
  )
}

'use client'
// The home page's two panes: the chat list, and the chat it opens.
import { useState } from 'react'
import { ChatList } from './chat-list'
import { ChatWindow } from './chat-window'
import { ConnectionStatus } from './connection-status'

export function Inbox() {
  const [open, setOpen] = useState<string | null>(null)
  return (
    <main className="inbox">
      <ConnectionStatus />
      <div className="panes">
        <ChatList selected={open} onSelect={setOpen} />
        <ChatWindow chatId={open} />
      </div>
    </main>
  )
}

// Small display helpers shared by the chat list and the chat window.
import type { Chat, Message } from '@wa-helpdesk/client'

/** A phone number from a JID when the chat has no name. */
export function chatTitle(chat: Chat | undefined, chatId: string): string {
  return chat?.name || chatId.replace(/@.*$/, '')
}

const KINDS: Record<string, string> = {
  image: '📷 Photo', video: '🎬 Video', audio: '🎵 Audio', document: '📄 Document', sticker: 'Sticker',
  location: '📍 Location', contact: '👤 Contact', poll: '📊 Poll', call: '📞 Call',
}

/** What a message says, or what it is when it says nothing (a photo without caption...). */
export function messageText(m: Message): string {
  if (m.deleted) return 'This message was deleted'
  return m.text || KINDS[m.type] || 'Message'
}

/** WhatsApp's ack: 0 error, 1 pending (not yet on WhatsApp's server), 2 sent, 3 delivered, 4 read, 5 played. */
const TICKS: Record<number, [glyph: string, word: string]> = {
  0: ['!', 'not sent'], 1: ['🕓', 'pending'], 2: ['✓', 'sent'], 3: ['✓✓', 'delivered'], 4: ['✓✓', 'read'], 5: ['✓✓', 'played'],
}

export function ticks(ack: number): [glyph: string, word: string] {
  return TICKS[ack] ?? ['', '']
}

/** hh:mm for today, the date otherwise. */
export function shortTime(unixSeconds: number): string {
  const at = new Date(unixSeconds * 1000)
  const today = new Date()
  return at.toDateString() === today.toDateString()
    ? at.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })
    : at.toLocaleDateString()
}

// Compiled by types.test.mjs (tsc --noEmit --strict): the client's declarations, the generated
// API types included, type-check, and a switch over every stream event type is exhaustive.
import type { Envelope, ErrorCode, Message, WaClient } from '../../orchestrator/static/wa-client'
import type { WaCache } from '../../orchestrator/static/wa-cache'

export function describe(envelope: Envelope): string {
  switch (envelope.type) {
    case 'connection_status': return envelope.data.state
    case 'qr': return envelope.data.qr
    case 'new_message':
    case 'message_update': return envelope.data.text ?? envelope.data.type
    case 'message_ack': return envelope.data.status
    case 'new_chat':
    case 'chat_update': return `${envelope.data.id} ${envelope.data.participants?.length ?? 0}`
    case 'chat_deleted': return envelope.data.mergedInto ?? envelope.data.id
    case 'contact_update': return envelope.data.notify ?? envelope.data.id
    case 'presence': return Object.keys(envelope.data.presences).join(',')
    case 'sync_progress': return String(envelope.data.progress)
    case 'resync': return envelope.data.reason
    case 'assignment_changed': return envelope.data.assignment?.agentId ?? 'released'
    case 'tags_changed': return envelope.data.tags.map((tag) => tag.name).join(',')
    case 'note_added': return envelope.data.note.body
    case 'label_update': return envelope.data.deleted ? '' : envelope.data.name
    case 'call': return `${envelope.data.kind} ${envelope.data.outcome}`
    case 'session_deleted': return `${envelope.session} ${envelope.data.sessionId} ${envelope.data.purged}`
    default: {
      const unhandled: never = envelope
      return unhandled
    }
  }
}

export async function newest(client: WaClient, cache: WaCache, chatId: string): Promise<Message | undefined> {
  const code: ErrorCode = 'chat_not_found'
  const messages = await client.messages(chatId)
  return messages.at(-1) ?? cache.messages(chatId).at(-1) ?? (code ? undefined : undefined)
}

export async function sessions(client: WaClient): Promise<string[]> {
  const listed = await client.sessions()
  const sent = await client.session(listed[0].id).send({ chatId: 'x@s.whatsapp.net', text: 'hi' })
  client.on('session_deleted', (d) => d.sessionId + String(d.purged))
  client.on('messages', ({ chatId, session }) => chatId + session)
  return client.allChats().map((chat) => `${chat.session}/${chat.id}/${sent.id}/${client.unread(chat.session)}`)
}

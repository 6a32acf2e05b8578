// Compiled by types.test.mjs (tsc --noEmit --strict): the client's declarations, the generated
// API types included, type-check, and a switch over every stream event type is exhaustive.
import type { ConversationStatus, Envelope, ErrorCode, HelpdeskChat, Message, WaClient } from '../dist/index.js'
import type { WaCache } from '../dist/index.js'

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
    case 'agent_presence': return `${envelope.data.name ?? envelope.data.userId} ${envelope.data.state ?? (envelope.data.online ? 'online' : 'offline')}`
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

export async function helpdesk(client: WaClient, chatId: string): Promise<string> {
  const scope = client.session('default')
  const agents = await scope.agents()
  const online = agents.filter((a) => a.online).map((a) => a.name ?? a.id)
  const taken = await scope.assign(chatId, agents[0].id)
  await client.unassign(chatId)
  const status: ConversationStatus = (await scope.setStatus(chatId, 'pending')).status
  const note = await client.addNote(chatId, 'private')
  const notes = await scope.notes(chatId)
  const counts = await scope.inboxCounts('open')
  await scope.setAgentPresence(chatId, 'typing')
  client.on('note_added', (d) => d.note.body + d.chatId)
  client.on('assignment_changed', (d) => d.assignment?.agentName ?? d.chatId)
  client.on('agent_presence', (p) => `${p.name ?? p.userId} ${p.online} ${p.state ?? ''}`)
  const chat: HelpdeskChat = await scope.adoptChat(chatId)
  scope.forgetChat(chatId)
  const tags = (await client.tags()).map((t) => `${t.name}:${counts.tags[String(t.id)] ?? 0}`)
  return [online, taken.assignment?.agentId, status, note.id, notes.length, counts.statuses.resolved, counts.mine, chat.status, tags].join()
}

export async function presence(client: WaClient, chatId: string, token: string): Promise<string[]> {
  client.setToken(token)
  const set = await client.setAgentPresence(chatId, 'typing')
  const agents = await client.session('default').agents()
  return [set.state ?? 'idle', ...agents.filter((a) => a.online).map((a) => `${a.name}: ${a.activity.map((x) => x.state).join(',')}`)]
}

// Compiled by types.test.mjs with types-check.ts: the helpdesk tools' calls (issue #16) on the
// client's declarations.
import type { WaClient } from '../dist/index.js'

export async function tools(client: WaClient): Promise<string> {
  const found = await client.search('pedido', { limit: 20, offset: 0 })
  const quoted = await client.session('default').message('x@s.whatsapp.net', '3EB0AB')
  const doc = await client.settings()
  doc.businessHours.week.sat.push({ start: '09:00', end: '13:00' })
  const saved = await client.session('default').saveSettings(doc)
  const reply = await client.saveQuickReply({ shortcut: 'oi', body: 'Olá, {name}!' })
  await client.saveQuickReply({ id: reply.id, shortcut: 'oi', body: 'Oi' })
  await client.deleteQuickReply(reply.id)
  const replies = await client.quickReplies()
  return `${found.messages.length} ${found.nextOffset ?? 'end'} ${quoted.text} ${saved.assignment.rule} ${replies.length}`
}

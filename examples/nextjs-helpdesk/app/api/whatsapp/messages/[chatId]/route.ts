// GET /api/whatsapp/messages/{chatId}?limit=&before= -> the backend's
// GET /chats/{chatId}/messages (a page, oldest first), with the server's token.
import { errorResponse, proxy, searchOf } from '@/lib/backend'

export const dynamic = 'force-dynamic'

export async function GET(request: Request, { params }: { params: Promise<{ chatId: string }> }): Promise<Response> {
  const { chatId } = await params
  let id: string
  try {
    // Whether the segment arrives decoded or not, the backend gets it encoded once
    // (a JID has no '%' of its own, so decoding twice changes nothing).
    id = decodeURIComponent(chatId)
  } catch {
    return errorResponse(400, 'bad_chat_id', 'the chat id is not a valid URL segment')
  }
  if (!id) return errorResponse(400, 'bad_chat_id', 'a chat id is required')
  return proxy(request, { method: 'GET', path: `/chats/${encodeURIComponent(id)}/messages`, search: searchOf(request) })
}

// POST /api/whatsapp/send -> the backend's POST /send (text, reply, media), with the server's
// token. The answer is the pending message; its acks come on the browser's stream.
import { proxy, refuseCrossSite } from '@/lib/backend'

export const dynamic = 'force-dynamic'

export async function POST(request: Request): Promise<Response> {
  const refused = refuseCrossSite(request)
  if (refused) return refused
  // The body goes on as it came: the backend checks it and its refusals (400 with the field)
  // come back to the browser as they are.
  return proxy(request, { method: 'POST', path: '/send', body: await request.text() })
}

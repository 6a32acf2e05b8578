// GET /api/whatsapp/chats?limit=&before= -> the backend's GET /chats, with the server's token.
// The plan, step 2: "Proxy direto para o backend (sem cache no Supabase)".
import { proxy, searchOf } from '@/lib/backend'

// Every call asks the backend: never prerendered, never cached.
export const dynamic = 'force-dynamic'

export async function GET(request: Request): Promise<Response> {
  return proxy(request, { method: 'GET', path: '/chats', search: searchOf(request) })
}

// GET or POST /api/whatsapp/stream-token -> a short-lived, read-only token for the browser's
// stream.
//
// The browser streams from the backend directly (WebSocket, long-poll fallback), and a browser
// cannot keep a secret: so this route, on the server, asks the backend (POST /auth/stream-token,
// with BACKEND_AUTH_TOKEN) for a token that can only read and stream, for one user, for a few
// minutes, and hands the browser that one. The browser's client asks again when the backend
// refuses an expired one.
import { callBackend, errorResponse, passOn, refuseCrossSite, streamTokenTtl, streamTokenUser } from '@/lib/backend'

export const dynamic = 'force-dynamic'

interface StreamToken {
  token: string
  expiresAt: number
}

function isStreamToken(value: unknown): value is StreamToken {
  const v = value as Partial<StreamToken> | null
  return typeof v?.token === 'string' && typeof v.expiresAt === 'number'
}

// Either method: `fetch('/api/whatsapp/stream-token')` as the packages' READMEs write it, or a
// POST. Never cached (dynamic, no-store), and never for another site's page.
export async function GET(request: Request): Promise<Response> {
  return mint(request)
}

export async function POST(request: Request): Promise<Response> {
  return mint(request)
}

async function mint(request: Request): Promise<Response> {
  const refused = refuseCrossSite(request)
  if (refused) return refused
  const userId = streamTokenUser(request)
  const body = JSON.stringify({ ttlSeconds: streamTokenTtl(), ...(userId ? { userId } : {}) })
  const answer = await callBackend(request, { method: 'POST', path: '/auth/stream-token', body })
  if (answer instanceof Response) return answer
  if (answer.status !== 201 && answer.status !== 200) {
    // The backend's refusal (an unknown user, a bad ttl) as it is.
    return passOn(answer)
  }
  const minted: unknown = JSON.parse(answer.text)
  if (!isStreamToken(minted)) return errorResponse(502, 'bad_backend_answer', 'the backend minted no stream token')
  // Only what the browser needs: the token and when it expires.
  const { token, expiresAt } = minted
  return Response.json({ token, expiresAt }, { headers: { 'Cache-Control': 'no-store' } })
}

// The server side of the plan's "API routes" step: where the backend is, the token this server
// uses with it, and one proxy that every /api/whatsapp/* route goes through.
//
// `server-only` makes importing this module from a client component a build error: the token
// cannot end up in a browser bundle by accident.
import 'server-only'

/** A dynamic lookup: `process.env.NAME` written out would be inlined by `next build` for the
 *  NEXT_PUBLIC_ names, and these must be read when a request comes (one build, any backend). */
function env(name: string): string | undefined {
  const value = process.env[name]?.trim()
  return value ? value : undefined
}

/** What the browser is told: public by nature (where to stream from), never the token. */
export interface PublicBackendConfig {
  /** NEXT_PUBLIC_BACKEND_URL: the backend's origin as the browser reaches it. */
  backendUrl: string
  /** NEXT_PUBLIC_BACKEND_WS_URL: its WebSocket base (default: backendUrl with http -> ws). */
  backendWsUrl: string
}

export function publicBackendConfig(): PublicBackendConfig | null {
  const backendUrl = env('NEXT_PUBLIC_BACKEND_URL')?.replace(/\/+$/, '')
  if (!backendUrl) return null
  const backendWsUrl = (env('NEXT_PUBLIC_BACKEND_WS_URL') ?? backendUrl.replace(/^http/, 'ws')).replace(/\/+$/, '')
  return { backendUrl, backendWsUrl }
}

interface Backend {
  url: string
  token: string
}

/** BACKEND_URL (default NEXT_PUBLIC_BACKEND_URL) and BACKEND_AUTH_TOKEN, or null if unset. */
function backend(): Backend | null {
  const url = (env('BACKEND_URL') ?? env('NEXT_PUBLIC_BACKEND_URL'))?.replace(/\/+$/, '')
  const token = env('BACKEND_AUTH_TOKEN')
  return url && token ? { url, token } : null
}

/** The backend's error shape (orchestrator/errors.py), for the failures that are this app's. */
export function errorResponse(status: number, code: string, message: string): Response {
  return Response.json({ error: { code, message } }, { status, headers: { 'Cache-Control': 'no-store' } })
}

/** How long a proxied call may take: the backend answers REST calls at once (a send waits for
 *  WhatsApp's server ack, a few seconds at worst). */
const BACKEND_TIMEOUT_MS = 30_000

export interface ProxyCall {
  method: 'GET' | 'POST'
  /** The backend path, already encoded (`/chats/123%40s.us/messages`). */
  path: string
  /** The query to pass on (the browser's, as it came). */
  search?: string
  /** A JSON body, passed on as it came. */
  body?: string
}

/** The backend's answer: its status and its JSON body (as text, to pass on unchanged). */
export interface BackendAnswer {
  status: number
  text: string
}

/**
 * Call the backend with the server-side token: its answer, or (a Response) this app's own error
 * when there is no answer to pass on (not configured, unreachable, not JSON). Nothing of the
 * browser's request goes with it but the query and the body (no cookies, no Authorization).
 */
export async function callBackend(request: Request, call: ProxyCall): Promise<BackendAnswer | Response> {
  const target = backend()
  if (!target) {
    return errorResponse(503, 'backend_not_configured', 'BACKEND_URL (or NEXT_PUBLIC_BACKEND_URL) and BACKEND_AUTH_TOKEN must be set on the server')
  }
  const headers: Record<string, string> = { Authorization: `Bearer ${target.token}`, Accept: 'application/json' }
  if (call.body !== undefined) headers['Content-Type'] = 'application/json'
  let answer: globalThis.Response
  try {
    answer = await fetch(`${target.url}${call.path}${call.search ?? ''}`, {
      method: call.method,
      headers,
      body: call.body,
      cache: 'no-store',
      redirect: 'manual',
      // The browser gave up (a closed tab, another page): so does this call.
      signal: AbortSignal.any([request.signal, AbortSignal.timeout(BACKEND_TIMEOUT_MS)]),
    })
  } catch (err) {
    // Neither the URL nor the headers in the message: nothing here may carry the token.
    const reason = err instanceof Error ? err.name : 'error'
    return errorResponse(502, 'backend_unreachable', `the backend did not answer (${reason})`)
  }
  const text = await answer.text()
  if (!isJson(text)) {
    return errorResponse(502, 'bad_backend_answer', `the backend answered HTTP ${answer.status} without JSON`)
  }
  return { status: answer.status, text }
}

/**
 * The plan's proxy: the backend's answer handed back as it is, its status and its JSON body
 * (an error's `{"error": {code, message}}` included), so the browser's client sees what it
 * would have seen from the backend. No other header of the backend's is passed on.
 */
export async function proxy(request: Request, call: ProxyCall): Promise<Response> {
  const answer = await callBackend(request, call)
  return answer instanceof Response ? answer : passOn(answer)
}

/** The backend's answer to the browser as it came: its status and its JSON body, never cached. */
export function passOn(answer: BackendAnswer): Response {
  return new Response(answer.text, {
    status: answer.status,
    headers: { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' },
  })
}

function isJson(text: string): boolean {
  try {
    JSON.parse(text)
    return true
  } catch {
    return false
  }
}

/**
 * A write asked for by another site's page (a form posted to this app, say) is refused: the
 * browser says where a request comes from (Sec-Fetch-Site), and only this app's own pages may
 * send or mint a token. Requests without the header (curl, a server) are not a browser's.
 */
export function refuseCrossSite(request: Request): Response | null {
  const site = request.headers.get('sec-fetch-site')
  if (site === 'cross-site' || site === 'same-site') {
    return errorResponse(403, 'cross_site_request', 'this route answers this app’s own pages only')
  }
  return null
}

/** A query string as the browser sent it (`?limit=50&before=...`), or ''. */
export function searchOf(request: Request): string {
  return new URL(request.url).search
}

/**
 * The helpdesk user whose view the browser's stream token carries. THIS IS WHERE A REAL APP
 * CHECKS ITS OWN SIGN-IN: return the signed-in user's id (their Supabase user id, which the
 * backend knows from its helpdesk profiles), and refuse the request when nobody is signed in.
 * The example has no sign-in: STREAM_TOKEN_USER_ID, or null for the token's own caller.
 */
export function streamTokenUser(_request: Request): string | null {
  return env('STREAM_TOKEN_USER_ID') ?? null
}

/** STREAM_TOKEN_TTL_SECONDS (the backend accepts 30..86400), default 900. */
export function streamTokenTtl(): number {
  const ttl = Number(env('STREAM_TOKEN_TTL_SECONDS') ?? 900)
  return Number.isInteger(ttl) ? ttl : 900
}

// The plan's step 4, "Cache local": the browser's in-memory cache of chats and messages.
//
// The plan sketches a `WhatsAppCache` class (a Map of chats, a list of messages per chat,
// updateChat, addMessage). That cache is @wa-helpdesk/client's WaClient: it keeps the chats and
// each opened chat's messages in memory, and applies the stream to them with the rules the
// sketch leaves out (each envelope once, messages keyed by id, acks only forward, an exact
// resume after a reconnection, a reload when the backend says `resync`). This module makes the
// tab's one client, wired the way this app needs:
// - REST reads and sends go through this app's /api/whatsapp/* routes (the server adds the
//   backend token): `proxy` below;
// - the stream goes to the backend directly, with a short-lived read-only token from
//   /api/whatsapp/stream-token: `getToken` below;
// - WebSocket first, then HTTP long-polling when WebSockets are blocked (the plan's fallback).
import { WaClient, type WaClientOptions } from '@wa-helpdesk/client'

/** Where the browser streams from (NEXT_PUBLIC_BACKEND_URL, NEXT_PUBLIC_BACKEND_WS_URL). */
export interface BackendEndpoints {
  backendUrl: string
  backendWsUrl: string
}

/**
 * The client's REST calls that this app's server routes answer (the plan's three routes):
 * the backend path with its query -> this app's route; anything else (the stream's position,
 * /status, the long-poll) goes to the backend with the stream token.
 */
export function proxyPath(path: string, method: string): string | undefined {
  const at = path.indexOf('?')
  const route = at < 0 ? path : path.slice(0, at)
  const query = at < 0 ? '' : path.slice(at)
  if (method === 'GET' && route === '/chats') return `/api/whatsapp/chats${query}`
  const messages = /^\/chats\/([^/]+)\/messages$/.exec(route)
  if (method === 'GET' && messages) return `/api/whatsapp/messages/${messages[1]}${query}`
  if (method === 'POST' && route === '/send') return '/api/whatsapp/send'
  return undefined
}

/** A fresh stream token from this app's server (never the backend's own token). */
export async function fetchStreamToken(): Promise<string> {
  const response = await fetch('/api/whatsapp/stream-token', { method: 'POST', cache: 'no-store' })
  const body: unknown = await response.json().catch(() => null)
  const token = (body as { token?: unknown } | null)?.token
  if (!response.ok || typeof token !== 'string') {
    const error = (body as { error?: { message?: string } } | null)?.error
    throw new Error(`no stream token: ${error?.message ?? `HTTP ${response.status}`}`)
  }
  return token
}

/** The options of the tab's one client. */
export function whatsAppClientOptions(endpoints: BackendEndpoints): WaClientOptions {
  return {
    baseUrl: endpoints.backendUrl,
    wsUrl: endpoints.backendWsUrl,
    transport: 'websocket',
    getToken: fetchStreamToken,
    proxy: proxyPath,
  }
}

/** The tab's cache: one client, one connection, whatever the number of components. */
export function createWhatsAppCache(endpoints: BackendEndpoints): WaClient {
  return new WaClient(whatsAppClientOptions(endpoints))
}

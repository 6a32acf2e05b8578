'use client'
// The plan's step 5, "Atualizar WhatsAppContext com WebSocket", and step 6, "Criar hook
// useWhatsAppSocket".
//
// The plan's context opened a WebSocket in a useEffect and set `isConnected` from
// `connection_status` frames; every component that wanted events opened its own socket. Here
// the context holds the tab's one client (lib/whatsapp-local-cache.ts): one connection, with
// reconnection, exact resume and the long-poll fallback, shared by every component through
// @wa-helpdesk/react's store. `useWhatsAppSocket()` is the plan's hook (the connection's state
// and a raw event subscription); `useWhatsApp()` keeps the old context's `isConnected`.
import { useEffect, useState, type ReactNode } from 'react'
import { WhatsAppProvider as WaProvider, useConnection, useWhatsAppSocket } from '@wa-helpdesk/react'
import type { ClientState, Status } from '@wa-helpdesk/client'
import { createWhatsAppCache, type BackendEndpoints } from '@/lib/whatsapp-local-cache'

export { useWhatsAppSocket }

export function WhatsAppProvider({ endpoints, children }: { endpoints: BackendEndpoints; children: ReactNode }) {
  // One client per tab, made once (a re-render must not open a second connection).
  const [client] = useState(() => createWhatsAppCache(endpoints))
  useEffect(() => {
    // A failure shows in the link state (useWhatsApp().link), not as an unhandled rejection.
    client.connect().catch(() => undefined)
    return () => client.close()
  }, [client])
  return <WaProvider client={client}>{children}</WaProvider>
}

export interface WhatsAppConnection {
  /** WhatsApp itself is linked and open (the plan's `isConnected`). */
  isConnected: boolean
  status: Status | null
  /** The QR to scan while WhatsApp is not linked. */
  qr: string | null
  /** This tab's link to the backend: live, reconnecting, ... */
  link: ClientState['link']
  /** What carries the stream now: 'websocket', or 'poll' when WebSockets are blocked. */
  transport: ClientState['transport']
}

export function useWhatsApp(): WhatsAppConnection {
  const { status, qr, link, transport } = useConnection()
  return { isConnected: status?.connected === true, status, qr, link, transport }
}

'use client'
// The connection as the plan's context showed it (`isConnected`), plus what the plan asks for
// in "Pontos de Atenção": reconnection, and HTTP polling as the fallback when WebSockets fail.
import { useWhatsApp } from '@/contexts/whatsapp-context'

const LINK_TEXT: Record<string, string> = {
  idle: 'Starting…',
  connecting: 'Connecting to the backend…',
  live: 'Live',
  reconnecting: 'Connection lost: reconnecting… Messages that arrive meanwhile will appear when it is back.',
  unauthorized: 'The backend refused this page’s stream token.',
  closed: 'Disconnected.',
}

export function ConnectionStatus() {
  const { isConnected, status, link, transport } = useWhatsApp()
  const carrier = link === 'live' ? (transport === 'poll' ? ' (HTTP polling: WebSockets are blocked)' : transport === 'websocket' ? ' (WebSocket)' : '') : ''
  return (
    <header
      id="wa-status"
      className={`status link-${link}`}
      data-link={link}
      data-transport={transport ?? ''}
      data-connected={isConnected ? 'true' : 'false'}
    >
      <span id="link-state" role="status">{LINK_TEXT[link] ?? link}{carrier}</span>
      <span id="wa-state">{status === null ? '' : isConnected ? 'WhatsApp connected' : `WhatsApp: ${status.state}`}</span>
    </header>
  )
}

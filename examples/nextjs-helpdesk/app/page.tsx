// The home page: the chat list, and the chat it opens.
//
// Rendered per request (connection()): the backend's public address is read from the
// environment when the page is served, not baked in by `next build`, so one build runs against
// any backend. Only public values cross to the browser here (where to stream from); the
// backend token stays in lib/backend.ts, on the server.
import { connection } from 'next/server'
import { WhatsAppProvider } from '@/contexts/whatsapp-context'
import { Inbox } from '@/components/whatsapp/inbox'
import { publicBackendConfig } from '@/lib/backend'

export default async function Home() {
  await connection()
  const endpoints = publicBackendConfig()
  if (!endpoints) {
    return (
      <main className="setup">
        <h1>Set the backend’s address</h1>
        <p>
          NEXT_PUBLIC_BACKEND_URL is not set. Copy <code>.env.example</code> to <code>.env.local</code>, fill it in,
          and restart <code>npm start</code>.
        </p>
      </main>
    )
  }
  return (
    <WhatsAppProvider endpoints={endpoints}>
      <Inbox />
    </WhatsAppProvider>
  )
}

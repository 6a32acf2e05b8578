import type { Metadata } from 'next'
import type { ReactNode } from 'react'
import './globals.css'

export const metadata: Metadata = {
  title: 'Helpdesk · WhatsApp',
  description: 'The migration plan’s helpdesk on the wa-helpdesk backend',
}

// No next/font/google: it downloads fonts at build time; the system's fonts do (globals.css).
export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  )
}

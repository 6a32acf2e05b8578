import type { NextConfig } from 'next'

const config: NextConfig = {
  // The browser talks to the backend (stream, long-poll) and to this app's /api/whatsapp/*
  // routes; nothing here needs Next's image optimizer (sharp) or a font download.
  images: { unoptimized: true },
  poweredByHeader: false,
  reactStrictMode: true,
}

export default config

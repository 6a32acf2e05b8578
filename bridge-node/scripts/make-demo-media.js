#!/usr/bin/env node
/**
 * Make the small real media files the demo capture's photos and documents point at
 * (scripts/demo-media/), once; they are committed, so this only reruns to change them.
 *
 *   node scripts/make-demo-media.js [--out scripts/demo-media]
 *
 * Deterministic and dependency-free: PNGs written with zlib (no image library needed), a
 * one-page PDF written by hand with a correct xref table. Distinct pixel sizes (landscape and
 * portrait) let the browser tests tell from naturalWidth/naturalHeight that the real bytes
 * arrived, not a placeholder.
 */
import fs from 'node:fs'
import path from 'node:path'
import zlib from 'node:zlib'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { parseArgs } from 'node:util'

/** The files, by name: what make-capture.js --demo references (DEMO_MEDIA there). */
export const PHOTOS = [
  { file: 'photo-landscape.png', width: 320, height: 240, sky: [88, 160, 230], ground: [70, 140, 60] },
  { file: 'photo-portrait.png', width: 240, height: 320, sky: [240, 170, 110], ground: [180, 120, 70] },
]
export const DOCUMENT = { file: 'invoice.pdf', pages: 1 }

const CRC_TABLE = Array.from({ length: 256 }, (_, n) => {
  let c = n
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
  return c >>> 0
})

/** @param {Buffer} buf */
function crc32(buf) {
  let c = 0xffffffff
  for (const b of buf) c = CRC_TABLE[(c ^ b) & 0xff] ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

/** @param {string} type @param {Buffer} data */
function chunk(type, data) {
  const len = Buffer.alloc(4)
  len.writeUInt32BE(data.length)
  const body = Buffer.concat([Buffer.from(type, 'ascii'), data])
  const crc = Buffer.alloc(4)
  crc.writeUInt32BE(crc32(body))
  return Buffer.concat([len, body, crc])
}

/**
 * A landscape: sky gradient, a sun, ground; RGB, 8 bits.
 * @param {{width: number, height: number, sky: number[], ground: number[]}} spec
 */
export function png({ width, height, sky, ground }) {
  const raw = Buffer.alloc((width * 3 + 1) * height)
  const horizon = Math.round(height * 0.62)
  const sun = { x: width * 0.72, y: height * 0.28, r: Math.min(width, height) * 0.12 }
  for (let y = 0; y < height; y++) {
    const row = y * (width * 3 + 1)
    raw[row] = 0 // filter: none
    for (let x = 0; x < width; x++) {
      let rgb
      if ((x - sun.x) ** 2 + (y - sun.y) ** 2 <= sun.r ** 2) rgb = [255, 226, 90]
      else if (y < horizon) rgb = sky.map((c) => Math.min(255, Math.round(c + (y / horizon) * 50)))
      else rgb = ground.map((c) => Math.max(0, Math.round(c - ((y - horizon) / (height - horizon)) * 40)))
      raw.set(rgb, row + 1 + x * 3)
    }
  }
  const header = Buffer.alloc(13)
  header.writeUInt32BE(width, 0)
  header.writeUInt32BE(height, 4)
  header.set([8, 2, 0, 0, 0], 8) // 8-bit, truecolour, deflate, no filter, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk('IHDR', header),
    chunk('IDAT', zlib.deflateSync(raw, { level: 9 })),
    chunk('IEND', Buffer.alloc(0)),
  ])
}

/** A one-page PDF invoice (PDF 1.4, Helvetica, byte-exact xref). */
export function pdf() {
  const text = [
    'BT /F1 20 Tf 72 760 Td (Acme Support - Invoice 10042) Tj ET',
    'BT /F1 12 Tf 72 730 Td (1 x Express delivery ........ 19.90) Tj ET',
    'BT /F1 12 Tf 72 712 Td (Total ....................... 19.90) Tj ET',
  ].join('\n')
  const objects = [
    '<< /Type /Catalog /Pages 2 0 R >>',
    '<< /Type /Pages /Kids [3 0 R] /Count 1 >>',
    '<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>',
    `<< /Length ${Buffer.byteLength(text)} >>\nstream\n${text}\nendstream`,
    '<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>',
  ]
  let out = '%PDF-1.4\n'
  const offsets = []
  for (const [i, body] of objects.entries()) {
    offsets.push(Buffer.byteLength(out))
    out += `${i + 1} 0 obj\n${body}\nendobj\n`
  }
  const xref = Buffer.byteLength(out)
  out += `xref\n0 ${objects.length + 1}\n0000000000 65535 f \n`
  for (const o of offsets) out += `${String(o).padStart(10, '0')} 00000 n \n`
  out += `trailer\n<< /Size ${objects.length + 1} /Root 1 0 R >>\nstartxref\n${xref}\n%%EOF\n`
  return Buffer.from(out, 'latin1')
}

function cli() {
  const here = path.dirname(fileURLToPath(import.meta.url))
  const { values } = parseArgs({ options: { out: { type: 'string', default: path.join(here, 'demo-media') } } })
  const out = /** @type {string} */ (values.out)
  fs.mkdirSync(out, { recursive: true })
  for (const photo of PHOTOS) fs.writeFileSync(path.join(out, photo.file), png(photo))
  fs.writeFileSync(path.join(out, DOCUMENT.file), pdf())
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) cli()

// Baseline for the history-ingest benchmark: the same history held the way Baileys' former
// in-memory store held it, as proto.WebMessageInfo objects in a Node process.
//   node --expose-gc tests/bench/baileys_memory.mjs CAPTURE
// Prints {"messages": n, "rssBytes", "heapBytes"}: the growth after a full GC.
import fs from 'node:fs'
import readline from 'node:readline'
import { createRequire } from 'node:module'

const require = createRequire(new URL('../../bridge-node/package.json', import.meta.url))
const { proto } = await import(require.resolve('@whiskeysockets/baileys'))
const { decode } = await import(new URL('../../bridge-node/src/codec.js', import.meta.url))

// The history line, as the bridge would receive it from WhatsApp: kept as text until measured.
const lines = readline.createInterface({ input: fs.createReadStream(process.argv[2]) })
let line = null
for await (const text of lines) {
  if (text.includes('"messaging-history.set"')) line = text
}
global.gc()
const before = process.memoryUsage()
// What Baileys' in-memory store held: the WebMessageInfo objects and everything they
// reference (their strings, Buffers and Longs); the parsed JSON itself is dropped.
let raw = JSON.parse(line).data.messages
const held = raw.map((m) => proto.WebMessageInfo.fromObject(decode(m)))
raw = null
global.gc()
const after = process.memoryUsage()
console.log(JSON.stringify({
  messages: held.length,
  rssBytes: after.rss - before.rss,
  heapBytes: after.heapUsed - before.heapUsed + (after.external - before.external),
}))

/**
 * The console (orchestrator/static/) serves copies of this package's build, committed so that
 * it runs without Node (the Docker image has no build step): a fresh build of src/ must give
 * exactly the committed copies (scripts/sync-console.mjs writes them).
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { PACKAGE, STATIC, consoleCopies } from '../scripts/sync-console.mjs'

test('the console files are copies of a fresh build (else: npm run build && npm run sync-console)', (t) => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-client-build-'))
  t.after(() => fs.rmSync(out, { recursive: true, force: true }))
  const tsc = path.join(PACKAGE, 'node_modules', '.bin', 'tsc')
  execFileSync(tsc, ['-p', PACKAGE, '--outDir', out], { encoding: 'utf8', stdio: 'pipe' })
  const copies = consoleCopies(out)
  assert.deepEqual([...copies.keys()].sort(), ['wa-api.d.ts', 'wa-cache.d.ts', 'wa-cache.js', 'wa-client.d.ts', 'wa-client.js'])
  for (const [name, text] of copies) {
    const committed = fs.readFileSync(path.join(STATIC, name), 'utf8')
    // One line's difference is enough to say where, without printing two 50 kB files.
    const line = text.split('\n').findIndex((l, i) => l !== committed.split('\n')[i])
    assert.ok(text === committed, `orchestrator/static/${name} differs from the build at line ${line + 1}: run \`npm run build && npm run sync-console\` in clients/js`)
  }
})

test('the console copy of wa-client.js imports the cache by a URL that works from /wa-client.js and /static/', () => {
  const client = fs.readFileSync(path.join(STATIC, 'wa-client.js'), 'utf8')
  assert.match(client, /^import \{[^}]*\} from '\.\.\/static\/wa-cache\.js';$/m)
  assert.doesNotMatch(client, /from '\.\/wa-cache\.js'/)
})

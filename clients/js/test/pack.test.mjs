/**
 * The package as an app gets it: `npm pack` (what `npm publish` would upload), installed from
 * the tarball into an empty project with no registry (--offline: no runtime dependencies to
 * fetch), imported from Node, and an import of it type-checked by tsc under both module
 * resolutions apps use (nodenext, bundler). Needs a build (npm run build) first.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import os from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { PACKAGE } from '../scripts/sync-console.mjs'

const TSC = path.join(PACKAGE, 'node_modules', '.bin', 'tsc')

/** @param {string} cwd @param {string} command @param {string[]} args */
function run(cwd, command, args) {
  try {
    return execFileSync(command, args, { cwd, encoding: 'utf8', stdio: 'pipe', env: { ...process.env, npm_config_update_notifier: 'false' } })
  } catch (err) {
    const failed = /** @type {{stdout: string, stderr: string}} */ (err)
    assert.fail(`${command} ${args.join(' ')}:\n${failed.stdout}\n${failed.stderr}`)
  }
}

test('npm pack, install the tarball offline into an empty project, import it, type-check an import', (t) => {
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wa-client-pack-'))
  t.after(() => fs.rmSync(tmp, { recursive: true, force: true }))

  const [packed] = JSON.parse(run(PACKAGE, 'npm', ['pack', '--json', '--pack-destination', tmp]))
  const files = packed.files.map((/** @type {{path: string}} */ f) => f.path).sort()
  assert.ok(files.includes('dist/index.js') && files.includes('dist/index.d.ts'), files.join())
  assert.deepEqual(files.filter((f) => !f.startsWith('dist/') && f !== 'package.json' && f !== 'README.md'), [], 'only dist/ (and package.json, README)')
  assert.equal(packed.name, '@wa-helpdesk/client')

  const app = path.join(tmp, 'app')
  fs.mkdirSync(app)
  fs.writeFileSync(path.join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }))
  run(app, 'npm', ['install', '--offline', '--no-audit', '--no-fund', path.join(tmp, packed.filename)])
  const installed = JSON.parse(fs.readFileSync(path.join(app, 'node_modules', '@wa-helpdesk', 'client', 'package.json'), 'utf8'))
  assert.deepEqual(installed.dependencies ?? {}, {}, 'no runtime dependencies')

  fs.writeFileSync(path.join(app, 'use.mjs'), `
import { WaClient, WaError, WaCache, mediaFromFile, ENVELOPE_TYPES } from '@wa-helpdesk/client'
const client = new WaClient({ baseUrl: 'http://backend.test', getToken: async () => 'token', wsUrl: 'ws://backend.test', proxy: () => undefined })
console.log(JSON.stringify({ client: client instanceof WaClient, error: new WaError(404, 'not_found', 'x').status, cache: new WaCache().chats().length, media: typeof mediaFromFile, types: ENVELOPE_TYPES.length }))
`)
  assert.deepEqual(JSON.parse(run(app, process.execPath, ['use.mjs'])), { client: true, error: 404, cache: 0, media: 'function', types: 19 })

  fs.writeFileSync(path.join(app, 'check.ts'), `
import { WaClient, WaError, mediaFromFile, type Chat, type ClientState, type Envelope, type Message, type WaClientOptions } from '@wa-helpdesk/client'
const options: WaClientOptions = {
  baseUrl: 'http://backend.test',
  wsUrl: 'ws://backend.test',
  transport: 'websocket',
  getToken: async () => (await fetch('/api/whatsapp/stream-token')).json().then((b: { token: string }) => b.token),
  proxy: (path: string, method: string) => (method === 'POST' && path === '/send' ? '/api/whatsapp/send' : undefined),
}
export async function use(file: File): Promise<string> {
  const client = new WaClient(options)
  client.on('new_message', (m: Message, e?: Envelope) => m.text ?? e?.id)
  client.on('client', (s: ClientState) => s.link)
  await client.connect()
  const chats: Chat[] = client.chats()
  const sent: Message = await client.send({ chatId: chats[0].id, media: await mediaFromFile(file) })
  const error: WaError = new WaError(0, 'network', 'down')
  return sent.id + error.code
}
`)
  for (const resolution of [['--module', 'nodenext', '--moduleResolution', 'nodenext'], ['--module', 'esnext', '--moduleResolution', 'bundler']]) {
    run(app, TSC, ['--noEmit', '--strict', '--target', 'es2022', '--lib', 'es2022,dom', ...resolution, 'check.ts'])
  }
})

/**
 * The package's TypeScript declarations (dist/*.d.ts) against the server's contract: wa-api.ts
 * is generated from the OpenAPI document (tests/test_routes.py checks it is up to date); here
 * tsc compiles files that use the built declarations with every stream event type
 * (types-check.ts, tools-check.ts), and the envelope types the cache handles are the ones the
 * server sends.
 */
import assert from 'node:assert/strict'
import { execFileSync } from 'node:child_process'
import fs from 'node:fs'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'
import { ENVELOPE_TYPES } from '../dist/wa-cache.js'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const PACKAGE = path.join(HERE, '..')

test('the declarations compile under --strict, and a switch over the envelope types is exhaustive', () => {
  const tsc = path.join(PACKAGE, 'node_modules', '.bin', 'tsc')
  const args = ['--noEmit', '--strict', '--target', 'es2022', '--module', 'esnext',
    '--moduleResolution', 'bundler', '--lib', 'es2022,dom', path.join(HERE, 'types-check.ts'),
    path.join(HERE, 'tools-check.ts')]
  try {
    execFileSync(tsc, args, { encoding: 'utf8', stdio: 'pipe' })
  } catch (err) {
    assert.fail(`tsc:\n${/** @type {{stdout: string}} */ (err).stdout}`)
  }
})

test('the cache handles exactly the envelope types the server sends', () => {
  const generated = fs.readFileSync(path.join(PACKAGE, 'src', 'wa-api.ts'), 'utf8')
  const line = generated.split('\n').find((l) => l.startsWith('export type EventType = '))
  assert.ok(line, 'wa-api.ts declares EventType')
  const types = [...line.matchAll(/'([a-z_]+)'/g)].map((m) => m[1])
  assert.deepEqual([...ENVELOPE_TYPES].sort(), types.sort())
})

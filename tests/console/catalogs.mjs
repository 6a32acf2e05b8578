/** The console's message catalogs for node tests: load them from disk into i18n.js. */
import { readFileSync } from 'node:fs'
import { setCatalog, useLocale } from '../../orchestrator/static/i18n.js'

const STATIC = new URL('../../orchestrator/static/', import.meta.url)

/** @param {string} name a locale: en, pt-BR */
export function readCatalog(name) {
  return JSON.parse(readFileSync(new URL(`messages.${name}.json`, STATIC), 'utf-8'))
}

/** Load English (and `name`'s catalog) and use `name`. @param {string} [name] */
export function speak(name = 'en') {
  setCatalog('en', readCatalog('en'))
  if (name !== 'en') setCatalog(name, readCatalog(name))
  useLocale(name)
}

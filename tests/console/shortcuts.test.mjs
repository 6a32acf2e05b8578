/** shortcuts.js: which key press is which action, inside and outside a text box. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { SHORTCUTS, shortcutFor } from '../../orchestrator/static/shortcuts.js'
import { readCatalog } from './catalogs.mjs'

/** @param {string} key @param {{altKey?: boolean, ctrlKey?: boolean, metaKey?: boolean, isComposing?: boolean}} [mods] */
const press = (key, mods = {}) => ({ key, altKey: false, ctrlKey: false, metaKey: false, ...mods })

describe('shortcutFor', () => {
  test('single keys act outside a text box, and only there', () => {
    const outside = ['j', 'k', 'u', 'r', '/', 't', 'e', 'n', '?'].map((key) => shortcutFor(press(key), false))
    assert.deepEqual(outside, ['nextChat', 'previousChat', 'nextUnread', 'reply', 'search', 'take', 'resolve', 'note', 'help'])
    for (const key of ['j', 'u', 'e', '?', '/']) assert.equal(shortcutFor(press(key), true), null, key)
  })

  test('Alt+arrows and Escape act from a text box too: the composer is never a trap', () => {
    assert.equal(shortcutFor(press('ArrowDown', { altKey: true }), true), 'nextChat')
    assert.equal(shortcutFor(press('ArrowUp', { altKey: true }), true), 'previousChat')
    assert.equal(shortcutFor(press('Escape'), true), 'leave')
    assert.equal(shortcutFor(press('ArrowDown'), false), null, 'a bare arrow is the list\'s own')
  })

  test("Ctrl and Meta combinations, other Alt keys and an IME's composition are not shortcuts", () => {
    assert.equal(shortcutFor(press('j', { ctrlKey: true }), false), null)
    assert.equal(shortcutFor(press('e', { metaKey: true }), false), null)
    assert.equal(shortcutFor(press('j', { altKey: true }), false), null)
    assert.equal(shortcutFor(press('j', { isComposing: true }), false), null)
    assert.equal(shortcutFor(press('J'), false), null, 'Shift+j is a capital, not a shortcut')
  })

  test('every action is described in both languages, and no key does two things', () => {
    for (const name of ['en', 'pt-BR']) {
      const catalog = readCatalog(name)
      for (const { action } of SHORTCUTS) assert.equal(typeof catalog[`keys.do.${action}`], 'string', `${name}: keys.do.${action}`)
    }
    const keys = SHORTCUTS.flatMap((s) => s.keys)
    assert.equal(new Set(keys).size, keys.length)
  })
})

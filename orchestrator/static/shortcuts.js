/**
 * The console's keyboard shortcuts: which key does what (`shortcutFor`, pure), and the "?"
 * dialog that lists them. Single keys act only outside text boxes, so typing never triggers
 * one; Alt+↓/Alt+↑ (next, previous chat) and Escape (leave the text box) work from inside
 * them too, so an agent in the composer is never stuck there. Ctrl and Meta combinations are
 * the browser's and the screen reader's.
 */
import { h } from './dom.js'
import { t } from './i18n.js'

/** @typedef {'nextChat'|'previousChat'|'nextUnread'|'reply'|'search'|'take'|'resolve'|'note'|'help'|'leave'} Action */

/** Each action, its keys as shown in the dialog, and as KeyboardEvent.key values. */
export const SHORTCUTS = /** @type {{action: Action, keys: string[]}[]} */ ([
  { action: 'nextChat', keys: ['j', 'Alt+ArrowDown'] },
  { action: 'previousChat', keys: ['k', 'Alt+ArrowUp'] },
  { action: 'nextUnread', keys: ['u'] },
  { action: 'reply', keys: ['r'] },
  { action: 'search', keys: ['/'] },
  { action: 'take', keys: ['t'] },
  { action: 'resolve', keys: ['e'] },
  { action: 'note', keys: ['n'] },
  { action: 'help', keys: ['?'] },
  { action: 'leave', keys: ['Escape'] },
])

/** Keys that act from inside a text box too. */
const ANYWHERE = new Set(['Alt+ArrowDown', 'Alt+ArrowUp', 'Escape'])

/** @type {Map<string, Action>} */
const BY_KEY = new Map(SHORTCUTS.flatMap(({ action, keys }) => keys.map((key) => /** @type {[string, Action]} */ ([key, action]))))

/**
 * The action a key press asks for, or null.
 * @param {{key: string, altKey: boolean, ctrlKey: boolean, metaKey: boolean, isComposing?: boolean}} e
 * @param {boolean} inTextBox the focus is in an input, a textarea, a select or an editable element
 * @returns {Action|null}
 */
export function shortcutFor(e, inTextBox) {
  if (e.ctrlKey || e.metaKey || e.isComposing) return null
  const key = e.altKey ? `Alt+${e.key}` : e.key
  if (inTextBox && !ANYWHERE.has(key)) return null
  return BY_KEY.get(key) ?? null
}

/** Whether an element takes typed text (a single key there is a letter, not a shortcut). @param {Element|null} el */
export function takesText(el) {
  if (!el) return false
  if (el instanceof HTMLElement && el.isContentEditable) return true
  if (el.tagName === 'TEXTAREA' || el.tagName === 'SELECT') return true
  if (el.tagName !== 'INPUT') return false
  const type = /** @type {HTMLInputElement} */ (el).type
  return !['button', 'checkbox', 'radio', 'submit', 'reset', 'file', 'color', 'range', 'image'].includes(type)
}

/** A key's name as the dialog shows it. @param {string} key */
function keyLabel(key) {
  return key
    .split('+')
    .map((part) => ({ ArrowDown: '↓', ArrowUp: '↑', Escape: t('keys.escape'), Alt: 'Alt' })[part] ?? part)
    .join('+')
}

/**
 * Fill the "?" dialog: a table of every shortcut, in the language in use, and a close button.
 * @param {HTMLDialogElement} dialog
 */
export function renderHelp(dialog) {
  const close = h('button', { type: 'button', class: 'ghost small', 'aria-label': t('keys.close'), onclick: () => dialog.close() }, '✕')
  dialog.replaceChildren(
    h('header', { class: 'shortcuts-head' }, h('h2', { id: 'shortcuts-title' }, t('keys.title')), close),
    h('p', { class: 'muted' }, t('keys.intro')),
    h(
      'table',
      { class: 'shortcuts-table' },
      h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('keys.key')), h('th', { scope: 'col' }, t('keys.action')))),
      h(
        'tbody',
        {},
        ...SHORTCUTS.map(({ action, keys }) =>
          h(
            'tr',
            { dataset: { action } },
            h('td', {}, ...keys.flatMap((key, i) => [i ? ` ${t('keys.or')} ` : null, h('kbd', {}, keyLabel(key))])),
            h('td', {}, t(`keys.do.${action}`)),
          ),
        ),
      ),
    ),
  )
}

/**
 * The console's two DOM helpers, shared by app.js and its helpdesk modules.
 */

/** An element of the page by id. @param {string} id */
export const $ = (id) => /** @type {HTMLElement} */ (document.getElementById(id))

/**
 * Tiny element builder. Children: nodes or strings (as text, never markup). Attributes:
 * `class`, `dataset`, `on*` handlers, anything else via setAttribute (false/null skips it).
 * @param {string} tag @param {Record<string, any>} [attrs] @param {...(Node|string|null|false|undefined)} children
 */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue
    if (k === 'class') el.className = v
    else if (k === 'dataset') Object.assign(el.dataset, v)
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children) if (c !== null && c !== false && c !== undefined) el.append(c)
  return el
}

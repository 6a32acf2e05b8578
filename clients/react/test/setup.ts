/**
 * A DOM for React in Node (jsdom), installed as globals before react-dom loads: import this
 * first. React schedules renders as in a browser (IS_REACT_ACT_ENVIRONMENT stays unset): the
 * store's coalescing is what the render counts measure, not act()'s batching.
 */
import { JSDOM } from 'jsdom'

const dom = new JSDOM('<!doctype html><html><body></body></html>', { url: 'http://localhost/', pretendToBeVisual: true })
const globals = globalThis as unknown as Record<string, unknown>
const window = dom.window as unknown as Record<string, unknown>
// Node's own (fetch, timers, URL, ...) stay; the DOM's are added.
for (const key of Object.getOwnPropertyNames(dom.window)) {
  if (!key.startsWith('_') && !(key in globalThis)) globals[key] = window[key]
}
globals.window = dom.window
globals.document = dom.window.document

/** Stop the DOM's timers (its animation frames) so that the test process can end. */
export function closeDom(): void {
  dom.window.close()
}

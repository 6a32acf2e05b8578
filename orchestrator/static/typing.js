/**
 * Typing indicators, both ways, as pure logic (no DOM, no timers, no clock: the caller passes
 * `now` in ms), so node --test can drive them (tests/console/typing.test.mjs).
 *
 * - Outgoing: `TypingNotifier` says when the console should send `composing` while an agent
 *   types (at most one per `throttleMs`: WhatsApp shows it for about 25 s after each) and
 *   `paused` once they stop (`idleMs` without a keystroke) or send.
 * - Incoming: `typingLabel` turns a chat's `presence` data into "typing…" / "recording
 *   audio…" (in the console's language; "2 people typing…" in a group), or null once the contact
 *   paused, went available/unavailable, or nothing came for `TYPING_TIMEOUT_MS` (a lost `paused`
 *   must not leave a chat typing forever).
 */
import { t } from './i18n.js'

export const COMPOSING_EVERY_MS = 5000
export const PAUSED_AFTER_MS = 3000
export const TYPING_TIMEOUT_MS = 25000

/** @typedef {'composing'|'paused'} OutgoingState */

export class TypingNotifier {
  /** @param {{throttleMs?: number, idleMs?: number}} [o] */
  constructor({ throttleMs = COMPOSING_EVERY_MS, idleMs = PAUSED_AFTER_MS } = {}) {
    this.throttleMs = throttleMs
    this.idleMs = idleMs
    /** @type {string|null} the chat we last told `composing`, until we tell it `paused` */
    this.chatId = null
    this.sentAt = -Infinity
    this.typedAt = -Infinity
  }

  /**
   * A keystroke in `chatId`'s composer. What to send, in order: a `paused` for another chat
   * the agent left while composing, then `composing` when none went out in the last
   * `throttleMs`.
   * @param {string} chatId @param {number} now
   * @returns {{chatId: string, state: OutgoingState}[]}
   */
  typed(chatId, now) {
    /** @type {{chatId: string, state: OutgoingState}[]} */
    const out = []
    if (this.chatId !== null && this.chatId !== chatId) out.push(...this.stop())
    this.typedAt = now
    if (this.chatId !== chatId || now - this.sentAt >= this.throttleMs) {
      this.chatId = chatId
      this.sentAt = now
      out.push({ chatId, state: 'composing' })
    }
    return out
  }

  /**
   * Time passed: `paused` once the agent has not typed for `idleMs`.
   * @param {number} now @returns {{chatId: string, state: OutgoingState}[]}
   */
  tick(now) {
    if (this.chatId === null || now - this.typedAt < this.idleMs) return []
    return this.stop()
  }

  /** When `tick` has something to say, if nothing is typed meanwhile (null: nothing pending). */
  get dueAt() {
    return this.chatId === null ? null : this.typedAt + this.idleMs
  }

  /**
   * The message went out, the chat was closed or left: `paused` if we said `composing`.
   * @returns {{chatId: string, state: OutgoingState}[]}
   */
  stop() {
    const chatId = this.chatId
    this.chatId = null
    this.sentAt = -Infinity
    return chatId === null ? [] : [{ chatId, state: 'paused' }]
  }
}

/**
 * What a chat shows while someone in it types: recording wins over typing; with more than one
 * participant doing it, how many.
 * @param {Record<string, {lastKnownPresence?: string}>|null|undefined} presences the chat's
 *   latest `presence` data (participant jid -> presence)
 * @param {number|undefined} receivedAt when it arrived (ms)
 * @param {number} now
 * @param {number} [timeoutMs]
 * @returns {string|null}
 */
export function typingLabel(presences, receivedAt, now, timeoutMs = TYPING_TIMEOUT_MS) {
  if (!presences || receivedAt === undefined || now - receivedAt >= timeoutMs) return null
  const states = Object.values(presences).map((p) => p?.lastKnownPresence)
  const recording = states.filter((s) => s === 'recording').length
  if (recording) return t('typing.recording', { count: recording })
  const composing = states.filter((s) => s === 'composing').length
  if (composing) return t('typing.typing', { count: composing })
  return null
}

/** typing.js: when the console sends composing/paused, and what a chat shows while a contact types. */
import assert from 'node:assert/strict'
import { describe, test } from 'node:test'
import { COMPOSING_EVERY_MS, PAUSED_AFTER_MS, TYPING_TIMEOUT_MS, TypingNotifier, typingLabel } from '../../orchestrator/static/typing.js'
import { speak } from './catalogs.mjs'

speak('en')

const A = '5511911110001@s.whatsapp.net'
const B = '5511922220002@s.whatsapp.net'
const C = '5511933330003@s.whatsapp.net'

describe('TypingNotifier', () => {
  test('composing at the first keystroke, then at most one per 5 s of continuous typing', () => {
    const n = new TypingNotifier()
    const sent = []
    // A keystroke every 150 ms for 12 s.
    for (let t = 0; t <= 12_000; t += 150) sent.push(...n.typed(A, t).map((s) => ({ ...s, t })))
    assert.deepEqual(sent, [
      { chatId: A, state: 'composing', t: 0 },
      { chatId: A, state: 'composing', t: 5100 },
      { chatId: A, state: 'composing', t: 10200 },
    ])
    assert.equal(COMPOSING_EVERY_MS, 5000)
  })

  test('paused once the agent stops typing for a few seconds, and nothing before', () => {
    const n = new TypingNotifier()
    assert.deepEqual(n.typed(A, 1000), [{ chatId: A, state: 'composing' }])
    n.typed(A, 2000)
    assert.equal(n.dueAt, 2000 + PAUSED_AFTER_MS)
    assert.deepEqual(n.tick(2000 + PAUSED_AFTER_MS - 1), [])
    assert.deepEqual(n.tick(2000 + PAUSED_AFTER_MS), [{ chatId: A, state: 'paused' }])
    assert.equal(n.dueAt, null)
    assert.deepEqual(n.tick(99_999), [], 'paused once')
    // Typing again after the pause: composing at once, not throttled by the earlier one.
    assert.deepEqual(n.typed(A, 6000), [{ chatId: A, state: 'composing' }])
  })

  test('sending (or closing the chat) pauses at once; with nothing composed there is nothing to say', () => {
    const n = new TypingNotifier()
    assert.deepEqual(n.stop(), [])
    n.typed(A, 0)
    assert.deepEqual(n.stop(), [{ chatId: A, state: 'paused' }])
    assert.deepEqual(n.stop(), [])
    assert.deepEqual(n.typed(A, 100), [{ chatId: A, state: 'composing' }])
  })

  test('moving to another chat while composing pauses the first and composes in the second', () => {
    const n = new TypingNotifier()
    n.typed(A, 0)
    assert.deepEqual(n.typed(B, 1000), [
      { chatId: A, state: 'paused' },
      { chatId: B, state: 'composing' },
    ])
    assert.deepEqual(n.tick(1000 + PAUSED_AFTER_MS), [{ chatId: B, state: 'paused' }])
  })
})

describe('typingLabel', () => {
  const now = 100_000
  test('composing is typing, recording is recording audio, from any participant', () => {
    assert.equal(typingLabel({ [A]: { lastKnownPresence: 'composing' } }, now, now), 'typing…')
    assert.equal(typingLabel({ [A]: { lastKnownPresence: 'recording' } }, now, now), 'recording audio…')
    assert.equal(typingLabel({ [A]: { lastKnownPresence: 'available' }, [B]: { lastKnownPresence: 'composing' } }, now, now), 'typing…')
    assert.equal(typingLabel({ [A]: { lastKnownPresence: 'composing' }, [B]: { lastKnownPresence: 'recording' } }, now, now), 'recording audio…')
  })

  test('cleared by paused (available), unavailable, nothing known, or the timeout', () => {
    assert.equal(typingLabel({ [A]: { lastKnownPresence: 'available' } }, now, now), null)
    assert.equal(typingLabel({ [A]: { lastKnownPresence: 'unavailable' } }, now, now), null)
    assert.equal(typingLabel({ [A]: {} }, now, now), null)
    assert.equal(typingLabel(null, now, now), null)
    assert.equal(typingLabel({ [A]: { lastKnownPresence: 'composing' } }, undefined, now), null)
    const composing = { [A]: { lastKnownPresence: 'composing' } }
    assert.equal(typingLabel(composing, now - TYPING_TIMEOUT_MS + 1, now), 'typing…')
    assert.equal(typingLabel(composing, now - TYPING_TIMEOUT_MS, now), null)
  })

  test('in a group, how many type or record', () => {
    const composing = { lastKnownPresence: 'composing' }
    const recording = { lastKnownPresence: 'recording' }
    assert.equal(typingLabel({ [A]: composing, [B]: composing }, now, now), '2 people typing…')
    assert.equal(typingLabel({ [A]: recording, [B]: recording, [C]: composing }, now, now), '2 people recording audio…')
  })

  test('in pt-BR: one person, two people, several', () => {
    const composing = { lastKnownPresence: 'composing' }
    const recording = { lastKnownPresence: 'recording' }
    speak('pt-BR')
    try {
      assert.equal(typingLabel({ [A]: composing }, now, now), 'digitando…')
      assert.equal(typingLabel({ [A]: composing, [B]: composing }, now, now), '2 pessoas digitando…')
      assert.equal(typingLabel({ [A]: composing, [B]: composing, [C]: composing }, now, now), '3 pessoas digitando…')
      assert.equal(typingLabel({ [A]: recording, [B]: composing }, now, now), 'gravando áudio…')
      assert.equal(typingLabel({ [A]: recording, [B]: recording, [C]: recording }, now, now), '3 pessoas gravando áudio…')
      assert.equal(typingLabel({ [A]: { lastKnownPresence: 'available' } }, now, now), null)
    } finally {
      speak('en')
    }
  })
})

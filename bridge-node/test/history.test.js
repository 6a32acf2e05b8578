import assert from 'node:assert/strict'
import { test } from 'node:test'
import { historyOptions } from '../src/history.js'

test('full asks for the whole history and accepts FULL chunks, which Baileys refuses by default', () => {
  const o = historyOptions('full')
  assert.equal(o.syncFullHistory, true)
  assert.equal(o.shouldSyncHistoryMessage?.(), true)
})

test('recent keeps Baileys own chunk filter; none refuses every chunk', () => {
  assert.deepEqual(historyOptions('recent'), { syncFullHistory: false })
  const none = historyOptions('none')
  assert.equal(none.syncFullHistory, false)
  assert.equal(none.shouldSyncHistoryMessage?.(), false)
})

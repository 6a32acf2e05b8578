/**
 * What the first history sync brings (BRIDGE_HISTORY), as Baileys socket options.
 *
 * Baileys 7.0.0-rc14 (Defaults/index.js, Socket/chats.js, Utils/validate-connection.js):
 * - `syncFullHistory` goes into the companion's DeviceProps at pairing (`requireFullSync`):
 *   it is what asks the phone for the whole history, so it only matters on a new link;
 * - `shouldSyncHistoryMessage(notification)` decides which history chunks are downloaded
 *   and emitted; its default refuses FULL chunks, so `full` must accept them as well;
 * - refusing every type also skips the 20 s wait for the first sync, but loses the LID
 *   mappings the initial chunks carry (Baileys warns about it at start).
 */

/** @typedef {'full'|'recent'|'none'} HistoryMode */

export const HISTORY_MODES = Object.freeze(/** @type {HistoryMode[]} */ (['full', 'recent', 'none']))

/**
 * Socket options for a history mode (spread into makeWASocket's config). `recent` leaves
 * Baileys' own chunk filter in place.
 * @param {HistoryMode} mode
 * @returns {{syncFullHistory: boolean, shouldSyncHistoryMessage?: () => boolean}}
 */
export function historyOptions(mode) {
  if (mode === 'full') return { syncFullHistory: true, shouldSyncHistoryMessage: () => true }
  if (mode === 'none') return { syncFullHistory: false, shouldSyncHistoryMessage: () => false }
  return { syncFullHistory: false }
}

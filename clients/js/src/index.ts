/**
 * @wa-helpdesk/client: the orchestrator's client (wa-client.ts) and its cache (wa-cache.ts),
 * with the API's shapes generated from the server's OpenAPI document (wa-api.ts).
 */
export * from './wa-client.js'
export {
  DEFAULT_SESSION,
  ENVELOPE_TYPES,
  PAGE_SIZE,
  SEEN_IDS,
  WaCache,
  compareMessages,
  insertSorted,
  noChanges,
  sortMessages,
} from './wa-cache.js'
// The cache's MessageList (a loaded chat's messages) is not the API's (GET .../messages's answer).
export type { Changes, MessageList as CachedMessageList, Presences, Snapshot } from './wa-cache.js'

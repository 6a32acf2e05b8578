'use client'

/**
 * @wa-helpdesk/react: React 18/19 bindings for @wa-helpdesk/client. One WhatsAppProvider holds
 * one client connection and one store; the hooks read slices of it and re-render only when
 * their slice changes, with changes gathered per frame. See README.md.
 *
 * 'use client': the provider and the hooks are client components for Next.js's App Router.
 */
export { WhatsAppProvider, useWaStore, type WhatsAppProviderProps } from './provider.js'
export {
  filterChats,
  useChats,
  useConnection,
  useHelpdesk,
  useMessages,
  useSend,
  useWhatsAppSocket,
  type ChatFilters,
  type Chats,
  type Connection,
  type Helpdesk,
  type Messages,
  type Send,
  type WaEvent,
  type WhatsAppSocket,
} from './hooks.js'
export {
  HELPDESK_TABLES,
  patchFromRow,
  type HelpdeskPatch,
  type HelpdeskTable,
  type RealtimeChange,
  type RealtimeChangesFilter,
  type RealtimeChannelLike,
  type RealtimeLike,
} from './realtime.js'
export { WaStore, type ConnectionSlice, type ConversationStatus, type MessagesSlice, type MetaSlice, type NotesSlice, type Scope, type StoreOptions } from './store.js'

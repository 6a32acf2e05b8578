/**
 * Supabase Realtime, structurally: apps that keep Supabase for the helpdesk metadata (the
 * migration plan keeps assignments, tags and notes there) pass their supabase-js client as
 * `realtime`, and useHelpdesk() follows the rows of that chat. Only the few members used here
 * are named, so this package depends on no Supabase package.
 */
import type { Assignment, Note } from '@wa-helpdesk/client'

/** A row change as supabase-js delivers it (RealtimePostgresChangesPayload). */
export interface RealtimeChange {
  eventType: 'INSERT' | 'UPDATE' | 'DELETE'
  schema: string
  table: string
  new: Record<string, unknown>
  old: Record<string, unknown>
  commit_timestamp?: string
  errors?: unknown
}

/** The filter of `.on('postgres_changes', filter, callback)`. */
export interface RealtimeChangesFilter {
  event: '*' | 'INSERT' | 'UPDATE' | 'DELETE'
  schema: string
  table?: string
  filter?: string
}

/** The part of supabase-js's RealtimeChannel used here. */
export interface RealtimeChannelLike {
  on(type: 'postgres_changes', filter: RealtimeChangesFilter, callback: (payload: RealtimeChange) => void): RealtimeChannelLike
  subscribe(callback?: (status: string, err?: Error) => void): RealtimeChannelLike
}

/** The part of a supabase-js client (or its RealtimeClient) used here. */
export interface RealtimeLike {
  channel(name: string): RealtimeChannelLike
  removeChannel(channel: RealtimeChannelLike): unknown
}

/** The helpdesk tables that useHelpdesk() follows (supabase/migrations). */
export const HELPDESK_TABLES = ['chat_assignments', 'chat_tags', 'chat_notes', 'chat_status'] as const
export type HelpdeskTable = (typeof HELPDESK_TABLES)[number]

/** What one row change means for a chat's helpdesk data. */
export type HelpdeskPatch =
  | { kind: 'assignment'; assignment: Assignment | null }
  | { kind: 'tagAdded'; tagId: number }
  | { kind: 'tagRemoved'; tagId: number }
  | { kind: 'note'; note: Note }
  | { kind: 'status'; status: 'open' | 'pending' | 'resolved' }

/**
 * A row change of one of HELPDESK_TABLES as a patch of the chat's helpdesk data, or null when
 * it is not about this session and chat (a row without `session` is the default session's,
 * as before sessions existed). Pure: the store applies it.
 */
export function patchFromRow(change: RealtimeChange, session: string, chatId: string): HelpdeskPatch | null {
  const row = change.eventType === 'DELETE' ? change.old : change.new
  if (!row || row.chat_id !== chatId) return null
  if ((typeof row.session === 'string' ? row.session : 'default') !== session) return null
  switch (change.table) {
    case 'chat_assignments':
      if (change.eventType === 'DELETE') return { kind: 'assignment', assignment: null }
      return {
        kind: 'assignment',
        assignment: {
          agentId: String(row.agent_id),
          agentName: null,
          assignedBy: typeof row.assigned_by === 'string' ? row.assigned_by : null,
          assignedAt: String(row.assigned_at ?? ''),
        },
      }
    case 'chat_tags': {
      const tagId = Number(row.tag_id)
      if (!Number.isFinite(tagId)) return null
      return change.eventType === 'DELETE' ? { kind: 'tagRemoved', tagId } : { kind: 'tagAdded', tagId }
    }
    case 'chat_notes':
      if (change.eventType === 'DELETE') return null
      return {
        kind: 'note',
        note: {
          id: Number(row.id),
          chatId,
          authorId: typeof row.author_id === 'string' ? row.author_id : null,
          body: String(row.body ?? ''),
          createdAt: String(row.created_at ?? ''),
        },
      }
    case 'chat_status': {
      // A deleted row reopens the chat (a chat without a row is open).
      const status = change.eventType === 'DELETE' ? 'open' : row.status
      return status === 'open' || status === 'pending' || status === 'resolved' ? { kind: 'status', status } : null
    }
    default:
      return null
  }
}

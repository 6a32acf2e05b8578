/**
 * Type check only (tsc, never run): a supabase-js client is a RealtimeLike as it is, so an app
 * that keeps Supabase Realtime for the helpdesk metadata passes its client to useHelpdesk().
 */
import type { SupabaseClient } from '@supabase/supabase-js'
import type { RealtimeLike } from '../src/index.js'

export function asRealtime(supabase: SupabaseClient): RealtimeLike {
  return supabase
}

export function realtimeOnly(supabase: SupabaseClient): RealtimeLike {
  return supabase.realtime
}

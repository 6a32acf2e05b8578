-- Several WhatsApp numbers ("sessions") in one deployment. Every WhatsApp row and every
-- helpdesk row about a chat belongs to one session: the same customer writing to two numbers
-- is two conversations, with their own history, assignee, tags and notes. Rows from before
-- this migration belong to the session 'default' (what ORCH_BRIDGE_PUB/ROUTER describe).
-- Session ids are slugs, checked where they are declared (whatsapp_sessions, profiles); the
-- data tables take them from the orchestrator, which validates them first.

-- A session id: what the orchestrator accepts in /sessions/{id}.
create function public.is_session_id(id text) returns boolean
language sql
immutable
set search_path = ''
as $$
    select id ~ '^[a-z0-9][a-z0-9_-]{0,39}$'
$$;

------------------------------------------------------------------------------------------
-- The registry: the sessions the orchestrator runs besides 'default' (which needs no row).
-- proxy may carry credentials (user:pass@host): no API user ever reads that column.
------------------------------------------------------------------------------------------
create table public.whatsapp_sessions (
    id            text primary key check (public.is_session_id(id)),
    name          text,
    bridge_pub    text,                             -- null: the orchestrator spawns the bridge
    bridge_router text,
    proxy         text,                             -- BRIDGE_PROXY of its bridge, credentials included
    created_at    timestamptz not null default now()
);
comment on table public.whatsapp_sessions is
    'WhatsApp sessions (numbers) besides default; written by the orchestrator, read by staff.';

revoke all on table public.whatsapp_sessions from public, anon, authenticated;
grant all on table public.whatsapp_sessions to service_role;
-- Column grant: staff read everything but the proxy (select * is refused: name the columns).
grant select (id, name, bridge_pub, bridge_router, created_at)
    on table public.whatsapp_sessions to authenticated;
alter table public.whatsapp_sessions enable row level security;
create policy "whatsapp_sessions: staff read" on public.whatsapp_sessions
    for select to authenticated
    using ((select public.current_role_name()) in ('admin', 'supervisor'));

------------------------------------------------------------------------------------------
-- Membership: the sessions an agent works in (staff work in all). Changed by admins only.
------------------------------------------------------------------------------------------
create function public.are_session_ids(ids text[]) returns boolean
language sql
immutable
set search_path = ''
as $$
    select not exists (
        select 1 from unnest(ids) as s (id) where s.id is null or not public.is_session_id(s.id)
    )
$$;

alter table public.profiles
    add column sessions text[] not null default '{default}'
    check (public.are_session_ids(sessions));
grant update (sessions) on table public.profiles to authenticated;

-- A user creating his own missing profile gets the default membership, nothing more.
alter policy "profiles: create own as agent" on public.profiles
    with check (id = (select auth.uid()) and role = 'agent' and sessions = '{default}');

-- The role trigger now guards membership too: a role and a membership are both access.
create or replace function public.guard_profile_role() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if (new.role is distinct from old.role or new.sessions is distinct from old.sessions)
       and current_user in ('anon', 'authenticated')
       and public.current_role_name() is distinct from 'admin' then
        raise exception 'only an admin may change a role or a session membership'
            using errcode = '42501';  -- insufficient_privilege, as an RLS refusal
    end if;
    return new;
end;
$$;

------------------------------------------------------------------------------------------
-- The session column, first in every key so each session's rows are one index range.
-- ADD COLUMN with a constant default fills the existing rows without rewriting the table.
------------------------------------------------------------------------------------------
alter table public.wa_chats         add column session text not null default 'default';
alter table public.wa_messages      add column session text not null default 'default';
alter table public.wa_contacts      add column session text not null default 'default';
alter table public.wa_sync_state    add column session text not null default 'default';
alter table public.wa_jid_aliases   add column session text not null default 'default';
alter table public.wa_labels        add column session text not null default 'default';
alter table public.chat_assignments add column session text not null default 'default';
alter table public.chat_tags        add column session text not null default 'default';
alter table public.chat_notes       add column session text not null default 'default';
-- Null for what concerns no session (a tag or quick reply created, a profile changed): the
-- rows from before without a chat are those.
alter table public.activity_logs    add column session text default 'default';
update public.activity_logs set session = null where chat_id is null;

alter table public.wa_messages drop constraint wa_messages_chat_id_fkey;

alter table public.wa_chats drop constraint wa_chats_pkey;
alter table public.wa_chats add primary key (session, id);
alter table public.wa_messages drop constraint wa_messages_pkey;
alter table public.wa_messages add primary key (session, chat_id, id);
alter table public.wa_messages add constraint wa_messages_chat_fkey
    foreign key (session, chat_id) references public.wa_chats (session, id) on delete cascade;
alter table public.wa_contacts drop constraint wa_contacts_pkey;
alter table public.wa_contacts add primary key (session, id);
alter table public.wa_sync_state drop constraint wa_sync_state_pkey;
alter table public.wa_sync_state add primary key (session, id);
alter table public.wa_jid_aliases drop constraint wa_jid_aliases_pkey;
alter table public.wa_jid_aliases add primary key (session, lid);
alter table public.wa_labels drop constraint wa_labels_pkey;
alter table public.wa_labels add primary key (session, id);
-- Realtime publishes these two: their replica identity is the primary key, so a DELETE
-- event now names the session too.
alter table public.chat_assignments drop constraint chat_assignments_pkey;
alter table public.chat_assignments add primary key (session, chat_id);
alter table public.chat_tags drop constraint chat_tags_pkey;
alter table public.chat_tags add primary key (session, chat_id, tag_id);

drop index public.wa_chats_last_activity_idx;
create index wa_chats_last_activity_idx on public.wa_chats (session, last_activity desc);
drop index public.wa_messages_chat_ts_idx;
create index wa_messages_chat_ts_idx
    on public.wa_messages (session, chat_id, ts desc, arrival desc, id desc);
drop index public.wa_messages_waiting_idx;
create index wa_messages_waiting_idx on public.wa_messages (session, chat_id, id)
    where type = 'waiting';
drop index public.chat_notes_chat_id_created_at_idx;
create index chat_notes_chat_id_created_at_idx on public.chat_notes (session, chat_id, created_at);
drop index public.activity_logs_chat_id_created_at_idx;
create index activity_logs_chat_id_created_at_idx
    on public.activity_logs (session, chat_id, created_at);

------------------------------------------------------------------------------------------
-- Who sees what, per session. security definer and a pinned search_path, as the helpers of
-- 20261124120200_row_level_security.sql (same reasons).
------------------------------------------------------------------------------------------

-- Whether the caller works in a session: staff in all; an agent in his profile's sessions;
-- anyone without a profile in none.
create function public.may_use_session(session text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce((
        select p.role in ('admin', 'supervisor')
            or (p.role = 'agent' and may_use_session.session = any (p.sessions))
        from public.profiles p
        where p.id = auth.uid()
    ), false)
$$;

-- Whether the caller may see a session's chat: staff always; an agent of that session when
-- nobody else holds the chat there (it is his or it is unassigned). An assignment of the same
-- jid in another session does not count: that is another conversation. One query, calling no
-- other helper: policies run it for every row, and each nested call costs as much again.
create function public.can_see_chat(session text, chat_id text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select coalesce((
        select p.role in ('admin', 'supervisor')
            or (p.role = 'agent'
                and can_see_chat.session = any (p.sessions)
                and not exists (
                    select 1
                    from public.chat_assignments a
                    where a.session = can_see_chat.session
                      and a.chat_id = can_see_chat.chat_id
                      and a.agent_id <> p.id
                ))
        from public.profiles p
        where p.id = auth.uid()
    ), false)
$$;

revoke execute on function public.may_use_session(text) from public, anon;
revoke execute on function public.can_see_chat(text, text) from public, anon;
grant execute on function public.may_use_session(text) to authenticated, service_role;
grant execute on function public.can_see_chat(text, text) to authenticated, service_role;

-- Every policy that asked about a chat now asks about the chat of the row's session.
alter policy "wa_chats: read visible chats" on public.wa_chats
    using (public.can_see_chat(session, id));
alter policy "wa_messages: read messages of visible chats" on public.wa_messages
    using (public.can_see_chat(session, chat_id));
alter policy "chat_assignments: read for visible chats" on public.chat_assignments
    using (public.can_see_chat(session, chat_id));
alter policy "chat_assignments: agent takes an unassigned chat" on public.chat_assignments
    with check (
        (select public.current_role_name()) = 'agent'
        and agent_id = (select auth.uid())
        and assigned_by = (select auth.uid())
        and public.can_see_chat(session, chat_id)
    );
alter policy "chat_tags: read for visible chats" on public.chat_tags
    using (public.can_see_chat(session, chat_id));
alter policy "chat_tags: tag visible chats" on public.chat_tags
    with check (public.can_see_chat(session, chat_id));
alter policy "chat_tags: retag visible chats" on public.chat_tags
    using (public.can_see_chat(session, chat_id))
    with check (public.can_see_chat(session, chat_id));
alter policy "chat_tags: untag visible chats" on public.chat_tags
    using (public.can_see_chat(session, chat_id));
alter policy "chat_notes: read for visible chats" on public.chat_notes
    using (public.can_see_chat(session, chat_id));
alter policy "chat_notes: write on visible chats as oneself" on public.chat_notes
    with check (author_id = (select auth.uid()) and public.can_see_chat(session, chat_id));
alter policy "chat_notes: author edits own" on public.chat_notes
    using (author_id = (select auth.uid()) and public.can_see_chat(session, chat_id))
    with check (author_id = (select auth.uid()));

-- Contacts and labels are per number: readable by whoever works in the session.
alter policy "wa_contacts: helpdesk users read" on public.wa_contacts
    using (public.may_use_session(session));
alter policy "wa_labels: helpdesk users read" on public.wa_labels
    using (public.may_use_session(session));

-- Nothing uses the one-argument form any more; a chat id alone no longer names a chat.
drop function public.can_see_chat(text);

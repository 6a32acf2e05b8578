-- Row-level security for every table. The model:
--   * admin and supervisor see every chat; an agent sees the chats assigned to him and the
--     unassigned ones (the queue he may take from). "Seeing a chat" gates its messages,
--     assignment, tags and notes alike, through public.can_see_chat().
--   * the WhatsApp history (wa_*) is written only by the orchestrator with the service role,
--     which bypasses RLS; users only read it.
--   * anon (a browser without a session) gets nothing anywhere.
-- Policies are per command and per role (`to authenticated`) so each rule reads on its own.
-- auth.uid() and the helpers are wrapped in (select ...) where they do not depend on the row,
-- so PostgreSQL evaluates them once per statement instead of once per row.

------------------------------------------------------------------------------------------
-- Helpers. security definer: they read profiles and chat_assignments as the owner, so the
-- policies that call them neither recurse into those tables' own policies nor depend on what
-- the caller can see. search_path is pinned (empty, everything qualified) so a caller cannot
-- shadow the tables they read.
------------------------------------------------------------------------------------------

-- The caller's helpdesk role ('admin', 'supervisor', 'agent'), or null without a profile.
create function public.current_role_name() returns text
language sql
stable
security definer
set search_path = ''
as $$
    select p.role from public.profiles p where p.id = auth.uid()
$$;

-- Whether the caller may see a chat: staff always; an agent when nobody else holds it (it is
-- his or it is unassigned); anyone without a profile never.
create function public.can_see_chat(chat_id text) returns boolean
language sql
stable
security definer
set search_path = ''
as $$
    select case public.current_role_name()
        when 'admin' then true
        when 'supervisor' then true
        when 'agent' then not exists (
            select 1
            from public.chat_assignments a
            where a.chat_id = can_see_chat.chat_id
              and a.agent_id <> auth.uid()
        )
        else false
    end
$$;

-- Only signed-in users (policies) and the service role need them.
revoke execute on function public.current_role_name() from public, anon;
revoke execute on function public.can_see_chat(text) from public, anon;
grant execute on function public.current_role_name() to authenticated, service_role;
grant execute on function public.can_see_chat(text) to authenticated, service_role;

------------------------------------------------------------------------------------------
-- Table privileges. Supabase's default privileges give anon and authenticated ALL on new
-- tables, TRUNCATE included, which RLS does not cover. Grant instead the least each role
-- needs, so a missing policy can never open more than the grant allows.
------------------------------------------------------------------------------------------
revoke all on table
    public.wa_chats, public.wa_messages, public.wa_contacts, public.wa_sync_state,
    public.profiles, public.chat_assignments, public.tags, public.chat_tags, public.chat_notes,
    public.quick_replies, public.settings, public.activity_logs
from anon, authenticated;

grant all on table
    public.wa_chats, public.wa_messages, public.wa_contacts, public.wa_sync_state,
    public.profiles, public.chat_assignments, public.tags, public.chat_tags, public.chat_notes,
    public.quick_replies, public.settings, public.activity_logs
to service_role;

-- History: read only, and wa_sync_state not at all.
grant select on table public.wa_chats, public.wa_messages, public.wa_contacts to authenticated;

grant select, insert, update, delete on table
    public.chat_assignments, public.tags, public.chat_tags, public.quick_replies, public.settings
to authenticated;

-- Profiles: id and created_at are immutable; the role column is further guarded by a trigger.
grant select, insert on table public.profiles to authenticated;
grant update (display_name, role) on table public.profiles to authenticated;

-- Notes: only the body can be edited; the chat, author and date of a note are fixed.
grant select, insert, delete on table public.chat_notes to authenticated;
grant update (body) on table public.chat_notes to authenticated;

-- The audit trail is append-only.
grant select, insert on table public.activity_logs to authenticated;

------------------------------------------------------------------------------------------
-- Enable RLS on every table. Without a matching policy a row is invisible / unwritable.
------------------------------------------------------------------------------------------
alter table public.wa_chats         enable row level security;
alter table public.wa_messages      enable row level security;
alter table public.wa_contacts      enable row level security;
alter table public.wa_sync_state    enable row level security;
alter table public.profiles         enable row level security;
alter table public.chat_assignments enable row level security;
alter table public.tags             enable row level security;
alter table public.chat_tags        enable row level security;
alter table public.chat_notes       enable row level security;
alter table public.quick_replies    enable row level security;
alter table public.settings         enable row level security;
alter table public.activity_logs    enable row level security;

------------------------------------------------------------------------------------------
-- WhatsApp history: read what you may see; no write policies (service role only).
------------------------------------------------------------------------------------------
create policy "wa_chats: read visible chats" on public.wa_chats
    for select to authenticated
    using (public.can_see_chat(id));

create policy "wa_messages: read messages of visible chats" on public.wa_messages
    for select to authenticated
    using (public.can_see_chat(chat_id));

-- Contacts are not tied to one chat (group participants appear in many), and agents need the
-- names to render senders, so any helpdesk user may read them.
create policy "wa_contacts: helpdesk users read" on public.wa_contacts
    for select to authenticated
    using ((select public.current_role_name()) is not null);

-- wa_sync_state: no policy at all; only the service role touches it.

------------------------------------------------------------------------------------------
-- profiles
------------------------------------------------------------------------------------------
create policy "profiles: everyone reads (names for the UI)" on public.profiles
    for select to authenticated
    using (true);

-- Normally the on_auth_user_created trigger creates the profile; a user may create his own
-- if it is missing, but only as an agent.
create policy "profiles: create own as agent" on public.profiles
    for insert to authenticated
    with check (id = (select auth.uid()) and role = 'agent');

create policy "profiles: update own, admin any" on public.profiles
    for update to authenticated
    using (id = (select auth.uid()) or (select public.current_role_name()) = 'admin')
    with check (id = (select auth.uid()) or (select public.current_role_name()) = 'admin');

-- RLS cannot tell which columns changed, so the "only an admin changes a role" rule is a
-- trigger. It applies to API users only; the service role and migrations pass.
create function public.guard_profile_role() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    if new.role is distinct from old.role
       and current_user in ('anon', 'authenticated')
       and public.current_role_name() is distinct from 'admin' then
        raise exception 'only an admin may change a role'
            using errcode = '42501';  -- insufficient_privilege, as an RLS refusal
    end if;
    return new;
end;
$$;

create trigger profiles_guard_role before update on public.profiles
    for each row execute function public.guard_profile_role();

------------------------------------------------------------------------------------------
-- chat_assignments (one row = the chat's current assignee)
------------------------------------------------------------------------------------------
create policy "chat_assignments: read for visible chats" on public.chat_assignments
    for select to authenticated
    using (public.can_see_chat(chat_id));

create policy "chat_assignments: staff assign any chat" on public.chat_assignments
    for insert to authenticated
    with check ((select public.current_role_name()) in ('admin', 'supervisor'));

-- "Take": an agent assigns an unassigned chat to himself. can_see_chat() is true for an agent
-- only if no one else holds the chat (the new row is not yet visible to the check), and the
-- primary key makes two concurrent takes of the same chat fail for all but one.
create policy "chat_assignments: agent takes an unassigned chat" on public.chat_assignments
    for insert to authenticated
    with check (
        (select public.current_role_name()) = 'agent'
        and agent_id = (select auth.uid())
        and assigned_by = (select auth.uid())
        and public.can_see_chat(chat_id)
    );

create policy "chat_assignments: staff reassign" on public.chat_assignments
    for update to authenticated
    using ((select public.current_role_name()) in ('admin', 'supervisor'))
    with check ((select public.current_role_name()) in ('admin', 'supervisor'));

create policy "chat_assignments: staff unassign any" on public.chat_assignments
    for delete to authenticated
    using ((select public.current_role_name()) in ('admin', 'supervisor'));

-- "Release": an agent drops his own assignment.
create policy "chat_assignments: agent releases own" on public.chat_assignments
    for delete to authenticated
    using (agent_id = (select auth.uid()));

------------------------------------------------------------------------------------------
-- tags (the catalogue) and chat_tags (tags on a chat)
------------------------------------------------------------------------------------------
create policy "tags: everyone reads" on public.tags
    for select to authenticated
    using (true);

create policy "tags: staff create" on public.tags
    for insert to authenticated
    with check ((select public.current_role_name()) in ('admin', 'supervisor'));

create policy "tags: staff edit" on public.tags
    for update to authenticated
    using ((select public.current_role_name()) in ('admin', 'supervisor'))
    with check ((select public.current_role_name()) in ('admin', 'supervisor'));

create policy "tags: staff delete" on public.tags
    for delete to authenticated
    using ((select public.current_role_name()) in ('admin', 'supervisor'));

create policy "chat_tags: read for visible chats" on public.chat_tags
    for select to authenticated
    using (public.can_see_chat(chat_id));

create policy "chat_tags: tag visible chats" on public.chat_tags
    for insert to authenticated
    with check (public.can_see_chat(chat_id));

create policy "chat_tags: retag visible chats" on public.chat_tags
    for update to authenticated
    using (public.can_see_chat(chat_id))
    with check (public.can_see_chat(chat_id));

create policy "chat_tags: untag visible chats" on public.chat_tags
    for delete to authenticated
    using (public.can_see_chat(chat_id));

------------------------------------------------------------------------------------------
-- chat_notes
------------------------------------------------------------------------------------------
create policy "chat_notes: read for visible chats" on public.chat_notes
    for select to authenticated
    using (public.can_see_chat(chat_id));

create policy "chat_notes: write on visible chats as oneself" on public.chat_notes
    for insert to authenticated
    with check (author_id = (select auth.uid()) and public.can_see_chat(chat_id));

-- Only the body is updatable (column grant); only by its author, while he sees the chat.
create policy "chat_notes: author edits own" on public.chat_notes
    for update to authenticated
    using (author_id = (select auth.uid()) and public.can_see_chat(chat_id))
    with check (author_id = (select auth.uid()));

create policy "chat_notes: author deletes own" on public.chat_notes
    for delete to authenticated
    using (author_id = (select auth.uid()));

create policy "chat_notes: admin deletes any" on public.chat_notes
    for delete to authenticated
    using ((select public.current_role_name()) = 'admin');

------------------------------------------------------------------------------------------
-- quick_replies: shared canned answers, curated by staff
------------------------------------------------------------------------------------------
create policy "quick_replies: everyone reads" on public.quick_replies
    for select to authenticated
    using (true);

create policy "quick_replies: staff create" on public.quick_replies
    for insert to authenticated
    with check ((select public.current_role_name()) in ('admin', 'supervisor'));

create policy "quick_replies: staff edit" on public.quick_replies
    for update to authenticated
    using ((select public.current_role_name()) in ('admin', 'supervisor'))
    with check ((select public.current_role_name()) in ('admin', 'supervisor'));

create policy "quick_replies: staff delete" on public.quick_replies
    for delete to authenticated
    using ((select public.current_role_name()) in ('admin', 'supervisor'));

------------------------------------------------------------------------------------------
-- settings: readable by every user, written by admins only
------------------------------------------------------------------------------------------
create policy "settings: everyone reads" on public.settings
    for select to authenticated
    using (true);

create policy "settings: admin creates" on public.settings
    for insert to authenticated
    with check ((select public.current_role_name()) = 'admin');

create policy "settings: admin edits" on public.settings
    for update to authenticated
    using ((select public.current_role_name()) = 'admin')
    with check ((select public.current_role_name()) = 'admin');

create policy "settings: admin deletes" on public.settings
    for delete to authenticated
    using ((select public.current_role_name()) = 'admin');

------------------------------------------------------------------------------------------
-- activity_logs: append-only; you log as yourself; staff read all, agents their own.
-- No update/delete policy (and no such grant): entries are immutable for users.
------------------------------------------------------------------------------------------
create policy "activity_logs: log as oneself" on public.activity_logs
    for insert to authenticated
    with check (actor_id = (select auth.uid()));

create policy "activity_logs: staff read all" on public.activity_logs
    for select to authenticated
    using ((select public.current_role_name()) in ('admin', 'supervisor'));

create policy "activity_logs: agent reads own" on public.activity_logs
    for select to authenticated
    using (actor_id = (select auth.uid()));

-- Chat status (issue 16): a conversation is open, pending (waiting on the customer) or
-- resolved. One row per session and chat; a chat without a row is open. The orchestrator keeps
-- the rows in RAM and writes them with the service role; the frontend may read and write them
-- directly as the signed-in user, under the same rule as assignments: a user sees and changes
-- the status of the chats he may see (public.can_see_chat), and only as himself.
-- updated_at is when the status last changed (a trigger, from the database's clock): a
-- customer's message older than that does not reopen the chat, so a replay after a restart
-- never undoes a resolve.

create table public.chat_status (
    session    text not null default 'default',
    chat_id    text not null,
    status     text not null default 'open' check (status in ('open', 'pending', 'resolved')),
    updated_by uuid default auth.uid() references public.profiles (id) on delete set null,
    updated_at timestamptz not null default now(),
    primary key (session, chat_id)
);
-- The inbox views: a session's chats in one status.
create index chat_status_session_status_idx on public.chat_status (session, status);

create trigger chat_status_set_updated_at before update on public.chat_status
    for each row execute function public.set_updated_at();

------------------------------------------------------------------------------------------
-- Privileges: the least each role needs (see 20261124120200_row_level_security.sql). The
-- chat and session of a row are fixed once written; updated_at is the trigger's.
------------------------------------------------------------------------------------------
revoke all on table public.chat_status from anon, authenticated;
grant all on table public.chat_status to service_role;
grant select, delete on table public.chat_status to authenticated;
grant insert (session, chat_id, status, updated_by) on table public.chat_status to authenticated;
grant update (status, updated_by) on table public.chat_status to authenticated;

alter table public.chat_status enable row level security;

create policy "chat_status: read for visible chats" on public.chat_status
    for select to authenticated
    using (public.can_see_chat(session, chat_id));

create policy "chat_status: set on visible chats as oneself" on public.chat_status
    for insert to authenticated
    with check (updated_by = (select auth.uid()) and public.can_see_chat(session, chat_id));

create policy "chat_status: change on visible chats as oneself" on public.chat_status
    for update to authenticated
    using (public.can_see_chat(session, chat_id))
    with check (updated_by = (select auth.uid()) and public.can_see_chat(session, chat_id));

-- Deleting a row reopens the chat without a trace of who did it: staff only.
create policy "chat_status: staff delete" on public.chat_status
    for delete to authenticated
    using ((select public.current_role_name()) in ('admin', 'supervisor'));

------------------------------------------------------------------------------------------
-- Realtime, as the other helpdesk metadata (20261124120300_realtime.sql).
------------------------------------------------------------------------------------------
do $$
begin
    if not exists (
        select 1 from pg_publication_tables
        where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = 'chat_status'
    ) then
        alter publication supabase_realtime add table public.chat_status;
    end if;
end;
$$;

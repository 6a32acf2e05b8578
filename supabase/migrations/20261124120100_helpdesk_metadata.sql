-- Helpdesk metadata: who the agents are, who owns which chat, tags, notes, canned replies,
-- settings and an audit trail. The frontend reads and writes these directly through Supabase
-- (PostgREST + Realtime) as the logged-in user, so every write is checked by row-level
-- security (see the next migration). chat_id columns deliberately have no foreign key to
-- wa_chats: the history tables are optional (the orchestrator may keep history in SQLite).

-- One profile per Supabase Auth user. The role drives every policy.
create table public.profiles (
    id           uuid primary key references auth.users (id) on delete cascade,
    display_name text,
    role         text not null default 'agent' check (role in ('admin', 'supervisor', 'agent')),
    created_at   timestamptz default now()
);

-- The current assignee of a chat (at most one: chat_id is the key). Deleting a user releases
-- his chats; who assigned it is kept only while that user exists.
create table public.chat_assignments (
    chat_id     text primary key,
    agent_id    uuid not null references public.profiles (id) on delete cascade,
    assigned_by uuid default auth.uid() references public.profiles (id) on delete set null,
    assigned_at timestamptz not null default now()
);
-- "My chats" for an agent.
create index chat_assignments_agent_id_idx on public.chat_assignments (agent_id);

create table public.tags (
    id    bigint generated always as identity primary key,
    name  text not null unique,
    color text
);

create table public.chat_tags (
    chat_id text   not null,
    tag_id  bigint not null references public.tags (id) on delete cascade,
    primary key (chat_id, tag_id)
);
-- Chats carrying a tag (filtering by tag; also serves the cascade from tags).
create index chat_tags_tag_id_idx on public.chat_tags (tag_id);

-- Internal notes on a chat, never sent to the customer. author_id has no cascade on purpose:
-- a user who wrote notes cannot be deleted silently, the notes are part of the record.
create table public.chat_notes (
    id         bigint generated always as identity primary key,
    chat_id    text not null,
    author_id  uuid not null default auth.uid() references public.profiles (id),
    body       text not null check (length(body) between 1 and 10000),
    created_at timestamptz not null default now()
);
create index chat_notes_chat_id_created_at_idx on public.chat_notes (chat_id, created_at);

create table public.quick_replies (
    id         bigint generated always as identity primary key,
    shortcut   text not null unique,
    body       text not null,
    created_by uuid default auth.uid() references public.profiles (id) on delete set null,
    created_at timestamptz default now()
);

create table public.settings (
    key        text primary key,
    value      jsonb not null,
    updated_at timestamptz default now()
);
create trigger settings_set_updated_at before update on public.settings
    for each row execute function public.set_updated_at();

-- Append-only audit trail (no update/delete for users). actor_id has no foreign key so the
-- trail survives the deletion of the user it mentions.
create table public.activity_logs (
    id         bigint generated always as identity primary key,
    actor_id   uuid default auth.uid(),
    action     text not null,
    chat_id    text,
    details    jsonb not null default '{}',
    created_at timestamptz not null default now()
);
create index activity_logs_chat_id_created_at_idx on public.activity_logs (chat_id, created_at);
create index activity_logs_actor_id_created_at_idx on public.activity_logs (actor_id, created_at);

-- Every new Auth user gets an 'agent' profile (the usual Supabase pattern). Promotion to
-- supervisor/admin is done by an admin or with the service role. security definer because
-- the trigger runs as the Auth server's role, which has no rights on public.profiles.
create function public.handle_new_user() returns trigger
language plpgsql
security definer
set search_path = ''
as $$
begin
    insert into public.profiles (id, display_name)
    values (new.id, new.email)
    on conflict (id) do nothing;
    return new;
end;
$$;
revoke execute on function public.handle_new_user() from public, anon, authenticated;

create trigger on_auth_user_created after insert on auth.users
    for each row execute function public.handle_new_user();

-- Users who signed up before this migration get their profile too.
insert into public.profiles (id, display_name)
select u.id, u.email from auth.users u
on conflict (id) do nothing;

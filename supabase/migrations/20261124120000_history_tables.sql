-- WhatsApp history written behind by the orchestrator (service role) so a restart recovers it.
-- The orchestrator's Supabase store depends on these exact names and columns.
-- Timestamps from WhatsApp (last_activity, ts) are unix seconds kept as bigint, exactly as the
-- orchestrator holds them in RAM, so nothing is converted on the hot path.

create table public.wa_chats (
    id            text primary key,                 -- the chat jid
    name          text,
    is_group      boolean not null default false,
    unread_count  integer not null default 0,
    last_activity bigint  not null default 0,       -- unix seconds of the newest activity
    archived      boolean not null default false,
    pinned        boolean not null default false,
    muted         boolean not null default false,
    updated_at    timestamptz not null default now()
);
comment on table public.wa_chats is 'WhatsApp chats, written by the orchestrator (service role) only.';

-- GET /chats lists newest activity first.
create index wa_chats_last_activity_idx on public.wa_chats (last_activity desc);

create table public.wa_messages (
    chat_id     text     not null references public.wa_chats (id) on delete cascade,
    id          text     not null,                  -- WhatsApp key.id, unique only within a chat
    from_me     boolean  not null,
    sender      text,
    sender_name text,
    ts          bigint   not null,                  -- unix seconds
    type        text     not null,
    raw_kind    text,
    body        text,
    quoted_id   text,
    media       jsonb,
    ack         smallint not null,
    edited      boolean  not null default false,
    deleted     boolean  not null default false,
    reactions   jsonb    not null default '[]',
    raw         text,                               -- the lossless wire encoding, for media download/quote
    primary key (chat_id, id)
);
comment on table public.wa_messages is 'WhatsApp messages, written by the orchestrator (service role) only.';

-- Message pages are read per chat, newest first, with (ts, id) as a stable keyset cursor.
create index wa_messages_chat_ts_idx on public.wa_messages (chat_id, ts desc, id desc);

create table public.wa_contacts (
    id            text primary key,                 -- the contact jid
    name          text,
    notify        text,                             -- push name
    verified_name text
);
comment on table public.wa_contacts is 'WhatsApp contacts, written by the orchestrator (service role) only.';

-- The last bridge position (epoch, seq) the store applied, so replay resumes after a restart.
create table public.wa_sync_state (
    id         text primary key,
    epoch      text,
    seq        bigint,
    updated_at timestamptz not null default now()
);
comment on table public.wa_sync_state is 'Orchestrator replay position; service role only, invisible to users.';

-- Keep updated_at truthful whatever the writer sends (plain UPDATEs and upserts alike).
create function public.set_updated_at() returns trigger
language plpgsql
set search_path = ''
as $$
begin
    new.updated_at := now();
    return new;
end;
$$;

create trigger wa_chats_set_updated_at before update on public.wa_chats
    for each row execute function public.set_updated_at();
create trigger wa_sync_state_set_updated_at before update on public.wa_sync_state
    for each row execute function public.set_updated_at();

-- Each session's helpdesk settings and the runs of its automatic rules (issue 16).
--   * session_settings: one JSON document per session (business hours, away message, greeting,
--     assignment rule), validated by the orchestrator (GET/PUT /settings). Whoever works in the
--     session reads it; only admins write it. (public.settings, the older global key/value
--     table, is left as it was.)
--   * rule_runs: one row per chat, rule and conversation, written by the orchestrator before a
--     rule acts, so a rule never acts twice in one conversation, whatever restarts or replicas.
--     Readable for the chats one may see; written by the service role only.
--   * rule_cursors: where a rotating rule (round_robin) left off; service role only.

create table public.session_settings (
    session    text primary key check (public.is_session_id(session)),
    document   jsonb not null check (jsonb_typeof(document) = 'object'),
    updated_by uuid,                                  -- null: the API token (an operator)
    updated_at timestamptz not null default now()
);
create trigger session_settings_set_updated_at before update on public.session_settings
    for each row execute function public.set_updated_at();
comment on table public.session_settings is
    'Helpdesk settings per session: one document; members read, admins write.';

create table public.rule_runs (
    session      text not null,
    chat_id      text not null,
    rule         text not null check (rule in ('greeting', 'away', 'round_robin')),
    conversation text not null,                       -- which conversation of the chat
    ran_at       timestamptz not null default now(),
    primary key (session, chat_id, rule, conversation)
);
comment on table public.rule_runs is
    'Automatic rule runs, recorded before the rule acts; written by the orchestrator.';

create table public.rule_cursors (
    session    text not null,
    rule       text not null,
    value      text not null,                         -- round_robin: the last agent given a chat
    updated_at timestamptz not null default now(),
    primary key (session, rule)
);
create trigger rule_cursors_set_updated_at before update on public.rule_cursors
    for each row execute function public.set_updated_at();
comment on table public.rule_cursors is 'Where rotating rules left off; service role only.';

revoke all on table public.session_settings, public.rule_runs, public.rule_cursors
    from public, anon, authenticated;
grant all on table public.session_settings, public.rule_runs, public.rule_cursors
    to service_role;
grant select, insert, update, delete on table public.session_settings to authenticated;
grant select on table public.rule_runs to authenticated;

alter table public.session_settings enable row level security;
alter table public.rule_runs        enable row level security;
alter table public.rule_cursors     enable row level security;
-- rule_cursors: no policy; the service role bypasses RLS, every other role sees no row.

create policy "session_settings: members read" on public.session_settings
    for select to authenticated
    using (public.may_use_session(session));

create policy "session_settings: admin creates" on public.session_settings
    for insert to authenticated
    with check ((select public.current_role_name()) = 'admin');

create policy "session_settings: admin edits" on public.session_settings
    for update to authenticated
    using ((select public.current_role_name()) = 'admin')
    with check ((select public.current_role_name()) = 'admin');

create policy "session_settings: admin deletes" on public.session_settings
    for delete to authenticated
    using ((select public.current_role_name()) = 'admin');

create policy "rule_runs: read for visible chats" on public.rule_runs
    for select to authenticated
    using (public.can_see_chat(session, chat_id));

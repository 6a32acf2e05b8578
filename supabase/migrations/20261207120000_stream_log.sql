-- The stream log kept with the history (ORCH_STREAM_LOG_STORED, issue 15): a restarted
-- orchestrator replica rebuilds its stream log from here, so a client resumes from any id
-- still within the retention exactly, instead of a resync. One row per stream envelope of a
-- session; `ord` increases in log order. The orchestrator prunes it to the retention as it
-- writes. Nothing here is for the frontend: the service role only.
create table public.wa_stream_log (
    session   text not null default 'default',
    id        text not null,                  -- the stream id, <epoch>:<seq>:<k>
    ord       bigint not null,                -- log order (wall-clock microseconds, increasing)
    type      text not null,
    chat_id   text,
    json      text not null,                  -- the envelope exactly as clients got it: text,
                                              -- not jsonb, which would reorder its keys
    logged_at double precision not null,      -- unix seconds when it was logged: its age
    primary key (session, id)
);
create index wa_stream_log_ord_idx on public.wa_stream_log (session, ord);
comment on table public.wa_stream_log is
    'Stream envelopes within the retention, per session; service role only, invisible to users.';

revoke all on table public.wa_stream_log from public, anon, authenticated;
grant all on table public.wa_stream_log to service_role;
alter table public.wa_stream_log enable row level security;
-- No policy: the service role bypasses RLS, every other role sees no row.

-- The position gains the JetStream stream sequence (null on ZeroMQ), the session's last stream
-- id at it, and the ord of its last stored stream entry (null: the log is not stored). A load
-- reads the entries up to that ord only: the rest were written by a batch cut short.
alter table public.wa_sync_state
    add column stream     bigint,
    add column stream_id  text,
    add column stream_ord bigint;

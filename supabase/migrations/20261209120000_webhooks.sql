-- Webhooks (issue 18): the orchestrator POSTs each stream event to the endpoints an admin
-- registered, signed (Standard Webhooks), in order per chat, retried with backoff.
--   * wa_webhooks: the endpoints (their signing secrets included). Lists are JSON arrays, null
--     for "all". Times are unix seconds.
--   * wa_webhook_events: each session's outbox, the stream envelopes to deliver, exactly as
--     the streams sent them (text, not jsonb, which would reorder keys); `ord` is stream order.
--   * wa_webhook_deliveries: one row per endpoint and event, written by the orchestrator's
--     write-behind (latest state wins); pending and retrying ones are resumed after a restart,
--     dead ones are the dead letters an admin may replay.
-- Nothing here is for the frontend (the secrets live here): the service role only.

create table public.wa_webhooks (
    id                    text primary key,            -- 'wh_' + 16 hex
    url                   text not null,
    events                jsonb check (events is null or jsonb_typeof(events) = 'array'),
    sessions              jsonb check (sessions is null or jsonb_typeof(sessions) = 'array'),
    chat_types            jsonb check (chat_types is null or jsonb_typeof(chat_types) = 'array'),
    description           text,
    enabled               boolean not null default true,
    concurrency           integer not null check (concurrency between 1 and 64),
    secret                text not null,
    previous_secret       text,                        -- valid until previous_secret_until
    previous_secret_until double precision,
    disabled_reason       text,
    disabled_at           double precision,
    created_at            double precision not null,
    updated_at            double precision not null
);
comment on table public.wa_webhooks is
    'Webhook endpoints and their signing secrets; service role only, invisible to users.';

create table public.wa_webhook_events (
    session text not null default 'default',
    id      text not null,                             -- the stream id, <epoch>:<seq>:<k>
    ord     bigint not null,                           -- stream order
    type    text not null,
    chat_id text,
    json    text not null,                             -- the envelope exactly as sent
    at      double precision not null,                 -- unix seconds when it was logged
    primary key (session, id)
);
create index wa_webhook_events_ord_idx on public.wa_webhook_events (session, ord);
comment on table public.wa_webhook_events is
    'Stream envelopes to deliver to webhooks, per session; service role only.';

create table public.wa_webhook_deliveries (
    session          text not null default 'default',
    webhook_id       text not null,                    -- no foreign key: a deleted endpoint's
    event_id         text not null,                    -- rows go with it, the events by age
    ord              bigint not null,                  -- the event's
    status           text not null
                     check (status in ('pending', 'retrying', 'delivered', 'dead')),
    attempts         integer not null default 0,
    created_at       double precision not null,
    last_attempt_at  double precision,
    next_attempt_at  double precision,
    status_code      integer,
    latency_ms       double precision,
    error            text,
    response_excerpt text,
    primary key (session, webhook_id, event_id)
);
create index wa_webhook_deliveries_status_idx
    on public.wa_webhook_deliveries (session, status, ord);
create index wa_webhook_deliveries_webhook_idx on public.wa_webhook_deliveries (webhook_id, ord);
-- Pruning keeps the events a delivery still names.
create index wa_webhook_deliveries_event_idx on public.wa_webhook_deliveries (session, event_id);
comment on table public.wa_webhook_deliveries is
    'Webhook delivery state per endpoint and event, per session; service role only.';

revoke all on table public.wa_webhooks, public.wa_webhook_events, public.wa_webhook_deliveries
    from public, anon, authenticated;
grant all on table public.wa_webhooks, public.wa_webhook_events, public.wa_webhook_deliveries
    to service_role;
alter table public.wa_webhooks           enable row level security;
alter table public.wa_webhook_events     enable row level security;
alter table public.wa_webhook_deliveries enable row level security;
-- No policy: the service role bypasses RLS, every other role sees no row.

-- A session's pruning in one call (PostgREST cannot say "not referenced"): the delivered and
-- dead deliveries last attempted (never attempted: created) before `prune_before`, then the
-- events logged before it that no delivery left names. Pending and retrying ones stay.
create function public.prune_webhooks(prune_session text, prune_before double precision)
returns void
language sql
volatile
security invoker
set search_path = ''
as $$
    delete from public.wa_webhook_deliveries
    where session = prune_session and status in ('delivered', 'dead')
        and coalesce(last_attempt_at, created_at) < prune_before;
    delete from public.wa_webhook_events e
    where e.session = prune_session and e.at < prune_before
        and not exists (
            select 1 from public.wa_webhook_deliveries d
            where d.session = e.session and d.event_id = e.id
        );
$$;
revoke execute on function public.prune_webhooks(text, double precision)
    from public, anon, authenticated;
grant execute on function public.prune_webhooks(text, double precision) to service_role;

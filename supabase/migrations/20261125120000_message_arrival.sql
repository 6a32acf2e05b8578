-- Messages of the same second in the order they arrived: WhatsApp timestamps are in seconds,
-- and message ids are random, so neither orders a burst. The orchestrator stamps each message
-- when it first sees it (microseconds since the epoch, increasing); older rows keep 0.
alter table public.wa_messages add column arrival bigint not null default 0;

drop index public.wa_messages_chat_ts_idx;
create index wa_messages_chat_ts_idx on public.wa_messages (chat_id, ts desc, arrival desc, id desc);

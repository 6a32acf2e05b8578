-- Undecryptable messages (type 'waiting') are all read at start, whatever the chat window:
-- their content may still arrive, and /metrics counts them. A few rows out of millions.
create index wa_messages_waiting_idx on public.wa_messages (chat_id, id) where type = 'waiting';

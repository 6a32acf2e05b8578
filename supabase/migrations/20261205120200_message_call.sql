-- A call (Baileys' `call` event) is a message of type 'call' whose id is the call id; this is
-- its call as the orchestrator last saw it: {"direction": "incoming" | "outgoing",
-- "kind": "voice" | "video", "outcome": "ringing" | "accepted" | "rejected" | "missed",
-- "isGroup": bool, "status": <Baileys' last status>}. Null for every other message. Written by
-- the service role only, read under the wa_messages policies like every other column.
alter table public.wa_messages add column call jsonb;

comment on column public.wa_messages.call is
    'A call message''s call {"direction","kind","outcome","isGroup","status"}; null otherwise. Written by the orchestrator.';

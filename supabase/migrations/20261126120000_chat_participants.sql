-- A group's members and their admin roles, as the orchestrator last saw them (group metadata,
-- then participant events): [{"id": "<jid>", "admin": null | "admin" | "superadmin"}].
-- Null for a 1:1 chat, or a group whose members were never seen. Ids are canonical: the
-- phone-number jid once the LID's mapping is known. Written by the service role only, read
-- under the wa_chats policies like every other column.
alter table public.wa_chats add column participants jsonb;

comment on column public.wa_chats.participants is
    'Group members [{"id","admin"}]; null when not a group or not known. Written by the orchestrator.';

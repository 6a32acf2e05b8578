-- One person, two ids: WhatsApp names a person by phone-number jid or by LID. The
-- orchestrator keeps the mappings it learns here, so after a restart a message that names only
-- the LID still lands in the person's one chat. Written by the service role only.
create table public.wa_jid_aliases (
    lid text primary key,
    pn  text not null
);
comment on table public.wa_jid_aliases is 'LID -> phone-number jid of the same person; service role only.';

revoke all on table public.wa_jid_aliases from public, anon, authenticated;
grant all on table public.wa_jid_aliases to service_role;
alter table public.wa_jid_aliases enable row level security;
-- No policy: users never read or write it.

-- WhatsApp Business labels, as the phone's app state last said (labels.edit): deleted labels
-- stay, flagged, so that a late association to one stays hidden. `color` is WhatsApp's
-- palette index (0-19). Each chat's label ids (labels.association) are in wa_chats.labels.
-- Written by the service role only.
create table public.wa_labels (
    id            text primary key,
    name          text not null default '',
    color         integer not null default 0,
    deleted       boolean not null default false,
    predefined_id text
);
comment on table public.wa_labels is 'WhatsApp Business labels; written by the orchestrator.';

alter table public.wa_chats add column labels jsonb not null default '[]'::jsonb;
comment on column public.wa_chats.labels is
    'WhatsApp Business label ids on the chat (see wa_labels). Written by the orchestrator.';

revoke all on table public.wa_labels from public, anon, authenticated;
grant all on table public.wa_labels to service_role;
grant select on table public.wa_labels to authenticated;
alter table public.wa_labels enable row level security;
-- Like contacts, labels are not tied to one chat: any helpdesk user may read them.
create policy "wa_labels: helpdesk users read" on public.wa_labels
    for select to authenticated
    using ((select public.current_role_name()) is not null);

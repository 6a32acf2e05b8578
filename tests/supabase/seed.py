"""The data every RLS test starts from: a small helpdesk with an admin, a supervisor, two agents
(Ana, Bruno) and a signed-up user without a profile; three chats, one assigned to each agent
and one unassigned, each with messages, a note and (for the assigned ones) a tag."""

from __future__ import annotations

from psycopg import sql

ADMIN = "00000000-0000-4000-8000-00000000000a"
SUPERVISOR = "00000000-0000-4000-8000-00000000000b"
AGENT1 = "00000000-0000-4000-8000-0000000000a1"
AGENT2 = "00000000-0000-4000-8000-0000000000a2"
NO_PROFILE = "00000000-0000-4000-8000-0000000000ff"  # signed up, profile removed

CHAT_A1 = "111@s.whatsapp.net"  # assigned to AGENT1
CHAT_A2 = "222@s.whatsapp.net"  # assigned to AGENT2
CHAT_FREE = "333@s.whatsapp.net"  # unassigned
ALL_CHATS = frozenset({CHAT_A1, CHAT_A2, CHAT_FREE})

# Every table the migrations create; the tests assert RLS on each.
TABLES = (
    "wa_chats",
    "wa_messages",
    "wa_contacts",
    "wa_sync_state",
    "wa_jid_aliases",
    "profiles",
    "chat_assignments",
    "tags",
    "chat_tags",
    "chat_notes",
    "quick_replies",
    "settings",
    "activity_logs",
    "wa_labels",
    "whatsapp_sessions",
    "wa_stream_log",
    "chat_status",
    "session_settings",
    "rule_runs",
    "rule_cursors",
    "wa_webhooks",
    "wa_webhook_events",
    "wa_webhook_deliveries",
)

SEED = sql.SQL("""
truncate auth.users, public.profiles, public.wa_chats, public.wa_messages, public.wa_contacts,
    public.wa_sync_state, public.wa_jid_aliases, public.chat_assignments, public.tags,
    public.chat_tags,
    public.chat_notes, public.quick_replies, public.settings, public.activity_logs,
    public.wa_labels, public.whatsapp_sessions, public.wa_stream_log, public.chat_status,
    public.session_settings, public.rule_runs, public.rule_cursors, public.wa_webhooks,
    public.wa_webhook_events, public.wa_webhook_deliveries
    restart identity cascade;

-- The on_auth_user_created trigger gives each an 'agent' profile; promote two of them.
insert into auth.users (id, email) values
    ({ADMIN}, 'admin@example.com'), ({SUPERVISOR}, 'sup@example.com'),
    ({AGENT1}, 'ana@example.com'), ({AGENT2}, 'bruno@example.com'),
    ({NO_PROFILE}, 'new@example.com');
update public.profiles set role = 'admin' where id = {ADMIN};
update public.profiles set role = 'supervisor' where id = {SUPERVISOR};
delete from public.profiles where id = {NO_PROFILE};

insert into public.wa_chats (id, name, last_activity) values
    ({CHAT_A1}, 'Customer one', 300), ({CHAT_A2}, 'Customer two', 200),
    ({CHAT_FREE}, 'Customer three', 100);
insert into public.wa_messages (chat_id, id, from_me, ts, type, body, ack) values
    ({CHAT_A1}, 'm1', false, 10, 'text', 'hello', 3),
    ({CHAT_A1}, 'm2', true, 11, 'text', 'hi, how can I help', 4),
    ({CHAT_A2}, 'm3', false, 20, 'text', 'order status?', 3),
    ({CHAT_FREE}, 'm4', false, 30, 'text', 'anyone there?', 3);
insert into public.wa_contacts (id, name) values ({CHAT_A1}, 'Customer one'),
    ({CHAT_A2}, 'Customer two');
insert into public.wa_sync_state (id, epoch, seq) values ('bridge', 'e1', 42);
insert into public.wa_stream_log (id, ord, type, chat_id, json, logged_at) values
    ('e1:42:0', 1, 'new_message', {CHAT_A1}, '{{"id":"e1:42:0"}}', 1800000000);
insert into public.wa_jid_aliases (lid, pn) values ('9911@lid', '111@s.whatsapp.net');

insert into public.chat_assignments (chat_id, agent_id, assigned_by) values
    ({CHAT_A1}, {AGENT1}, {SUPERVISOR}), ({CHAT_A2}, {AGENT2}, {SUPERVISOR});

-- Agent 1's chat waits on the customer; the free one was resolved by the supervisor.
insert into public.chat_status (chat_id, status, updated_by) values
    ({CHAT_A1}, 'pending', {AGENT1}), ({CHAT_FREE}, 'resolved', {SUPERVISOR});

insert into public.tags (name, color) values ('vip', 'gold'), ('billing', 'blue');
insert into public.chat_tags (chat_id, tag_id) values ({CHAT_A1}, 1), ({CHAT_A2}, 1);

insert into public.chat_notes (chat_id, author_id, body) values
    ({CHAT_A1}, {AGENT1}, 'note by ana'),
    ({CHAT_A2}, {AGENT2}, 'note by bruno'),
    ({CHAT_FREE}, {SUPERVISOR}, 'note by supervisor');

insert into public.quick_replies (shortcut, body, created_by) values
    ('/hi', 'Hello! How can we help?', {SUPERVISOR});
insert into public.settings (key, value) values ('business_hours', '{{"open": "09:00"}}');
insert into public.activity_logs (actor_id, action, chat_id) values
    ({AGENT1}, 'chat.take', {CHAT_A1}), ({AGENT2}, 'chat.take', {CHAT_A2}),
    ({ADMIN}, 'settings.update', null);

insert into public.wa_labels (id, name, color) values ('1', 'New customer', 0), ('5', 'VIP', 3);
update public.wa_chats set labels = '["5"]' where id = {CHAT_A1};

insert into public.whatsapp_sessions (id, name, proxy) values
    ('sales', 'Sales', 'socks5://user:secret@proxy.example:1080');

insert into public.session_settings (session, document, updated_by) values
    ('default', '{{"greeting": {{"enabled": true, "text": "Hi"}}}}', {ADMIN}),
    ('sales', '{{"greeting": {{"enabled": false, "text": ""}}}}', {ADMIN});
insert into public.rule_runs (session, chat_id, rule, conversation) values
    ('default', {CHAT_A1}, 'greeting', 'chat'), ('default', {CHAT_A2}, 'greeting', 'chat'),
    ('default', {CHAT_FREE}, 'away', 'chat'), ('sales', {CHAT_A1}, 'greeting', 'chat');
insert into public.rule_cursors (session, rule, value) values ('default', 'round_robin', {AGENT1});

insert into public.wa_webhooks (id, url, concurrency, secret, created_at, updated_at) values
    ('wh_00000000000000a1', 'https://crm.example/hook', 4,
     'whsec_c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3I=', 1800000000, 1800000000);
insert into public.wa_webhook_events (id, ord, type, chat_id, json, at) values
    ('e1:42:0', 1, 'new_message', {CHAT_A1}, '{{"id":"e1:42:0"}}', 1800000000);
insert into public.wa_webhook_deliveries (webhook_id, event_id, ord, status, created_at) values
    ('wh_00000000000000a1', 'e1:42:0', 1, 'pending', 1800000000);
""").format(
    ADMIN=sql.Literal(ADMIN),
    SUPERVISOR=sql.Literal(SUPERVISOR),
    AGENT1=sql.Literal(AGENT1),
    AGENT2=sql.Literal(AGENT2),
    NO_PROFILE=sql.Literal(NO_PROFILE),
    CHAT_A1=sql.Literal(CHAT_A1),
    CHAT_A2=sql.Literal(CHAT_A2),
    CHAT_FREE=sql.Literal(CHAT_FREE),
)

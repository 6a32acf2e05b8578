-- Realtime: the frontend subscribes to changes of the helpdesk metadata. Supabase Realtime
-- applies the tables' SELECT policies per subscriber, so agents only receive rows of chats
-- they can see. The wa_* history is NOT published: the orchestrator streams it itself
-- (SSE/WebSocket), and publishing messages would double the traffic.

-- Supabase creates the publication; create it when missing (a bare PostgreSQL, local tests).
do $$
begin
    if not exists (select 1 from pg_publication where pubname = 'supabase_realtime') then
        create publication supabase_realtime;
    end if;
end;
$$;

-- Add each table unless it is already published (re-running on a project that published
-- some of them by hand must not fail).
do $$
declare
    t text;
begin
    foreach t in array array[
        'chat_assignments', 'chat_tags', 'chat_notes', 'tags', 'quick_replies', 'settings'
    ] loop
        if not exists (
            select 1 from pg_publication_tables
            where pubname = 'supabase_realtime' and schemaname = 'public' and tablename = t
        ) then
            execute format('alter publication supabase_realtime add table public.%I', t);
        end if;
    end loop;
end;
$$;

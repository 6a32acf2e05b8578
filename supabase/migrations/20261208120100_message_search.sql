-- Message search (GET /search): full-text search over a message's text (body or caption).
-- The 'simple' configuration (no stemming: customers write in any language) over the text
-- with accents folded by unaccent when the database has it ("cafe" finds "café"), else as is.
-- An expression GIN index, not a stored column: no table rewrite, no second copy of the
-- text, and the messages already stored are indexed when it is built.
-- The function search_messages is called through PostgREST (`rpc`): security invoker, so a
-- signed-in user gets only the messages row-level security shows him; the orchestrator (the
-- service role) names the session and the chats to leave out itself.

-- public.search_fold(text): the text as it is indexed and searched. Immutable, as an index
-- expression must be: unaccent(text) is only stable (it reads its dictionary through the
-- search path), unaccent(dictionary, text) with both named is not.
do $$
declare
    home text;
begin
    if exists (select 1 from pg_catalog.pg_available_extensions where name = 'unaccent') then
        create schema if not exists extensions;  -- where Supabase keeps extensions
        create extension if not exists unaccent with schema extensions;
        select n.nspname into home
        from pg_catalog.pg_extension e
        join pg_catalog.pg_namespace n on n.oid = e.extnamespace
        where e.extname = 'unaccent';
        -- Every role that writes or reads messages evaluates the index expression (Supabase
        -- grants this on its extensions schema already; a database set up by hand may not).
        execute format('grant usage on schema %I to anon, authenticated, service_role', home);
        execute format(
            $f$
            create function public.search_fold(value text) returns text
            language sql
            immutable
            parallel safe
            set search_path = ''
            as $body$ select %1$I.unaccent(%2$L::regdictionary, value) $body$
            $f$,
            home,
            pg_catalog.quote_ident(home) || '.unaccent'
        );
    else
        create function public.search_fold(value text) returns text
        language sql
        immutable
        parallel safe
        set search_path = ''
        as $body$ select value $body$;
    end if;
end;
$$;

create index wa_messages_search_idx on public.wa_messages
    using gin (pg_catalog.to_tsvector('simple'::regconfig, public.search_fold(coalesce(body, ''))));

-- The tsquery of a search box's text, as orchestrator/search.py reads it: plain words (no
-- operators: quotes, `&`, `|`, `!`, `:` are only text), all of them required, the last one as
-- a prefix too. plainto_tsquery never fails on any text; the prefix is added to its canonical
-- output, which quotes each lexeme. A query without a word is an empty tsquery: no match.
create function public.search_tsquery(query text) returns tsquery
language plpgsql
immutable
parallel safe
set search_path = ''
as $$
declare
    words text[] := pg_catalog.regexp_split_to_array(pg_catalog.btrim(coalesce(query, '')), '\s+');
    head tsquery;
    tail tsquery;
begin
    head := pg_catalog.plainto_tsquery(
        'simple',
        public.search_fold(pg_catalog.array_to_string(words[1:pg_catalog.cardinality(words) - 1], ' '))
    );
    tail := pg_catalog.plainto_tsquery('simple', public.search_fold(words[pg_catalog.cardinality(words)]));
    if pg_catalog.numnode(tail) > 0 then
        tail := (tail::text || ':*')::tsquery;
    end if;
    return head && tail;
end;
$$;

-- One page of search results: best match first (ts_rank), newest first among equals, none
-- deleted. `hidden_chats`: the chats the caller may not see (the orchestrator's agents'
-- rule); RLS applies besides (security invoker).
create function public.search_messages(
    search_session text,
    query text,
    search_chat_id text default null,
    hidden_chats text[] default '{}',
    page_limit integer default 50,
    page_offset integer default 0
) returns setof public.wa_messages
language sql
stable
security invoker
set search_path = ''
as $$
    select m.*
    from public.wa_messages m,
        lateral (select public.search_tsquery(query) as q) s
    where m.session = search_session
        and pg_catalog.to_tsvector('simple'::regconfig, public.search_fold(coalesce(m.body, ''))) @@ s.q
        and (search_chat_id is null or m.chat_id = search_chat_id)
        and not (m.chat_id = any (coalesce(hidden_chats, '{}')))
        and not m.deleted
    order by
        pg_catalog.ts_rank(
            pg_catalog.to_tsvector('simple'::regconfig, public.search_fold(coalesce(m.body, ''))), s.q
        ) desc,
        m.ts desc, m.arrival desc, m.id desc
    limit least(greatest(coalesce(page_limit, 50), 0), 1000)  -- the API asks 1 more than a page
    offset greatest(coalesce(page_offset, 0), 0)
$$;

revoke execute on function public.search_messages(text, text, text, text[], integer, integer)
    from public, anon;
grant execute on function public.search_messages(text, text, text, text[], integer, integer)
    to authenticated, service_role;

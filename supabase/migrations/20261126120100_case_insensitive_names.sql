-- "Billing" and "billing" are one tag, "/Hi" and "/hi" one quick-reply shortcut: unique
-- whatever the case, through a unique index on lower(). The orchestrator's SQLite store does
-- the same (orchestrator/store/sqlite.py, upgrade 5). The plain unique constraints stay
-- (anything written against them, such as an upsert on_conflict=name, keeps working).
--
-- A database that already holds values differing only in case keeps every row: the first
-- (lowest id) keeps its value, each later one gets " (n)", n the smallest number from 2 that no
-- value holds yet in any case. Deterministic, and the new values collide with nothing (what
-- precedes " (n)" and n read back unambiguously, so two renamed values differ, and none equals
-- a value that was there). Ids do not change, so chat_tags still point at the same tags.

do $$
declare
    target record;
begin
    for target in
        select * from (values ('tags', 'name'), ('quick_replies', 'shortcut')) as t (tbl, col)
    loop
        execute format($sql$
            with ranked as (
                select id, %2$I as value, lower(%2$I) as folded,
                       row_number() over (partition by lower(%2$I) order by id) - 1 as k
                from public.%1$I
            ),
            later as (select * from ranked where k > 0),
            free as (
                select g.folded, n, row_number() over (partition by g.folded order by n) as k
                from (select distinct folded from later) g,
                     generate_series(2, (select count(*) from public.%1$I) + 1) as n
                where g.folded || ' (' || n || ')' not in (select lower(%2$I) from public.%1$I)
            ),
            renames as (
                select later.id, later.value || ' (' || free.n || ')' as value
                from later join free on free.folded = later.folded and free.k = later.k
            )
            update public.%1$I t set %2$I = renames.value from renames where t.id = renames.id
        $sql$, target.tbl, target.col);
    end loop;
end;
$$;

create unique index tags_lower_name_key on public.tags (lower(name));
create unique index quick_replies_lower_shortcut_key on public.quick_replies (lower(shortcut));

{#-
    Pre-hook of every intermediate and mart model (dbt_project.yml): a
    warehouse built before record keys became arrays holds left_record_keys /
    right_record_keys as comma-joined text in int_records_matched, run_breaks
    and breaks. Converted in place, once, before any model writes: an insert
    would otherwise store the array's text form, '{a,b}', in the old column
    without error. A pre-hook, not on-run-start: dbt builds the models even
    after an on-run-start hook failed, a failed pre-hook stops its model and
    everything downstream. Break and unit ids are md5s over the comma-joined
    keys, so old and new rows keep the same ids.

    Guarded: one catalog lookup finds nothing to do on every later run. Under
    an advisory lock, so two runs starting together convert once. Views over
    the tables (matches, an analyst's own) cannot stay while a column they
    read changes type: they are dropped and made again from their own
    definition, with their grants, deepest last, all in the model's
    transaction. A view that no longer builds over arrays stops the run, named.
-#}
{% macro recon_record_keys_as_arrays() -%}
    {%- set prefix = var('recon_schema_prefix', '') -%}
do $recon_keys$
declare
    schemas constant text[] := array[
        {{ sql_string_literal(prefix ~ 'recon_intermediate') }}, {{ sql_string_literal(prefix ~ 'reconciliation') }}
    ];
    tables oid[];
    dependents jsonb;
    dependent jsonb;
    old_column record;
    grant_statement text;
begin
    for attempt in 1..2 loop
        select array_agg(distinct columns.attrelid) into tables
        from pg_attribute as columns
        inner join pg_class as tbl on tbl.oid = columns.attrelid
        inner join pg_namespace as ns on ns.oid = tbl.relnamespace
        where ns.nspname = any(schemas)
            and tbl.relkind in ('r', 'p')
            and columns.attname in ('left_record_keys', 'right_record_keys')
            and columns.atttypid = 'text'::regtype
            and not columns.attisdropped;
        if tables is null then
            return;  -- converted already (or, after the lock, by a run that held it)
        end if;
        exit when attempt = 2;
        perform pg_advisory_xact_lock(hashtext('recon_record_keys_as_arrays'));
    end loop;

    with recursive depending (view_oid, depth) as (
        select rewrite.ev_class, 1
        from pg_depend as dep
        inner join pg_rewrite as rewrite on rewrite.oid = dep.objid
        where dep.classid = 'pg_rewrite'::regclass
            and dep.refobjid = any(tables)
            and rewrite.ev_class <> dep.refobjid
        union
        select rewrite.ev_class, depending.depth + 1
        from depending
        inner join pg_depend as dep on dep.refobjid = depending.view_oid
        inner join pg_rewrite as rewrite on rewrite.oid = dep.objid
        where dep.classid = 'pg_rewrite'::regclass
            and rewrite.ev_class <> depending.view_oid
    )
    select coalesce(jsonb_agg(jsonb_build_object(
        'name', format('%I.%I', ns.nspname, views.relname),
        'kind', case views.relkind when 'm' then 'materialized view' else 'view' end,
        'definition', pg_get_viewdef(views.oid),
        'grants', (
            select coalesce(jsonb_agg(format(
                'grant %s on %I.%I to %s', acl.privilege_type, ns.nspname, views.relname,
                case acl.grantee when 0 then 'public' else quote_ident(pg_get_userbyid(acl.grantee)) end
            )), '[]')
            from aclexplode(views.relacl) as acl
            where acl.grantee <> views.relowner
        )
    ) order by levels.depth), '[]') into dependents
    from (select view_oid, max(depth) as depth from depending group by view_oid) as levels
    inner join pg_class as views on views.oid = levels.view_oid
    inner join pg_namespace as ns on ns.oid = views.relnamespace;

    for dependent in
        select views.item from jsonb_array_elements(dependents) with ordinality as views (item, position)
        order by views.position desc
    loop
        execute format('drop %s %s', dependent ->> 'kind', dependent ->> 'name');
    end loop;

    for old_column in
        select columns.attrelid::regclass as tbl, columns.attname
        from pg_attribute as columns
        where columns.attrelid = any(tables)
            and columns.attname in ('left_record_keys', 'right_record_keys')
            and columns.atttypid = 'text'::regtype
    loop
        raise notice 'recon: %.% becomes text[] (comma-joined keys split)', old_column.tbl, old_column.attname;
        execute format(
            'alter table %s alter column %I type text[] using string_to_array(%I, '','')',
            old_column.tbl, old_column.attname, old_column.attname
        );
    end loop;

    for dependent in select value from jsonb_array_elements(dependents) loop
        begin
            execute format('create %s %s as %s', dependent ->> 'kind', dependent ->> 'name',
                dependent ->> 'definition');
        exception when others then
            raise exception 'recon: record keys are text[] now, and view % no longer builds over them (%);'
                ' nothing was changed. Drop or adapt the view, then run again.', dependent ->> 'name', sqlerrm;
        end;
        for grant_statement in select jsonb_array_elements_text(dependent -> 'grants') loop
            execute grant_statement;
        end loop;
    end loop;
end
$recon_keys$
{%- endmacro %}

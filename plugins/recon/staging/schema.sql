-- Warehouse bootstrap: the tables recon's Python writes. dbt owns everything it builds itself.
-- Idempotent; run under an advisory lock by recon.staging.schema.ensure_schema.

create schema if not exists staging;
create schema if not exists reconciliation;

-- Canonical records: every source mapped into one shape, keyed by the run (spec, window).
-- Partitioned by run_id, and each run partition by source (recon.staging.partitions): replacing a
-- (run, source) slice is a partition swap, retention drops whole runs, and a run's cost does not grow
-- with history. No index: dbt reads a whole run, which `where run_id = ...` prunes to its partitions.
-- A warehouse from before partitioning keeps its rows in staging.records_unpartitioned.
do $$
begin
    if exists (
        select from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'staging' and c.relname = 'records' and c.relkind = 'r'
    ) then
        alter table staging.records rename to records_unpartitioned;
        drop index if exists staging.records_run_idx;
    end if;
end $$;

create table if not exists staging.records (
    spec text not null,
    source text not null,
    run_id text not null,
    window_start timestamptz not null,
    window_end timestamptz not null,
    record_key text not null,
    group_key text,
    -- Null only for a reference that maps no money (a catalogue), or a snapshot without a time.
    amount numeric,
    currency text,
    occurred_at timestamptz,
    status text,
    customer_email text,
    reference text,
    attributes jsonb not null default '{}',
    origin text not null,
    origin_line integer,
    loaded_at timestamptz not null default now()
) partition by list (run_id);

-- A warehouse from before references without money or time had these three not null. Checked first:
-- ALTER TABLE takes an exclusive lock on staging.records, which no run should wait for once done.
do $$
begin
    if exists (
        select from pg_attribute
        where attrelid = 'staging.records'::regclass and attnotnull
            and attname in ('amount', 'currency', 'occurred_at')
    ) then
        alter table staging.records
            alter column amount drop not null,
            alter column currency drop not null,
            alter column occurred_at drop not null;
    end if;
end $$;

-- Rows inserted by hand (tests, ad-hoc fixes) land here; the loaders never write to it. Keep it
-- empty in production: attaching a run partition checks it for rows of that run.
create table if not exists staging.records_default partition of staging.records default;

-- One row per run partition of staging.records, so retention can find runs by spec and window.
create table if not exists staging.record_partitions (
    run_id text primary key,
    spec text not null,
    window_start timestamptz not null,
    window_end timestamptz not null,
    partition_name text not null unique,
    created_at timestamptz not null default now()
);
create index if not exists record_partitions_spec_idx on staging.record_partitions (spec, window_end);

-- Rows that could not be mapped, with the reason and where they came from.
create table if not exists staging.quarantine (
    spec text not null,
    source text not null,
    run_id text not null,
    origin text not null,
    origin_line integer,
    record_key text,
    reason text not null,
    raw jsonb not null,
    raw_line text,  -- the row as text (re-joined in the file's dialect when it was parsed)
    quarantined_at timestamptz not null default now()
);
alter table staging.quarantine add column if not exists raw_line text;
create index if not exists quarantine_run_idx on staging.quarantine (spec, run_id, source);

-- ISO 4217 exponents, filled from recon.money so SQL and Python convert alike.
create table if not exists staging.currencies (
    currency text primary key,
    exponent integer not null
);

-- Casts that answer null instead of failing, so bad rows can be quarantined set-wise.
-- Numbers: a regex admits exactly what ::numeric accepts (but NaN/Infinity), so the cast never
-- fails and the SQL function inlines into the mapping query.
create or replace function staging.try_numeric(value text) returns numeric
language sql immutable parallel safe as $$
    select case when value ~ '^[+-]?([0-9]+[.]?[0-9]*|[.][0-9]+)([eE][+-]?[0-9]+)?$' then value::numeric end
$$;

-- Timestamps: a timestamp without an offset is read as UTC, never as the server's local time.
-- Postgres 16+ checks input without raising (pg_input_is_valid), which keeps this an inlinable
-- SQL function; older servers fall back to catching the error, which costs a subtransaction a row.
do $$
begin
    if current_setting('server_version_num')::int >= 160000 then
        execute $f$
            create or replace function staging.try_timestamptz(value text) returns timestamptz
            language sql stable parallel safe as $body$
                select case
                    when value ~ '\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?)$'
                        then case when pg_input_is_valid(value, 'timestamptz') then value::timestamptz end
                    when pg_input_is_valid(value, 'timestamp')
                        then value::timestamp at time zone 'UTC'
                end
            $body$
        $f$;
    else
        execute $f$
            create or replace function staging.try_timestamptz(value text) returns timestamptz
            language plpgsql stable as $body$
            begin
                if value ~ '\d:\d\d(:\d\d(\.\d+)?)?\s*([zZ]|[+-]\d\d(:?\d\d)?)$' then
                    return value::timestamptz;
                end if;
                return value::timestamp at time zone 'UTC';
            exception when others then
                return null;
            end $body$
        $f$;
    end if;
end $$;

-- The run ledger: one row per run key, its lifecycle and final status.
create table if not exists reconciliation.runs (
    run_id text primary key,
    spec text not null,
    window_start timestamptz not null,
    window_end timestamptz not null,
    status text not null check (status in ('running', 'success', 'discrepancy_found', 'error')),
    airflow_run_id text,
    error_message text,
    started_at timestamptz not null default now(),
    finished_at timestamptz
);

-- What publishing a run fills in from the dbt marts (recon.runs.publish_run).
alter table reconciliation.runs
    add column if not exists severity text,
    add column if not exists duration_seconds numeric,
    add column if not exists break_count integer,
    add column if not exists pending_count integer,
    add column if not exists discrepancy_percent numeric,
    add column if not exists break_counts jsonb,
    add column if not exists totals jsonb,
    add column if not exists recommendations jsonb,
    add column if not exists integrity_failures jsonb;
-- 1 for a window's first run, +1 for each rerun (alerts are keyed by it); alert delivery problems.
alter table reconciliation.runs
    add column if not exists attempt integer not null default 1,
    add column if not exists warnings jsonb not null default '[]';

-- Integrity check results (Great Expectations), one row per expectation per run.
create table if not exists reconciliation.integrity_results (
    run_id text not null,
    spec text not null,
    suite text not null,
    expectation text not null,
    column_name text,
    severity text not null,
    is_success boolean not null,
    unexpected_count bigint,
    details jsonb not null default '{}',
    checked_at timestamptz not null default now()
);
create index if not exists integrity_results_run_idx on reconciliation.integrity_results (run_id);
-- Spec-declared rules (recon.integrity): which rule, where, and how much of the data broke it.
alter table reconciliation.integrity_results
    add column if not exists checkpoint text not null default 'staging',
    add column if not exists rule_name text,
    add column if not exists rule text,
    add column if not exists source text,
    add column if not exists field text,
    add column if not exists threshold numeric,
    add column if not exists element_count bigint,
    add column if not exists unexpected_percent numeric,
    add column if not exists sample_record_ids jsonb not null default '[]';
create index if not exists integrity_results_spec_idx on reconciliation.integrity_results (spec, checked_at);
-- What the rule's failure does (stop | mark | quarantine); severity says only how loud it is.
alter table reconciliation.integrity_results add column if not exists on_fail text;

-- Alerts to send (recon.alerts.outbox), built from the result tables; sending reads only this table.
-- alert_id is the idempotency key: <run_id>#<attempt>#<channel>#<event>[#<PagerDuty dedup key>], so
-- a retried task or a second sender never queues or sends one alert twice.
create table if not exists reconciliation.alert_outbox (
    alert_id text primary key,
    run_id text not null,
    spec text not null,
    attempt integer not null default 1,
    channel text not null check (channel in ('slack', 'pagerduty')),
    event text not null check (event in ('result', 'trigger', 'resolve', 'failure')),
    connection_id text not null,
    dedup_key text,
    payload jsonb not null,
    status text not null default 'pending'
        check (status in ('pending', 'sent', 'failed', 'superseded', 'gave_up')),
    attempts integer not null default 0,
    last_error text,
    response text,
    created_at timestamptz not null default now(),
    next_attempt_at timestamptz,
    sent_at timestamptz
);
create index if not exists alert_outbox_due_idx on reconciliation.alert_outbox (spec, status)
    where status in ('pending', 'failed');
create index if not exists alert_outbox_dedup_idx on reconciliation.alert_outbox (dedup_key, created_at);

-- The reconcile section of a run's spec, one row per pair, written when the run starts
-- (recon.matching.write_pair_settings). The dbt matching models read it, so they stay generic.
create table if not exists staging.pair_settings (
    run_id text not null,
    spec text not null,
    pair text not null,
    pair_kind text not null check (pair_kind in ('records', 'balances')),
    left_source text not null,
    right_source text not null,
    left_keys text[] not null,
    right_keys text[] not null,
    group_side text check (group_side in ('left', 'right', 'both')),
    amount_tolerance numeric not null,
    amount_tolerance_percent numeric not null,
    left_status_map jsonb,
    right_status_map jsonb,
    compare_attributes text[] not null default '{}',
    late_after interval,
    settlement_window interval not null default '0',
    near_fields text[],
    near_within interval,
    near_amount_tolerance numeric,
    fallback_rules jsonb not null default '[]',
    left_stuck_statuses text[],
    left_stuck_after interval,
    right_stuck_statuses text[],
    right_stuck_after interval,
    tolerance_percent numeric not null,
    critical_percent numeric not null,
    written_at timestamptz not null default now(),
    primary key (run_id, pair)
);
-- A repeated key's copy window (duplicates.copy_within) and the amount below which nothing is
-- critical (severity.min_amount), added after the table: warehouses created earlier get them here.
alter table staging.pair_settings
    add column if not exists copy_within interval not null default '0',
    add column if not exists critical_min_amount numeric not null default 0;
-- How each side's keys are normalised before matching ({"left": form, "right": form}, null: as they
-- are; recon.key_forms), added after the table: warehouses created earlier get it here.
alter table staging.pair_settings add column if not exists key_forms jsonb;
-- Pending per side (timing.pending, settlement_window folded in): how long a lone record of any status
-- is held, and per transitional status (seconds) how long a record in it is held, lone or matched;
-- and the severity per break class (severity.classes, the pair's over the spec's).
alter table staging.pair_settings
    add column if not exists left_pending_within interval not null default '0',
    add column if not exists left_pending_statuses jsonb,
    add column if not exists right_pending_within interval not null default '0',
    add column if not exists right_pending_statuses jsonb,
    add column if not exists class_severity jsonb;

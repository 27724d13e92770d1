"""The seed of the dashboard benchmark (include/bench/dashboard.py): a year of runs and a million
breaks, written set-based by SQL, not by Python loops over rows.

Every draw comes from md5 of the seed and a row number, sliced into 16-bit fractions (``bench_seed.u``),
so the same arguments give the same warehouse. The statements run one after the other, each in its own
transaction, in a scratch schema ``bench_seed`` of helper functions and the breaks' draws, dropped at the
end. What each table gets:

- ``runs``: one per spec and day; about 2 % failed (``error``, with an email and a phone number in the
  message), the first spec's latest run still ``running``, 10 % ``success`` (within tolerance), the rest
  ``discrepancy_found``; their figures (severity, break counts, totals) as ``publish_run`` fills them in.
- ``breaks``: every class (40 % missing, 30 % amount mismatches, ...), 10 % critical, amounts from 1 to
  50,000 in USD, EUR, GBP and JPY, 70 % with a customer email, first seen any day of the year (5 % of the
  first spec's on one incident day, the day before the latest); 65 % seen once, 25 % 2-4 times, 10 %
  5-15 times. Seen by the latest run: 90 % open, else ignored. Earlier: 30 % open (never evaluated
  again), 50 % resolved by the next run, 10 % resolved by a review, 10 % ignored.
- ``run_breaks``: each break in every published run of its life; ``run_summary``: per published run and
  currency, counted from them.
- ``integrity_results`` (9 rules, 16 results per published run, 3 % failed), ``alert_outbox`` (a Slack
  result per published run, a PagerDuty trigger per critical one, both on failures),
  ``staging.quarantine`` (0-5 rows per source and run), ``audit_log`` (one entry per review),
  ``corrections`` (a fifth of the first spec's amount mismatches), and the corrected system's table
  ``bench_target.ledger_entries`` (the ledger rows of the first spec's open amount mismatches).

``staging.records`` and ``staging.record_partitions`` stay empty: no dashboard page reads them.
"""

from __future__ import annotations

import sys
import time
from datetime import datetime
from typing import Any

import psycopg
from psycopg import sql

PAIR = "processor_vs_ledger"
TARGET_CONNECTION = "bench_target_writer"
TARGET_TABLE = "bench_target.ledger_entries"
SPIKE_SHARE = 0.05  # of the first spec's breaks, first seen on one incident day

SEED_FUNCTIONS = """
create schema bench_seed;
-- A row's 16 random bytes: md5 of a text that names it.
create function bench_seed.h(name text) returns bytea language sql immutable as
$$ select decode(md5(name), 'hex') $$;
-- The k-th 16-bit slice of those bytes as a fraction in [0, 1): eight independent draws per hash.
create function bench_seed.u(h bytea, k int) returns double precision language sql immutable as
$$ select (get_byte(h, 2 * k) * 256 + get_byte(h, 2 * k + 1)) / 65536.0 $$;
create function bench_seed.day(base timestamptz, d int) returns timestamptz language sql immutable as
$$ select base + d * interval '1 day' $$;
"""

# One row per (spec, day). ~2 % failed; the first spec's latest run is in progress; 10 % within tolerance.
# The run id is recon.window.RunWindow.run_id: "<spec>/<start iso>/<end iso>".
SEED_RUNS = """
insert into reconciliation.runs (run_id, spec, window_start, window_end, status, airflow_run_id,
    error_message, started_at, finished_at, attempt)
select s.spec || '/' || to_char(starts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"') || '/'
        || to_char(ends at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"+00:00"'),
    s.spec, starts, ends,
    case when running then 'running' when failed then 'error'
         when bench_seed.u(h, 1) < 0.10 then 'success' else 'discrepancy_found' end,
    'scheduled__' || to_char(starts at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS'),
    case when failed then 'extract_processor: login refused for ops.' || d || '@example.com,'
        || ' call +44 20 7946 0958' end,
    case when running then now() - interval '3 minutes' else ends + interval '5 minutes' end,
    case when not running then ends + (330 + bench_seed.u(h, 2) * 600) * interval '1 second' end,
    1 + (bench_seed.u(h, 3) < 0.05)::int
from unnest(%(specs)s::text[]) with ordinality as s(spec, n)
cross join generate_series(0, %(runs)s - 1) as d
cross join lateral (
    select bench_seed.h(s.spec || ':' || d) as h, bench_seed.day(%(base)s, d) as starts,
        bench_seed.day(%(base)s, d + 1) as ends, s.n = 1 and d = %(runs)s - 1 as running
) as drawn
cross join lateral (select not running and bench_seed.u(h, 0) < 0.02 as failed) as outcome;
-- The runs by day number, so the breaks find theirs by a join rather than by formatting run ids.
create unlogged table bench_seed.days as
select spec, (extract(epoch from window_start - %(base)s) / 86400)::int as d, run_id, window_start,
    window_end, status
from reconciliation.runs;
alter table bench_seed.days add primary key (spec, d);
analyze bench_seed.days;
"""

# One row per break, with the draws that shape it (two hashes: sixteen fractions, each drawn once).
SEED_BREAKS = """
create unlogged table bench_seed.breaks as
with drawn as materialized (
    select i, (%(specs)s::text[])[1 + i %% %(spec_count)s] as spec, i %% %(spec_count)s = 0 as first_spec,
        bench_seed.u(h, 0) as u_spike, bench_seed.u(h, 1) as u_day, bench_seed.u(h, 2) as u_span,
        bench_seed.u(h, 3) as u_length, bench_seed.u(h, 4) as u_class, bench_seed.u(h, 5) as u_side,
        bench_seed.u(h, 6) as u_severity, bench_seed.u(h, 7) as u_status, bench_seed.u(g, 0) as u_currency,
        bench_seed.u(g, 1) as u_size, bench_seed.u(g, 2) as u_off, bench_seed.u(g, 3) as u_email,
        bench_seed.u(g, 4) as u_time
    from generate_series(0, %(breaks)s - 1) as i
    cross join lateral (
        select bench_seed.h(%(seed)s || ':' || i) as h, bench_seed.h(%(seed)s || ':' || i || ':2') as g
    ) as hashes
),
shaped as materialized (
    select i, spec, u_status, u_side, u_off, u_email, u_time * 86400 as second_of_day,
        case when first_spec and u_spike < %(spike)s then %(runs)s - 2
             else least(%(runs)s - 1, floor(u_day * %(runs)s)::int) end as f,
        case when u_span < 0.65 then 0 when u_span < 0.90 then 1 + floor(u_length * 3)::int
             else 4 + floor(u_length * 11)::int end as span,
        case when u_class < 0.40 then 'missing' when u_class < 0.70 then 'amount_mismatch'
             when u_class < 0.80 then 'status_mismatch' when u_class < 0.85 then 'duplicate'
             when u_class < 0.90 then 'late' when u_class < 0.93 then 'currency_mismatch'
             when u_class < 0.96 then 'near_duplicate' when u_class < 0.98 then 'attribute_mismatch'
             else 'stuck' end as break_class,
        case when u_severity < 0.10 then 'critical' else 'warning' end as severity,
        case when u_currency < 0.50 then 'USD' when u_currency < 0.75 then 'EUR'
             when u_currency < 0.90 then 'GBP' else 'JPY' end as currency,
        exp(u_size * ln(50000.0))::numeric as size
    from drawn
),
valued as materialized (
    select *, least(%(runs)s - 1, f + span) as l, 'pay_' || i as record_key,
        round(size, case when currency = 'JPY' then 0 else 2 end) as amount,
        case when break_class = 'missing' then (case when u_side < 0.5 then 'ledger' else 'processor' end)
        end as missing_in
    from shaped
),
priced as (
    select *, case when break_class = 'amount_mismatch'
                   then greatest(round(amount * (0.001 + u_off * 0.2)::numeric, 2), 0.01) end as off_by
    from valued
)
select i, spec, f, l, break_class, severity, record_key, currency, amount, second_of_day, missing_in,
    md5(spec || '|' || %(pair)s || '|' || break_class || '|' || record_key || '|1') as break_id,
    case when missing_in = 'processor' then null else array[record_key] end as left_record_keys,
    case when missing_in = 'ledger' then null else array[record_key] end as right_record_keys,
    case when missing_in = 'processor' then null else amount end as left_amount,
    case when missing_in = 'ledger' then null else amount - coalesce(off_by, 0) end as right_amount,
    coalesce(off_by, amount) as discrepancy_amount,
    case when u_email < 0.7 then 'customer.' || (i %% 5000) || '@example.com' end as customer_email,
    case when l = %(runs)s - 1 then (case when u_status < 0.9 then 'open' else 'ignored' end)
         when u_status < 0.30 then 'open' when u_status < 0.80 then 'resolved'
         when u_status < 0.90 then 'reviewed' else 'ignored' end as status
from priced
"""

BREAK_COLUMNS = """
    break_id, run_id, spec, pair, break_class, severity, missing_in, left_source, right_source, match_key,
    left_record_keys, right_record_keys, left_amount, right_amount, left_currency, right_currency, currency,
    amount_difference, discrepancy_amount, occurred_at, left_status, right_status, different_fields,
    customer_email, reference
"""
BREAK_VALUES = """
    b.break_id, {run_id}, b.spec, %(pair)s, b.break_class, b.severity, b.missing_in, 'processor', 'ledger',
    b.record_key, b.left_record_keys, b.right_record_keys, b.left_amount, b.right_amount,
    case when b.left_amount is not null then b.currency end,
    case when b.right_amount is not null then
        case when b.break_class = 'currency_mismatch' then 'CHF' else b.currency end end,
    b.currency, b.left_amount - b.right_amount, b.discrepancy_amount,
    bench_seed.day(%(base)s, b.f) + b.second_of_day * interval '1 second',
    case when b.left_amount is not null then 'succeeded' end,
    case when b.right_amount is null then null when b.break_class = 'status_mismatch' then 'refunded'
         when b.break_class = 'stuck' then 'pending' else 'succeeded' end,
    case b.break_class when 'amount_mismatch' then '{{amount}}'::text[]
         when 'status_mismatch' then '{{status}}' when 'currency_mismatch' then '{{currency}}'
         when 'attribute_mismatch' then '{{channel}}' else '{{}}' end,
    b.customer_email, 'ref-' || b.i || ' ' || coalesce(b.customer_email, '')
"""

# The break's run_id is the run that last wrote it: the one that resolved it, else the last to see it.
SEED_BREAKS_TABLE = (
    "insert into reconciliation.breaks ("
    + BREAK_COLUMNS
    + """, first_seen_run_id, first_seen_at,
    last_seen_run_id, last_seen_at, times_seen, status, resolved_by_run_id, resolved_at, age_days, updated_at)
select """
    + BREAK_VALUES.format(run_id="coalesce(resolver.run_id, last.run_id)")
    + """,
    first.run_id, first.window_end, last.run_id, last.window_end, b.l - b.f + 1,
    case b.status when 'reviewed' then 'resolved' else b.status end, resolver.run_id,
    case when b.status = 'resolved' then resolver.window_end
         when b.status = 'reviewed' then last.window_end + interval '3 hours' end,
    round((b.l - b.f + case b.status when 'resolved' then 1 when 'reviewed' then 0.125 else 0 end)::numeric,
          2),
    last.window_end + interval '5 minutes'
from bench_seed.breaks b
join bench_seed.days first on first.spec = b.spec and first.d = b.f
join bench_seed.days last on last.spec = b.spec and last.d = b.l
left join bench_seed.days resolver
    on b.status = 'resolved' and resolver.spec = b.spec and resolver.d = b.l + 1
"""
)

# Each break in every published run of its life (failed and running runs published nothing).
SEED_RUN_BREAKS = (
    "insert into reconciliation.run_breaks (window_start, window_end, "
    + BREAK_COLUMNS
    + """,
    left_occurred_at, right_occurred_at, time_difference_seconds, match_rule, carried_from_run_id,
    is_carried_break, detected_at)
select r.window_start, r.window_end, """
    + BREAK_VALUES.format(run_id="r.run_id")
    + """,
    case when b.left_amount is not null
        then bench_seed.day(%(base)s, b.f) + b.second_of_day * interval '1 second' end,
    case when b.right_amount is not null
        then bench_seed.day(%(base)s, b.f) + b.second_of_day * interval '1 second'
            + case when b.break_class = 'late' then interval '3 days' else interval '0' end end,
    case when b.break_class = 'late' then 259200 end, null, carried.run_id, carried.run_id is not null,
    r.window_end + interval '6 minutes'
from bench_seed.breaks b
cross join generate_series(b.f, b.l) as seen(day)
join bench_seed.days r on r.spec = b.spec and r.d = seen.day
left join bench_seed.days carried
    on b.break_class = 'missing' and seen.day > b.f and carried.spec = b.spec and carried.d = seen.day - 1
where r.status in ('success', 'discrepancy_found')
"""
)

# Per published run and currency, from its breaks; record counts and totals drawn per run.
SEED_RUN_SUMMARY = """
insert into reconciliation.run_summary (run_id, spec, window_start, window_end, pair, pair_kind, currency,
    left_source, right_source, left_record_count, right_record_count, left_total_amount, right_total_amount,
    net_difference_amount, matched_count, matched_within_tolerance_count, amount_mismatch_count,
    currency_mismatch_count, status_mismatch_count, attribute_mismatch_count, late_count,
    missing_in_left_count, missing_in_right_count, pending_count, duplicate_count, near_duplicate_count,
    group_mismatch_count, balance_mismatch_count, stuck_count, break_count, carried_break_count,
    pending_amount, discrepancy_amount, gross_amount, tolerance_percent, critical_percent,
    discrepancy_percent, status, severity, summarized_at)
with found as (
    select run_id, currency, count(*) filter (where not is_carried_break) as break_count,
        count(*) filter (where is_carried_break) as carried,
        coalesce(sum(discrepancy_amount) filter (where not is_carried_break), 0) as discrepancy,
        count(*) filter (where break_class = 'amount_mismatch') as amount_mismatch,
        count(*) filter (where break_class = 'currency_mismatch') as currency_mismatch,
        count(*) filter (where break_class = 'status_mismatch') as status_mismatch,
        count(*) filter (where break_class = 'attribute_mismatch') as attribute_mismatch,
        count(*) filter (where break_class = 'late') as late,
        count(*) filter (where break_class = 'missing' and missing_in = 'processor') as missing_left,
        count(*) filter (where break_class = 'missing' and missing_in = 'ledger') as missing_right,
        count(*) filter (where break_class = 'duplicate') as duplicate,
        count(*) filter (where break_class = 'near_duplicate') as near_duplicate,
        count(*) filter (where break_class = 'stuck') as stuck
    from reconciliation.run_breaks group by run_id, currency
),
sized as (
    select r.run_id, r.spec, r.window_start, r.window_end, r.status as run_status, c.currency,
        (4000 + bench_seed.u(bench_seed.h(r.run_id || c.currency), 0) * 16000)::bigint as records,
        coalesce(f.break_count, 0) as break_count, coalesce(f.carried, 0) as carried,
        coalesce(f.discrepancy, 0) as discrepancy, f.amount_mismatch, f.currency_mismatch, f.status_mismatch,
        f.attribute_mismatch, f.late, f.missing_left, f.missing_right, f.duplicate, f.near_duplicate, f.stuck
    from reconciliation.runs r
    cross join (values ('USD'), ('EUR'), ('GBP'), ('JPY')) as c(currency)
    left join found f on f.run_id = r.run_id and f.currency = c.currency
    where r.status in ('success', 'discrepancy_found')
),
totals as (
    select *, records * 120.00 as gross,
        case when records * 120.00 > 0 then round(discrepancy / (records * 120.00) * 100, 4) else 0 end as pct
    from sized
)
select run_id, spec, window_start, window_end, %(pair)s, 'records', currency, 'processor', 'ledger', records,
    records - coalesce(missing_right, 0) + coalesce(missing_left, 0), gross, gross - discrepancy, discrepancy,
    greatest(records - break_count, 0), break_count / 10, coalesce(amount_mismatch, 0),
    coalesce(currency_mismatch, 0), coalesce(status_mismatch, 0), coalesce(attribute_mismatch, 0),
    coalesce(late, 0), coalesce(missing_left, 0), coalesce(missing_right, 0), 0, coalesce(duplicate, 0),
    coalesce(near_duplicate, 0), 0, 0, coalesce(stuck, 0), break_count, carried, 0, discrepancy, gross, 0, 5,
    pct, case when run_status = 'success' or break_count = 0 then 'success' else 'discrepancy_found' end,
    case when pct > 5 then 'critical' when break_count > 0 then 'warning' else 'ok' end,
    window_end + interval '6 minutes'
from totals
"""

# What recon.runs.publish_run fills in, from the summaries and the breaks.
SEED_RUN_FIGURES = """
with summary as (
    select run_id, max(discrepancy_percent) as pct, sum(break_count) as breaks,
        max(array_position(array['ok', 'info', 'warning', 'critical'], severity)) as worst,
        jsonb_agg(jsonb_build_object('pair', pair, 'currency', currency, 'left_source', left_source,
            'right_source', right_source, 'left_record_count', left_record_count,
            'right_record_count', right_record_count, 'left_total_amount', left_total_amount::text,
            'right_total_amount', right_total_amount::text, 'discrepancy_amount', discrepancy_amount::text,
            'discrepancy_percent', discrepancy_percent::text, 'status', status, 'severity', severity)
            order by currency) as totals
    from reconciliation.run_summary group by run_id
),
classes as (
    select run_id, jsonb_object_agg(break_class, n) as counts
    from (select run_id, break_class, count(*) as n from reconciliation.run_breaks
          where not is_carried_break group by run_id, break_class) as per_class
    group by run_id
)
update reconciliation.runs r set
    status = case when r.status = 'success' or s.breaks = 0 then 'success' else 'discrepancy_found' end,
    severity = (array['ok', 'info', 'warning', 'critical'])[s.worst],
    duration_seconds = round(extract(epoch from r.finished_at - r.started_at)::numeric, 3),
    break_count = s.breaks, pending_count = 0, discrepancy_percent = s.pct,
    break_counts = coalesce(c.counts, '{}'), totals = s.totals,
    recommendations = '[]', integrity_failures = '[]'
from summary s left join classes c using (run_id)
where r.run_id = s.run_id
"""

# The default integrity rules (recon.integrity): seven per source on staging, two on the results.
SEED_INTEGRITY = """
insert into reconciliation.integrity_results (run_id, spec, suite, expectation, column_name, severity,
    is_success, unexpected_count, details, checked_at, checkpoint, rule_name, rule, source, field,
    threshold, element_count, unexpected_percent, sample_record_ids)
select r.run_id, r.spec, 'recon_' || r.spec || '_' || rule.checkpoint || '_' || rule.severity,
    'expect_column_values_' || rule.expects, rule.field, rule.severity, ok, case when ok then 0 else 3 end,
    '{}', r.finished_at, rule.checkpoint, rule.name || coalesce('_' || side.source, ''), rule.rule,
    side.source, rule.field, 0, 12000, case when ok then 0 else 0.025 end,
    case when ok then '[]'::jsonb else '["pay_1", "pay_2", "pay_3"]'::jsonb end
from reconciliation.runs r
cross join (values
    ('staging', 'record_key_not_null', 'not_null', 'to_not_be_null', 'record_key', 'critical', true),
    ('staging', 'amount_not_negative', 'range', 'to_be_between', 'amount', 'high', true),
    ('staging', 'currency_iso_4217', 'in_set', 'to_be_in_set', 'currency', 'high', true),
    ('staging', 'customer_email_format', 'regex', 'to_match_regex', 'customer_email', 'medium', true),
    ('staging', 'occurred_at_not_future', 'range', 'to_be_between', 'occurred_at', 'medium', true),
    ('staging', 'occurred_at_in_window', 'range', 'to_be_between', 'occurred_at', 'low', true),
    ('staging', 'no_duplicates', 'unique', 'to_be_unique', 'record_key', 'medium', true),
    ('results', 'records_accounted_once', 'accounted_once', 'to_be_in_set', null, 'critical', false),
    ('results', 'counts_add_up', 'counts_add_up', 'to_be_in_set', null, 'critical', false)
) as rule(checkpoint, name, rule, expects, field, severity, per_source)
cross join lateral (
    select unnest(case when rule.per_source then array['processor', 'ledger'] else array[null::text] end)
        as source
) as side
cross join lateral (
    select bench_seed.u(bench_seed.h(r.run_id || rule.name || coalesce(side.source, '')), 0) >= 0.03 as ok
) as outcome
where r.status in ('success', 'discrepancy_found')
"""

# A Slack result per published run, a PagerDuty trigger per critical one; both on a failed run.
SEED_ALERTS = """
insert into reconciliation.alert_outbox (alert_id, run_id, spec, attempt, channel, event, connection_id,
    dedup_key, payload, status, attempts, created_at, sent_at)
select r.run_id || '#' || r.attempt || '#' || a.channel || '#' || a.event, r.run_id, r.spec, r.attempt,
    a.channel, a.event, a.channel || '_alerts', case when a.channel = 'pagerduty' then 'recon/' || r.spec end,
    jsonb_build_object('summary', r.spec || ': ' || coalesce(r.break_count, 0) || ' breaks ('
        || coalesce(r.discrepancy_percent, 0) || ' %%), ' || r.status, 'text',
        'Run ' || r.run_id || ' ' || r.status || '; details in the dashboard', 'severity', r.severity),
    case when a.channel = 'pagerduty' and bench_seed.u(bench_seed.h(r.run_id), 4) < 0.1
         then 'failed' else 'sent' end,
    1, r.finished_at, r.finished_at + interval '2 seconds'
from reconciliation.runs r
cross join (values ('slack', 'result'), ('pagerduty', 'trigger'), ('slack', 'failure'),
                   ('pagerduty', 'failure')) as a(channel, event)
where (a.event = 'result' and r.status in ('success', 'discrepancy_found'))
   or (a.event = 'trigger' and r.severity = 'critical')
   or (a.event = 'failure' and r.status = 'error')
"""

# 0-5 unparseable lines per source and published run, the raw line with an email in it.
SEED_QUARANTINE = """
insert into staging.quarantine (spec, source, run_id, origin, origin_line, record_key, reason, raw,
    raw_line, quarantined_at)
select r.spec, src.source, r.run_id, src.source || '.csv', 100 + line, 'bad_' || line,
    'amount: not a number', jsonb_build_object('id', 'bad_' || line, 'amount', 'n/a'),
    'bad_' || line || ',n/a,USD,' || to_char(r.window_start, 'YYYY-MM-DD') || ',buyer' || line
        || '@example.com',
    r.finished_at
from reconciliation.runs r
cross join (values ('processor'), ('ledger')) as src(source)
cross join lateral
    generate_series(1, floor(bench_seed.u(bench_seed.h(r.run_id || src.source), 0) * 6)::int) as line
where r.status in ('success', 'discrepancy_found')
"""

# Reviews: one audit entry per break ignored or resolved by hand.
SEED_AUDIT = """
insert into reconciliation.audit_log (recorded_at, actor, action, spec, break_id, note, before, after)
select bench_seed.day(%(base)s, l + 1) + interval '3 hours', 'analyst.' || (i %% 7),
    case when status = 'ignored' then 'break.ignore' else 'break.resolve' end, spec, break_id,
    case when status = 'ignored' then 'settles next day (bank holiday)' else 'fixed in the ledger' end,
    '{"status": "open"}',
    jsonb_build_object('status', case when status = 'ignored' then 'ignored' else 'resolved' end)
from bench_seed.breaks where status in ('ignored', 'reviewed')
"""

# A fifth of the first spec's amount mismatches were corrected (applied) or have a plan waiting.
SEED_CORRECTIONS = """
insert into reconciliation.corrections (correction_id, spec, break_id, break_class, kind, target_connection,
    target_table, record_key, row_id, before, after, status, planned_at, planned_by, applied_at, applied_by,
    outcome)
select substr(md5(break_id || ':correction'), 1, 32), spec, break_id, break_class, 'update', %(target)s,
    %(target_table)s, record_key, 'entry-' || record_key,
    jsonb_build_object('amount', right_amount::text), jsonb_build_object('amount', left_amount::text),
    case when done then 'applied' else 'planned' end,
    bench_seed.day(%(base)s, l + 1) + interval '2 hours', 'analyst.' || (i %% 7),
    case when done then bench_seed.day(%(base)s, l + 1) + interval '3 hours' end,
    case when done then 'analyst.' || (i %% 7) end, case when done then 'updated 1 row' end
from bench_seed.breaks
cross join lateral (select status in ('resolved', 'reviewed') as done) as outcome
where spec = %(corrected)s and break_class = 'amount_mismatch'
    and bench_seed.u(bench_seed.h(break_id), 0) < 0.2
"""

# The corrected system (the first spec's ledger): one row per record of its open amount mismatches.
SEED_TARGET = """
create schema bench_target;
create table bench_target.ledger_entries (entry_id text primary key, entry_key text not null,
    amount numeric not null, currency text not null, status text not null, booked_at timestamptz not null);
insert into bench_target.ledger_entries
select 'entry-' || record_key, record_key, right_amount, currency, 'booked',
    bench_seed.day(%(base)s, f) + second_of_day * interval '1 second'
from bench_seed.breaks
where spec = %(corrected)s and break_class = 'amount_mismatch' and status = 'open';
create index on bench_target.ledger_entries (entry_key);
"""

# The per-record units of the corrected spec's open amount mismatches in the run that last saw each:
# corrections check the truth behind a break against them (recon.corrections.truth), as they would in
# a warehouse whose runs are within retention.
SEED_UNITS = """
insert into recon_intermediate.int_records_matched (run_id, spec, window_start, window_end, pair,
    pair_kind, left_source, right_source, outcome, is_break, match_key, left_record_keys,
    right_record_keys, left_record_count, right_record_count, left_amount, right_amount, currency, unit_id)
select b.last_seen_run_id, b.spec, r.window_start, r.window_end, b.pair, 'records', b.left_source,
    b.right_source, b.break_class, true, b.match_key, b.left_record_keys, b.right_record_keys, 1, 1,
    b.left_amount, b.right_amount, b.currency, b.break_id
from reconciliation.breaks b
join reconciliation.runs r on r.run_id = b.last_seen_run_id
where b.spec = %(corrected)s and b.break_class = 'amount_mismatch' and b.status = 'open'
"""

SEED_STEPS = (
    ("runs", SEED_RUNS), ("breaks (draws)", SEED_BREAKS), ("breaks", SEED_BREAKS_TABLE),
    ("run_breaks", SEED_RUN_BREAKS), ("run_summary", SEED_RUN_SUMMARY), ("run figures", SEED_RUN_FIGURES),
    ("integrity_results", SEED_INTEGRITY), ("alert_outbox", SEED_ALERTS), ("quarantine", SEED_QUARANTINE),
    ("audit_log", SEED_AUDIT), ("corrections", SEED_CORRECTIONS), ("corrected system", SEED_TARGET),
    ("units", SEED_UNITS),
)  # fmt: skip
SEEDED_TABLES = (
    "reconciliation.runs", "reconciliation.breaks", "reconciliation.run_breaks", "reconciliation.run_summary",
    "reconciliation.integrity_results", "reconciliation.alert_outbox", "staging.quarantine",
    "reconciliation.audit_log", "reconciliation.corrections", "bench_target.ledger_entries",
)  # fmt: skip


# dbt's own indexes on its tables (recon_index_run_id): dropped for the bulk insert and built again
# after it with the same definitions, rather than maintained row by row in random run order.
DBT_INDEXES = """
select indexname, indexdef from pg_indexes
where schemaname = 'reconciliation' and tablename in ('breaks', 'run_breaks', 'run_summary')
"""


def seed(
    db_url: str, names: list[str], runs: int, breaks: int, base: datetime, seed_value: int
) -> dict[str, Any]:
    """Fill the warehouse for ``names`` (the first one corrected): ``runs`` daily runs each, the last
    window ending at ``base`` + ``runs`` days, and ``breaks`` breaks; then dbt's indexes again, the
    dashboard's (recon.dashboard.indexes) and VACUUM ANALYZE. Returns the time of each step, the row
    count of each table and the mix of runs and breaks."""
    params = {"base": base, "runs": runs, "breaks": breaks, "specs": names, "spec_count": len(names),
              "seed": str(seed_value), "spike": SPIKE_SHARE, "pair": PAIR, "target": TARGET_CONNECTION,
              "corrected": names[0], "target_table": TARGET_TABLE}  # fmt: skip
    steps: dict[str, float] = {}
    # Client-side binding: the seed's scripts hold DDL and several statements, which server-side
    # parameters cannot reach; every value is our own and psycopg quotes it.
    with psycopg.connect(db_url, autocommit=True, cursor_factory=psycopg.ClientCursor) as conn:
        conn.execute("set timezone = 'UTC'")
        # The seed's own sorts, hashes and index builds; the dashboard's queries run with the defaults.
        conn.execute("set work_mem = '256MB'")
        conn.execute("set maintenance_work_mem = '512MB'")
        conn.execute(SEED_FUNCTIONS)
        dbt_indexes = conn.execute(DBT_INDEXES).fetchall()
        for name, _ in dbt_indexes:
            conn.execute(sql.SQL("drop index reconciliation.{}").format(sql.Identifier(name)))
        for name, statement in SEED_STEPS:
            _step(steps, name, lambda statement=statement: conn.execute(statement, params))
        _step(steps, "indexes", lambda: _indexes(conn, [definition for _, definition in dbt_indexes]))
        _step(steps, "vacuum analyze", lambda: _vacuum(conn))
        conn.execute("drop schema bench_seed cascade")
        return {"steps_s": steps, **_figures(conn)}


def _step(steps: dict[str, float], name: str, work: Any) -> None:
    started = time.perf_counter()
    work()
    steps[name] = round(time.perf_counter() - started, 2)
    print(f"  seed {name}: {steps[name]:.1f} s", file=sys.stderr)


def _indexes(conn: psycopg.Connection, dbt_indexes: list[str]) -> None:
    from recon.dashboard.indexes import create_indexes

    for definition in dbt_indexes:
        conn.execute(sql.SQL(definition))  # type: ignore[arg-type]  # Postgres's own pg_get_indexdef
    create_indexes(conn)


def _vacuum(conn: psycopg.Connection) -> None:
    for table in SEEDED_TABLES:
        conn.execute(sql.SQL("vacuum analyze {}").format(sql.Identifier(*table.split("."))))


def _figures(conn: psycopg.Connection) -> dict[str, Any]:
    """Rows per table, runs per status, breaks per status, class and severity, the biggest tables."""
    rows = {
        table: conn.execute(sql.SQL("select count(*) from {}").format(sql.Identifier(*table.split("."))))
        .fetchone()[0]
        for table in SEEDED_TABLES
    }  # fmt: skip
    breaks = {
        f"{column}={value}": count
        for column in ("status", "break_class", "severity")
        for value, count in conn.execute(
            sql.SQL("select {0}, count(*) from reconciliation.breaks group by 1 order by 1").format(
                sql.Identifier(column)
            )
        ).fetchall()
    }
    sizes = conn.execute(
        "select c.relname, pg_size_pretty(pg_total_relation_size(c.oid)) from pg_class c"
        " join pg_namespace n on n.oid = c.relnamespace where n.nspname = 'reconciliation'"
        " and c.relkind = 'r' order by pg_total_relation_size(c.oid) desc limit 4"
    ).fetchall()
    runs = conn.execute("select status, count(*) from reconciliation.runs group by 1").fetchall()
    return {"rows": rows, "breaks": breaks, "runs": dict(runs), "table_sizes": dict(sizes)}

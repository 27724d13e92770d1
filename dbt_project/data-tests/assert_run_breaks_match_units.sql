-- The current run's run_breaks must be exactly its units whose outcome is a
-- break, and run_summary's break counts must add up to them.

with

units as (

    select unit_id, outcome
    from {{ ref('int_records_matched') }}
    where run_id = {{ sql_string_literal(var('run_id')) }} and is_break

),

breaks as (

    select break_id, break_class
    from {{ ref('run_breaks') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}

),

differences as (

    (select unit_id, outcome, 'unit without a break row' as problem from units
     except
     select break_id, break_class, 'unit without a break row' from breaks)

    union all

    (select break_id, break_class, 'break row without a unit' from breaks
     except
     select unit_id, outcome, 'break row without a unit' from units)

),

summary_counts as (

    select
        -- A currency mismatch is counted on both of its currencies' rows, once as cross-currency.
        sum(break_count - cross_currency_break_count + carried_break_count) as summary_breaks,
        (select count(*) from breaks) as break_rows

    from {{ ref('run_summary') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}

)

select unit_id as id, outcome, problem from differences

union all

select
    'run_summary' as id,
    cast(summary_breaks as text) as outcome,
    'break counts in run_summary do not add up to run_breaks (' || break_rows || ' rows)' as problem
from summary_counts
where coalesce(summary_breaks, 0) <> break_rows

-- Records of the current run (its own, per pair and side) that do not end in
-- exactly one unit of the pair: the engine's first promise. Records are
-- counted per pair and side against the units' record counts; records carried
-- from an earlier run are not this run's staging rows, so they are left out.

with

records as (

    select pair, side, count(*) as n_records
    from {{ ref('int_records_paired') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}
    group by pair, side

),

units as (

    select pair, 'left' as side, sum(left_record_count) as n_records
    from {{ ref('int_records_matched') }}
    where run_id = {{ sql_string_literal(var('run_id')) }} and not is_left_carried
    group by pair

    union all

    select pair, 'right' as side, sum(right_record_count) as n_records
    from {{ ref('int_records_matched') }}
    where run_id = {{ sql_string_literal(var('run_id')) }} and not is_right_carried
    group by pair

)

select
    coalesce(records.pair, units.pair) as pair,
    coalesce(records.side, units.side) as side,
    records.n_records as records_in_staging,
    units.n_records as records_in_units

from records
full outer join units
    on records.pair = units.pair and records.side = units.side
where coalesce(records.n_records, 0) <> coalesce(units.n_records, 0)

-- Records of the current run, as pairs see them, that break the view's
-- invariants; one pass over the view, for every check.

select
    pair_record_id,
    pair,
    side,
    case
        when run_id is null then 'run_id is null'
        when pair is null then 'pair is null'
        when pair_record_id is null then 'pair_record_id is null'
        when side is null or side not in ('left', 'right') then 'side is not left or right'
        when is_grouped is null then 'is_grouped is null'
        when is_stuck is null then 'is_stuck is null'
    end as problem

from {{ ref('int_records_paired') }}
where run_id = {{ sql_string_literal(var('run_id')) }}
    and (
        pair is null or pair_record_id is null or side is null or side not in ('left', 'right')
        or is_grouped is null or is_stuck is null
    )

-- Records of the current run whose window columns disagree with the window
-- vars the DAG passed (the result tables take their window from the vars).

select
    run_id,
    source_name,
    window_start,
    window_end,
    count(*) as n_records

from {{ ref('stg_staging__records') }}
where
    spec = {{ sql_string_literal(var('spec')) }}
    and run_id = {{ sql_string_literal(var('run_id')) }}
    and (
        window_start <> cast({{ sql_string_literal(var('window_start')) }} as timestamptz)
        or window_end <> cast({{ sql_string_literal(var('window_end')) }} as timestamptz)
    )
group by run_id, source_name, window_start, window_end

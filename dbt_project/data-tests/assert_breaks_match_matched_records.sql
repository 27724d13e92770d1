-- fct_breaks must hold exactly the non-matched records of the current run of
-- int_records_matched: returns keys present on one side only.

with

expected as (

    select run_id, record_key, match_status as break_type
    from {{ ref('int_records_matched') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}
        and match_status <> 'matched'

),

actual as (

    select run_id, record_key, break_type
    from {{ ref('fct_breaks') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}

),

only_expected as (

    select *, 'missing_from_fct_breaks' as problem from expected
    except
    select *, 'missing_from_fct_breaks' as problem from actual

),

only_actual as (

    select *, 'unexpected_in_fct_breaks' as problem from actual
    except
    select *, 'unexpected_in_fct_breaks' as problem from expected

)

select * from only_expected
union all
select * from only_actual

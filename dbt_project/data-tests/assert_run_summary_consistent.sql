-- Internal consistency of the current run's fct_run_summary against itself
-- and against int_records_matched. Returns one row per violated check.

with

summary as (

    select * from {{ ref('fct_run_summary') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}

),

matched_records as (

    select * from {{ ref('int_records_matched') }}
    where run_id = {{ sql_string_literal(var('run_id')) }}

),

row_checks as (

    select
        currency,
        'break_count is not the sum of its parts' as problem
    from summary
    where break_count <> missing_in_left_count + missing_in_right_count + amount_mismatch_count

    union all

    select
        currency,
        'status disagrees with break_count' as problem
    from summary
    where (status = 'success') <> (break_count = 0)

    union all

    select
        currency,
        'net_difference_amount is not left total - right total' as problem
    from summary
    where net_difference_amount <> left_total_amount - right_total_amount

),

run_checks as (

    select
        cast(null as text) as currency,
        'record counts differ from int_records_matched' as problem
    from
        (
            select
                coalesce(sum(left_record_count), 0) as left_record_count,
                coalesce(sum(right_record_count), 0) as right_record_count,
                coalesce(sum(left_total_amount), 0) as left_total_amount,
                coalesce(sum(right_total_amount), 0) as right_total_amount
            from summary
        ) as summary_totals
        cross join (
            select
                count(left_amount) as left_record_count,
                count(right_amount) as right_record_count,
                coalesce(sum(left_amount), 0) as left_total_amount,
                coalesce(sum(right_amount), 0) as right_total_amount
            from matched_records
        ) as record_totals
    where summary_totals.left_record_count <> record_totals.left_record_count
        or summary_totals.right_record_count <> record_totals.right_record_count
        or summary_totals.left_total_amount <> record_totals.left_total_amount
        or summary_totals.right_total_amount <> record_totals.right_total_amount

)

select * from row_checks
union all
select * from run_checks

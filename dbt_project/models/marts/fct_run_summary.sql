with

matched_records as (

    select * from {{ ref('int_records_matched') }}
    -- the intermediate table holds every past run
    where run_id = {{ sql_string_literal(var('run_id')) }}

),

-- Each present side of a record, in that side's own currency.
record_sides as (

    select run_id, left_currency as currency, 'left' as side, left_amount as amount
    from matched_records
    where left_currency is not null

    union all

    select run_id, right_currency as currency, 'right' as side, right_amount as amount
    from matched_records
    where right_currency is not null

),

side_totals as (

    select
        run_id,
        currency,
        count(*) filter (where side = 'left') as left_record_count,
        count(*) filter (where side = 'right') as right_record_count,
        coalesce(sum(amount) filter (where side = 'left'), 0) as left_total_amount,
        coalesce(sum(amount) filter (where side = 'right'), 0) as right_total_amount

    from record_sides
    group by run_id, currency

),

-- Each record's outcome, attributed to a currency. A record whose currency
-- differs between the sides counts in both currencies' rows, with each
-- side's full amount as discrepancy (amounts in different currencies cannot
-- be subtracted).
record_outcomes as (

    select
        run_id,
        currency,
        match_status,
        missing_in = left_source as is_missing_in_left,
        missing_in = right_source as is_missing_in_right,
        case
            when match_status = 'amount_mismatch' then abs(amount_difference)
            when match_status = 'missing_in_source' then abs(coalesce(left_amount, right_amount))
            else 0
        end as discrepancy_amount

    from matched_records
    where left_currency is null
        or right_currency is null
        or left_currency = right_currency

    union all

    select
        run_id,
        left_currency as currency,
        match_status,
        false as is_missing_in_left,
        false as is_missing_in_right,
        abs(left_amount) as discrepancy_amount

    from matched_records
    where left_currency <> right_currency

    union all

    select
        run_id,
        right_currency as currency,
        match_status,
        false as is_missing_in_left,
        false as is_missing_in_right,
        abs(right_amount) as discrepancy_amount

    from matched_records
    where left_currency <> right_currency

),

outcome_totals as (

    select
        run_id,
        currency,
        count(*) filter (where match_status = 'matched') as matched_count,
        count(*) filter (where is_missing_in_left) as missing_in_left_count,
        count(*) filter (where is_missing_in_right) as missing_in_right_count,
        count(*) filter (where match_status = 'amount_mismatch') as amount_mismatch_count,
        count(*) filter (where match_status <> 'matched') as break_count,
        sum(discrepancy_amount) as discrepancy_amount

    from record_outcomes
    group by run_id, currency

),

run_attributes as (

    select distinct
        run_id,
        spec,
        window_start,
        window_end,
        left_source,
        right_source

    from matched_records

),

summary as (

    select
        run_attributes.run_id,
        run_attributes.spec,
        run_attributes.window_start,
        run_attributes.window_end,
        side_totals.currency,
        run_attributes.left_source,
        run_attributes.right_source,
        side_totals.left_record_count,
        side_totals.right_record_count,
        side_totals.left_total_amount,
        side_totals.right_total_amount,
        side_totals.left_total_amount - side_totals.right_total_amount as net_difference_amount,
        outcome_totals.matched_count,
        outcome_totals.missing_in_left_count,
        outcome_totals.missing_in_right_count,
        outcome_totals.amount_mismatch_count,
        outcome_totals.break_count,
        outcome_totals.discrepancy_amount,
        case
            when side_totals.left_total_amount <> 0
                then round(outcome_totals.discrepancy_amount / abs(side_totals.left_total_amount) * 100, 4)
            when side_totals.right_total_amount <> 0
                then round(outcome_totals.discrepancy_amount / abs(side_totals.right_total_amount) * 100, 4)
        end as discrepancy_percent,
        case
            when outcome_totals.break_count = 0 then 'success'
            else 'discrepancy_found'
        end as status,
        cast('{{ run_started_at.isoformat() }}' as timestamptz) as summarized_at

    from side_totals
    inner join outcome_totals
        on side_totals.run_id = outcome_totals.run_id
        and side_totals.currency = outcome_totals.currency
    inner join run_attributes
        on side_totals.run_id = run_attributes.run_id

)

select * from summary

with

matched_records as (

    select * from {{ ref('int_records_matched') }}
    -- the intermediate table holds every past run
    where run_id = {{ sql_string_literal(var('run_id')) }}

),

breaks as (

    select
        md5(run_id || '|' || record_key) as break_id,
        run_id,
        spec,
        window_start,
        window_end,
        record_key,
        match_status as break_type,
        missing_in,
        left_source,
        right_source,
        left_amount,
        right_amount,
        amount_difference,
        currency,
        coalesce(left_occurred_at, right_occurred_at) as occurred_at,
        customer_email,
        reference,
        cast('{{ run_started_at.isoformat() }}' as timestamptz) as detected_at

    from matched_records
    where match_status <> 'matched'

)

select * from breaks

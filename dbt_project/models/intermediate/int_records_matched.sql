{{ recon_require_run_vars() }}

{#- The run is fully scoped by vars, so no is_incremental() filter is needed:
    the same SQL serves the first run, reruns and new runs. -#}

with

run_records as (

    select * from {{ ref('stg_staging__records') }}
    where
        spec = {{ sql_string_literal(var('spec')) }}
        and run_id = {{ sql_string_literal(var('run_id')) }}

),

left_records as (

    select * from run_records
    where source_name = {{ sql_string_literal(var('left_source')) }}

),

right_records as (

    select * from run_records
    where source_name = {{ sql_string_literal(var('right_source')) }}

),

joined as (

    select
        coalesce(left_records.record_key, right_records.record_key) as record_key,
        left_records.record_key is not null as is_in_left,
        right_records.record_key is not null as is_in_right,
        left_records.amount as left_amount,
        right_records.amount as right_amount,
        left_records.currency as left_currency,
        right_records.currency as right_currency,
        left_records.occurred_at as left_occurred_at,
        right_records.occurred_at as right_occurred_at,
        coalesce(right_records.customer_email, left_records.customer_email) as customer_email,
        coalesce(right_records.reference, left_records.reference) as reference

    from left_records
    full outer join right_records
        on left_records.record_key = right_records.record_key

),

compared as (

    select
        *,
        -- only comparable when both sides exist in the same currency
        case
            when is_in_left and is_in_right and left_currency = right_currency
                then left_amount - right_amount
        end as amount_difference

    from joined

),

classified as (

    select
        *,
        case
            when not is_in_left or not is_in_right
                then 'missing_in_source'
            when left_currency <> right_currency
                then 'amount_mismatch'
            when abs(amount_difference) > cast({{ sql_string_literal(var('amount_tolerance')) }} as numeric)
                then 'amount_mismatch'
            else 'matched'
        end as match_status,
        case
            when not is_in_left then cast({{ sql_string_literal(var('left_source')) }} as text)
            when not is_in_right then cast({{ sql_string_literal(var('right_source')) }} as text)
        end as missing_in

    from compared

),

final as (

    select
        cast({{ sql_string_literal(var('run_id')) }} as text) as run_id,
        cast({{ sql_string_literal(var('spec')) }} as text) as spec,
        cast({{ sql_string_literal(var('window_start')) }} as timestamptz) as window_start,
        cast({{ sql_string_literal(var('window_end')) }} as timestamptz) as window_end,
        record_key,
        cast({{ sql_string_literal(var('left_source')) }} as text) as left_source,
        cast({{ sql_string_literal(var('right_source')) }} as text) as right_source,
        left_amount,
        right_amount,
        left_currency,
        right_currency,
        coalesce(left_currency, right_currency) as currency,
        amount_difference,
        left_occurred_at,
        right_occurred_at,
        customer_email,
        reference,
        match_status,
        missing_in,
        cast('{{ run_started_at.isoformat() }}' as timestamptz) as matched_at

    from classified

)

select * from final

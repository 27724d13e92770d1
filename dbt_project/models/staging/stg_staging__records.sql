with

source as (

    select * from {{ source('staging', 'records') }}

),

renamed as (

    select
        -- ids
        spec,
        run_id,
        source as source_name,
        record_key,
        group_key,

        -- run window
        window_start,
        window_end,

        -- amounts
        cast(amount as numeric) as amount,
        currency,

        -- details
        status as record_status,
        customer_email,
        reference,
        attributes,

        -- lineage
        origin,
        origin_line as origin_line_number,

        -- timestamps
        occurred_at,
        loaded_at

    from source

)

select * from renamed

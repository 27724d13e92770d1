with

source as (

    select * from {{ source('staging', 'quarantine') }}

),

renamed as (

    select
        -- ids
        spec,
        run_id,
        source as source_name,
        record_key,

        -- why
        reason,

        -- lineage
        origin,
        origin_line as origin_line_number,

        -- timestamps
        quarantined_at

    from source

)

select * from renamed

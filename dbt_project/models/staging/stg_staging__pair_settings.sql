with

source as (

    select * from {{ source('staging', 'pair_settings') }}

),

renamed as (

    select
        -- ids
        run_id,
        spec,
        pair,
        pair_kind,

        -- sides
        left_source,
        right_source,
        left_keys,
        right_keys,
        key_forms,
        group_side,

        -- compared fields
        amount_tolerance,
        amount_tolerance_percent,
        left_status_map,
        right_status_map,
        compare_attributes,

        -- timing
        late_after,
        settlement_window,
        left_pending_within,
        left_pending_statuses,
        right_pending_within,
        right_pending_statuses,

        -- duplicates
        copy_within,
        near_fields,
        near_within,
        near_amount_tolerance,

        -- fallback rules and stuck records
        fallback_rules,
        left_stuck_statuses,
        left_stuck_after,
        right_stuck_statuses,
        right_stuck_after,

        -- run thresholds
        tolerance_percent,
        critical_percent,
        critical_min_amount,
        class_severity

    from source

)

select * from renamed

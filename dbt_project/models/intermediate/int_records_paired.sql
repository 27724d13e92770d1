{{ config(materialized='view') }}

{#- Every record of every run, once per pair its source takes part in, with the
    pair's view of it: its match key (in the side's key form, when the spec
    declares one), its status in the pair's vocabulary and whether it is stuck. A view: readers filter on run_id, which Postgres pushes
    down to the run's staging partitions. -#}

with

records as (

    select * from {{ ref('stg_staging__records') }}

),

settings as (

    select * from {{ ref('stg_staging__pair_settings') }}

),

-- Each pair seen from each of its two sides.
pair_sides as (

    select
        settings.run_id,
        settings.pair,
        settings.pair_kind,
        sides.side,
        sides.source_name,
        sides.key_fields,
        sides.status_map,
        sides.stuck_statuses,
        sides.stuck_after,
        coalesce(settings.group_side in (sides.side, 'both'), false) as is_grouped,
        settings.near_fields,
        -- A side without a form is a JSON null in key_forms: SQL null here.
        nullif(sides.key_form, 'null') as key_form,
        {{ recon_key_form_columns('sides.key_form') }}

    from settings
    cross join lateral (
        values
            ('left', settings.left_source, settings.left_keys, settings.left_status_map,
             settings.left_stuck_statuses, settings.left_stuck_after, settings.key_forms -> 'left'),
            ('right', settings.right_source, settings.right_keys, settings.right_status_map,
             settings.right_stuck_statuses, settings.right_stuck_after, settings.key_forms -> 'right')
    ) as sides (side, source_name, key_fields, status_map, stuck_statuses, stuck_after, key_form)

),

paired as (

    select
        records.run_id,
        records.spec,
        records.window_start,
        records.window_end,
        pair_sides.pair,
        pair_sides.pair_kind,
        pair_sides.side,
        pair_sides.is_grouped,
        records.source_name,
        -- Unique within a run (origin and line are unique; source and key keep a carried
        -- record apart from a fresh one at the same page position). Plain text: an md5
        -- of it cost more than the rest of the view together.
        concat_ws(chr(31), records.source_name, records.origin, records.origin_line_number, records.record_key)
            as pair_record_id,
        records.record_key,
        case
            when pair_sides.key_form is null then {{ recon_key('pair_sides.key_fields') }}
            else {{ recon_normalized_key('pair_sides.key_fields', 'pair_sides') }}
        end as match_key,
        case when pair_sides.near_fields is not null
            then {{ recon_key('pair_sides.near_fields') }}
        end as near_key,
        records.amount,
        records.currency,
        records.occurred_at,
        records.record_status,
        case
            when pair_sides.status_map is null then records.record_status
            else coalesce(pair_sides.status_map ->> records.record_status, records.record_status)
        end as normalized_status,
        records.customer_email,
        records.reference,
        records.attributes,
        records.group_key,
        records.origin,
        records.origin_line_number,
        coalesce(
            records.record_status = any(pair_sides.stuck_statuses)
            and records.occurred_at <= records.window_end - pair_sides.stuck_after,
            false
        ) as is_stuck

    from records
    inner join pair_sides
        on records.run_id = pair_sides.run_id
        and records.source_name = pair_sides.source_name

)

select * from paired

{{ config(incremental_strategy='merge', unique_key='break_id') }}

{#- One row per break, across runs: its latest values and its life. A break is
    identified by (spec, pair, class, the keys on each side), so the same
    discrepancy found by several runs is one row. Each run updates the breaks
    it found (last seen, times seen) and resolves the open breaks of records
    it evaluated without finding them again: a late arrival that now matches,
    or a rerun of a window whose data was fixed. `ignored` is set by a review
    (recon breaks ignore) and kept while the break's values do not change; a
    break a review resolved opens again if a run finds it. Rows no run touches
    stay as they are (merge on break_id). -#}

{%- set run_id = sql_string_literal(var('run_id')) -%}

with

found as (

    select * from {{ ref('run_breaks') }}
    where run_id = {{ run_id }}

),

evaluated as (

    select pair, left_record_keys, right_record_keys
    from {{ ref('int_records_matched') }}
    where run_id = {{ run_id }}

),

{% if is_incremental() %}

existing as (

    select * from {{ this }}
    where spec = {{ sql_string_literal(var('spec')) }}

),

{% else %}

existing as (

    select
        cast(null as text) as break_id,
        cast(null as text) as first_seen_run_id,
        cast(null as timestamptz) as first_seen_at,
        cast(null as text) as last_seen_run_id,
        cast(null as timestamptz) as last_seen_at,
        cast(null as integer) as times_seen,
        cast(null as text) as status,
        cast(null as numeric) as left_amount,
        cast(null as numeric) as right_amount,
        cast(null as text) as left_currency,
        cast(null as text) as right_currency,
        cast(null as text) as left_status,
        cast(null as text) as right_status,
        cast(null as text[]) as different_fields
    where false

),

{% endif %}

seen as (

    select
        found.break_id,
        found.run_id,
        found.spec,
        found.pair,
        found.break_class,
        found.severity,
        found.missing_in,
        found.left_source,
        found.right_source,
        found.match_key,
        found.left_record_keys,
        found.right_record_keys,
        found.left_amount,
        found.right_amount,
        found.left_currency,
        found.right_currency,
        found.currency,
        found.amount_difference,
        found.discrepancy_amount,
        found.occurred_at,
        found.left_status,
        found.right_status,
        found.different_fields,
        found.customer_email,
        found.reference,
        coalesce(existing.first_seen_run_id, found.run_id) as first_seen_run_id,
        coalesce(existing.first_seen_at, found.window_end) as first_seen_at,
        -- A rerun of an older window (after a newer run saw the break) is not a
        -- new sighting: it neither counts again nor moves last seen back.
        case when existing.last_seen_at > found.window_end then existing.last_seen_run_id
            else found.run_id end as last_seen_run_id,
        greatest(existing.last_seen_at, found.window_end) as last_seen_at,
        coalesce(existing.times_seen, 0)
            + case
                when existing.last_seen_run_id = found.run_id then 0
                when existing.last_seen_at > found.window_end then 0
                else 1
            end as times_seen,
        -- A review's `ignored` holds while the break's values stay as they were when it was
        -- last seen; a changed value is a new fact, so the break opens again.
        case
            when existing.status = 'ignored'
                and (found.left_amount, found.right_amount, found.left_currency, found.right_currency,
                     found.left_status, found.right_status, found.different_fields)
                    is not distinct from
                    (existing.left_amount, existing.right_amount, existing.left_currency,
                     existing.right_currency, existing.left_status, existing.right_status,
                     existing.different_fields)
                then 'ignored'
            else 'open'
        end as status,
        cast(null as text) as resolved_by_run_id,
        cast(null as timestamptz) as resolved_at

    from found
    left join existing
        on found.break_id = existing.break_id

),

{% if is_incremental() %}

resolved as (

    select
        existing.break_id,
        {{ run_id }} as run_id,
        existing.spec,
        existing.pair,
        existing.break_class,
        existing.severity,
        existing.missing_in,
        existing.left_source,
        existing.right_source,
        existing.match_key,
        existing.left_record_keys,
        existing.right_record_keys,
        existing.left_amount,
        existing.right_amount,
        existing.left_currency,
        existing.right_currency,
        existing.currency,
        existing.amount_difference,
        existing.discrepancy_amount,
        existing.occurred_at,
        existing.left_status,
        existing.right_status,
        existing.different_fields,
        existing.customer_email,
        existing.reference,
        existing.first_seen_run_id,
        existing.first_seen_at,
        existing.last_seen_run_id,
        existing.last_seen_at,
        existing.times_seen,
        'resolved' as status,
        {{ run_id }} as resolved_by_run_id,
        cast({{ sql_string_literal(var('window_end')) }} as timestamptz) as resolved_at

    from existing
    where existing.status = 'open'
        and not exists (select from found where found.break_id = existing.break_id)
        and (
            existing.last_seen_run_id = {{ run_id }}
            -- Uncorrelated IN lists: hashed once, not probed per open break.
            or (existing.pair, existing.left_record_keys) in (
                select pair, left_record_keys from evaluated where left_record_keys is not null
            )
            or (existing.pair, existing.right_record_keys) in (
                select pair, right_record_keys from evaluated where right_record_keys is not null
            )
        )

),

{% endif %}

lives as (

    select * from seen
    {% if is_incremental() %}
    union all
    select * from resolved
    {% endif %}

),

final as (

    select
        *,
        round(extract(epoch from coalesce(resolved_at, last_seen_at) - first_seen_at) / 86400, 2) as age_days,
        cast('{{ run_started_at.isoformat() }}' as timestamptz) as updated_at

    from lives

)

select * from final

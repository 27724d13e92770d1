{#- One row per matched unit per pair per run: two records, or a group and
    what it was matched with, with the rule that matched them and the residual
    of each compared field. A view over every run of int_records_matched, which
    holds these rows already: a table would write each run's million matched
    units a second time. Filter on run_id (indexed underneath). -#}
{{ config(materialized='view') }}

with

units as (

    select * from {{ ref('int_records_matched') }}

),

matches as (

    select
        run_id,
        spec,
        window_start,
        window_end,
        pair,
        unit_id as match_id,
        rule as match_rule,
        outcome,
        is_break,
        is_group,
        match_key,
        left_source,
        right_source,
        left_record_keys,
        right_record_keys,
        left_record_count,
        right_record_count,
        left_amount,
        right_amount,
        left_currency,
        right_currency,
        amount_difference,
        left_occurred_at,
        right_occurred_at,
        time_difference_seconds,
        left_status,
        right_status,
        different_fields,
        carried_from_run_id,
        matched_at

    from units
    where rule is not null

)

select * from matches

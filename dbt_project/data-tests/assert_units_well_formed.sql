-- Units of the current run that break the engine's invariants; one pass over
-- the run's units, for every check.

select
    unit_id,
    pair,
    outcome,
    case
        when spec is null or pair is null or unit_id is null then 'a key column is null'
        when outcome is null or outcome not in (
            'matched', 'matched_within_tolerance', 'amount_mismatch', 'currency_mismatch',
            'status_mismatch', 'attribute_mismatch', 'late', 'missing', 'pending', 'duplicate',
            'near_duplicate', 'group_mismatch', 'balance_mismatch', 'stuck', 'unreadable'
        ) then 'unknown outcome'
        when is_break is null
            or is_break <> (outcome not in ('matched', 'matched_within_tolerance', 'pending'))
            then 'is_break disagrees with the outcome'
        when pair_kind not in ('records', 'balances') then 'unknown pair_kind'
        when outcome in ('missing', 'unreadable') and missing_in is null then 'missing_in is null'
        when outcome = 'pending' and missing_in is null and (left_record_count = 0 or right_record_count = 0)
            then 'missing_in is null'
    end as problem

from {{ ref('int_records_matched') }}
where run_id = {{ sql_string_literal(var('run_id')) }}
    and (
        spec is null or pair is null or unit_id is null or outcome is null
        or outcome not in (
            'matched', 'matched_within_tolerance', 'amount_mismatch', 'currency_mismatch',
            'status_mismatch', 'attribute_mismatch', 'late', 'missing', 'pending', 'duplicate',
            'near_duplicate', 'group_mismatch', 'balance_mismatch', 'stuck', 'unreadable'
        )
        or is_break is null
        or is_break <> (outcome not in ('matched', 'matched_within_tolerance', 'pending'))
        or pair_kind is null or pair_kind not in ('records', 'balances')
        or (outcome in ('missing', 'unreadable') and missing_in is null)
        or (outcome = 'pending' and missing_in is null and (left_record_count = 0 or right_record_count = 0))
    )

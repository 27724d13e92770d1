{#-
    The select list of a matched unit in int_records_matched: both sides'
    values and the comparison of every compared field. The same for key and
    fallback matches; `left_units`, `right_units` and `settings` must be in
    scope, `rule` is a SQL expression naming the rule.
-#}
{% macro recon_matched_columns(rule) %}
    select
        settings.pair,
        {{ rule }} as rule,
        settings.pair_kind,
        left_units.is_group or right_units.is_group as is_group,
        left_units.unit_key as left_unit,
        right_units.unit_key as right_unit,
        1 as key_occurrence,
        left_units.match_key as match_key,
        left_units.record_count as left_record_count,
        right_units.record_count as right_record_count,
        left_units.record_keys as left_record_keys,
        right_units.record_keys as right_record_keys,
        left_units.amount as left_amount,
        right_units.amount as right_amount,
        left_units.currency as left_currency,
        right_units.currency as right_currency,
        left_units.occurred_at as left_occurred_at,
        right_units.occurred_at as right_occurred_at,
        left_units.record_status as left_status,
        right_units.record_status as right_status,
        left_units.normalized_status as left_normalized_status,
        right_units.normalized_status as right_normalized_status,
        coalesce(left_units.customer_email, right_units.customer_email) as customer_email,
        coalesce(left_units.reference, right_units.reference) as reference,
        left_units.is_stuck or right_units.is_stuck as is_stuck,
        coalesce(left_units.carried_from_run_id, right_units.carried_from_run_id) as carried_from_run_id,
        left_units.carried_from_run_id is not null as is_left_carried,
        right_units.carried_from_run_id is not null as is_right_carried,
        coalesce(left_units.carried_outcome, right_units.carried_outcome) as carried_outcome,
        left_units.carried_gross_amount as left_carried_gross_amount,
        right_units.carried_gross_amount as right_carried_gross_amount,
        left_units.amount - right_units.amount as amount_difference,
        extract(epoch from left_units.occurred_at - right_units.occurred_at) as time_difference_seconds,
        left_units.currency <> right_units.currency as is_currency_different,
        abs(left_units.amount - right_units.amount) <= greatest(
            settings.amount_tolerance,
            settings.amount_tolerance_percent / 100 * greatest(abs(left_units.amount), abs(right_units.amount))
        ) as is_amount_within_tolerance,
        settings.left_status_map is not null
            and left_units.normalized_status is distinct from right_units.normalized_status
            as is_status_different,
        array(
            select attribute
            from unnest(settings.compare_attributes) as compared (attribute)
            where (left_units.attributes ->> attribute) is distinct from (right_units.attributes ->> attribute)
        ) as different_attributes,
        settings.late_after is not null
            and abs(extract(epoch from left_units.occurred_at - right_units.occurred_at))
                > extract(epoch from settings.late_after)
            as is_late,
        {{ recon_held_in_status('left_units', "'left'") }}
            or {{ recon_held_in_status('right_units', "'right'") }}
            as is_held

{%- endmacro %}
